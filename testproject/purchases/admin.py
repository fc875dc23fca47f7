"""Admin of the example app: create a purchase request (which sends its intent) and follow it.

Adding a request submits it (its intent goes out after the admin's transaction commits).
A submitted request is read-only here: only the receivers move it, and its page shows the
transcript of every signal they received.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from purchases import services
from purchases.adapter import money
from purchases.conf import purchases_setting
from purchases.models import PurchaseRequest, PurchaseStatus

STATUS_COLOURS: dict[str, str] = {
    PurchaseStatus.DRAFT: "#6b7280",
    PurchaseStatus.SUBMITTED: "#2f6fb0",
    PurchaseStatus.PENDING_APPROVAL: "#a16207",
    PurchaseStatus.APPROVED: "#2f8f5b",
    PurchaseStatus.FULFILLED: "#1e7a3c",
    PurchaseStatus.REJECTED: "#b03030",
    PurchaseStatus.FAILED: "#b03030",
}

ADD_FIELDS: list[Any] = ["item", "amount", "requester", "note"]
VIEW_FIELDS: list[Any] = [
    "item",
    "amount",
    "requester",
    "note",
    "status_badge",
    "needs_approval",
    "intent_link",
    "fulfilment",
    "created_at",
    "updated_at",
    "transcript",
]


@admin.register(PurchaseRequest)
class PurchaseRequestAdmin(admin.ModelAdmin):
    class Media:
        # The AXME admin's stylesheet: badges, wrapping columns, filters above the list
        # on narrower screens.
        css = {"all": ("django_axme/admin.css",)}

    list_display = [
        "id",
        "item",
        "amount_display",
        "requester",
        "status_badge",
        "needs_approval",
        "intent_short",
        "updated_at",
    ]
    list_display_links = ["id", "item"]
    list_filter = ["status", "needs_approval"]
    search_fields = ["item", "requester", "intent__intent_id"]
    list_select_related = ["intent"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return ADD_FIELDS if obj is None else VIEW_FIELDS

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return [] if obj is None else VIEW_FIELDS

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Submitted requests are view-only: their status belongs to the receivers.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and (obj is None or obj.is_final)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("requester", request.user.get_username())
        return initial

    def save_model(
        self, request: HttpRequest, obj: PurchaseRequest, form: Any, change: bool
    ) -> None:
        # Only reached when adding. The admin wraps this view in a transaction: the intent
        # goes out after it commits.
        services.submit(obj, user=request.user)

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj: PurchaseRequest) -> str:
        return format_html(
            '<span style="display:inline-block;white-space:nowrap;color:#fff;background:{};'
            'padding:2px 8px;border-radius:8px;line-height:1.4">{}</span>',
            STATUS_COLOURS.get(obj.status, "#6b7280"),
            obj.get_status_display(),
        )

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: PurchaseRequest) -> str:
        return format_html(
            '<span style="white-space:nowrap">{}</span>',
            money(obj.amount, purchases_setting("CURRENCY")),
        )

    @admin.display(description=_("AXME intent"))
    def intent_link(self, obj: PurchaseRequest) -> str:
        return self._intent_link(obj, short=False)

    @admin.display(description=_("AXME intent"))
    def intent_short(self, obj: PurchaseRequest) -> str:
        return self._intent_link(obj, short=True)

    def _intent_link(self, obj: PurchaseRequest, *, short: bool) -> str:
        if obj.intent is None:
            return "-"
        remote_id = obj.intent.intent_id
        label = (remote_id[:8] + "…" if short else remote_id) if remote_id else _("(in the outbox)")
        try:
            url = reverse("admin:django_axme_intent_change", args=[obj.intent.pk])
        except NoReverseMatch:
            return str(label)
        return format_html(
            '<a href="{}" title="{}" style="white-space:nowrap">{}</a> [{}]',
            url,
            remote_id or "",
            label,
            obj.intent.status,
        )

    @admin.display(description=_("fulfilment (this project as the AXME agent)"))
    def fulfilment(self, obj: PurchaseRequest) -> str:
        order = getattr(obj, "order", None)
        intent = obj.fulfilment_intent
        if intent is None:
            return "-"
        state = f"{intent.intent_id or _('(in the outbox)')} [{intent.status}]"
        return f"{state}; order {order.reference}" if order is not None else state

    @admin.display(description=_("signals received (transcript)"))
    def transcript(self, obj: PurchaseRequest) -> str:
        events = list(obj.events.order_by("created_at", "id"))
        if not events:
            return str(_("No signal received yet."))
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{e.created_at:%H:%M:%S}",
                    e.signal,
                    e.intent_status,
                    f"{e.from_status} → {e.to_status}" if e.changed_status else e.to_status,
                    e.message,
                )
                for e in events
            ),
        )
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            _("time"),
            _("signal"),
            _("intent status"),
            _("request status"),
            _("message"),
            rows,
        )
