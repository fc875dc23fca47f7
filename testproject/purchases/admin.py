"""Admin of the example app: create a purchase request (which sends its intent) and follow it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from purchases import services
from purchases.models import PurchaseEvent, PurchaseRequest, PurchaseStatus

STATUS_COLOURS = {
    PurchaseStatus.DRAFT: "#777",
    PurchaseStatus.SUBMITTED: "#2f6fb0",
    PurchaseStatus.PENDING_APPROVAL: "#b07d00",
    PurchaseStatus.APPROVED: "#2f8f5b",
    PurchaseStatus.FULFILLED: "#1e7a3c",
    PurchaseStatus.REJECTED: "#b03030",
    PurchaseStatus.FAILED: "#b03030",
}


class PurchaseEventInline(admin.TabularInline):
    model = PurchaseEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "signal", "intent_status", "from_status", "to_status", "message"]
    readonly_fields = fields
    verbose_name_plural = _("what the app received (signal transcript)")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PurchaseRequest)
class PurchaseRequestAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "item",
        "amount",
        "requester",
        "status_badge",
        "needs_approval",
        "intent_link",
        "updated_at",
    ]
    list_filter = ["status", "needs_approval"]
    search_fields = ["item", "requester", "intent__intent_id"]
    list_select_related = ["intent"]

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        # The transcript exists only once the request has been submitted.
        return [] if obj is None else [PurchaseEventInline]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["item", "amount", "requester", "note"]
        return [
            "item",
            "amount",
            "requester",
            "note",
            "status",
            "needs_approval",
            "intent_link",
            "created_at",
            "updated_at",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        # Only the receivers change a submitted request.
        return self.get_fields(request, obj)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("requester", request.user.get_username())
        return initial

    def save_model(
        self, request: HttpRequest, obj: PurchaseRequest, form: Any, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # The admin wraps this view in a transaction: the intent goes out after it commits.
        services.submit(obj, user=request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None or obj.is_final

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj: PurchaseRequest) -> str:
        return format_html(
            '<span style="color:#fff;background:{};padding:2px 8px;border-radius:8px">{}</span>',
            STATUS_COLOURS.get(obj.status, "#777"),
            obj.get_status_display(),
        )

    @admin.display(description=_("AXME intent"))
    def intent_link(self, obj: PurchaseRequest) -> str:
        if obj.intent is None:
            return "-"
        label = obj.intent.intent_id or _("(in the outbox)")
        try:
            url = reverse("admin:django_axme_intent_change", args=[obj.intent.pk])
        except NoReverseMatch:
            return str(label)
        return format_html('<a href="{}">{}</a> [{}]', url, label, obj.intent.status)
