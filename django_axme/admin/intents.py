"""The intent audit: status badges, filters, one timeline, and remote operations."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from django_axme.adapter import get_adapter
from django_axme.admin import operations
from django_axme.admin.badges import intent_status_badge, short_id
from django_axme.admin.base import AuditModelAdmin
from django_axme.admin.filters import NonEmptyValuesFilter, OpenClosedFilter
from django_axme.admin.forms import CancelForm, ControlsForm, ResumeForm
from django_axme.admin.timeline import build_timeline
from django_axme.models import Approval, Intent, IntentStatus

CANCEL_PERMISSION = "cancel_intent"
CONTROLS_PERMISSION = "change_intent_controls"
RETRY_PERMISSION = "retry_intent"


def _json_block(summary: str, data: Any) -> str:
    return format_html(
        '<details><summary>{}</summary><pre class="axme-json">{}</pre></details>',
        summary,
        json.dumps(data, indent=2, sort_keys=True, default=str),
    )


class IntentAdmin(AuditModelAdmin):
    """Intents for audit: read-only, with refresh, observe, cancel, resume and controls."""

    operation_permissions = (CANCEL_PERMISSION, CONTROLS_PERMISSION, RETRY_PERMISSION)
    list_display = (
        "intent_display",
        "label_display",
        "status_badge",
        "to_agent",
        "created_at",
        "last_heard_at",
    )
    list_display_links = ("intent_display", "label_display")
    list_filter = (
        "status",
        OpenClosedFilter,
        "waiting_reason",
        ("intent_type", admin.AllValuesFieldListFilter),
        ("owner_agent", NonEmptyValuesFilter),
        "send_state",
    )
    search_fields = ("^intent_id", "^correlation_id")
    search_help_text = gettext_lazy("Search by intent id or correlation id (prefix).")
    date_hierarchy = "created_at"
    list_per_page = 50
    show_full_result_count = False
    actions = ("refresh_selected", "observe_selected", "retry_selected")
    change_form_template = "admin/django_axme/intent/change_form.html"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "intent_id",
                    "intent_type",
                    "status_badge",
                    "waiting_reason",
                    "correlation_id",
                    "policy_generation",
                    "deadline_at",
                    "last_seq",
                )
            },
        ),
        (
            gettext_lazy("Agents"),
            {"fields": ("from_agent", "to_agent", "owner_agent", "reply_to")},
        ),
        (
            gettext_lazy("Sending and observing"),
            {
                "classes": ("collapse",),
                "fields": (
                    "send_state",
                    "attempt",
                    "retry_of",
                    "idempotency_key",
                    "last_error_json",
                    "last_heard_at",
                    "observer_lease_until",
                    "remote_created_at",
                    "remote_updated_at",
                    "created_at",
                    "updated_at",
                    "created_by",
                ),
            },
        ),
        (
            gettext_lazy("Data"),
            {
                "fields": (
                    "payload_json",
                    "human_task_json",
                    "result_json",
                    "error_json",
                    "controls_json",
                    "raw_json",
                )
            },
        ),
    )
    readonly_fields = (
        "status_badge",
        "last_error_json",
        "payload_json",
        "human_task_json",
        "result_json",
        "error_json",
        "controls_json",
        "raw_json",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Intent]:
        # The change page shows both foreign keys; the changelist shows neither (joins are cheap).
        return super().get_queryset(request).select_related("created_by", "retry_of")

    # -- permissions -------------------------------------------------------------------

    def has_cancel_intent_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._has_model_perm(request, CANCEL_PERMISSION)

    def has_change_intent_controls_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._has_model_perm(request, CONTROLS_PERMISSION)

    def has_retry_intent_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._has_model_perm(request, RETRY_PERMISSION)

    # -- columns and fields -------------------------------------------------------------

    @admin.display(description=gettext_lazy("intent"), ordering="intent_id")
    def intent_display(self, obj: Intent) -> str:
        """The first 8 characters of the id; the full id on hover (and in search by prefix)."""
        if not obj.intent_id:
            return _("(outbox #%(pk)s)") % {"pk": obj.pk}
        return short_id(obj.intent_id)

    @admin.display(description=gettext_lazy("what"), ordering="intent_type")
    def label_display(self, obj: Intent) -> str:
        """The intent type and the adapter's one-line summary of the payload."""
        summary = get_adapter().intent_summary(obj)
        return format_html(
            "<code>{}</code>{}",
            obj.intent_type,
            format_html('<span class="axme-list-summary">{}</span>', summary) if summary else "",
        )

    @admin.display(description=gettext_lazy("status"), ordering="status")
    def status_badge(self, obj: Intent) -> str:
        if obj.waiting_reason:
            reason = obj.get_waiting_reason_display()
            return format_html(
                '{}<span class="axme-list-summary">{}</span>',
                intent_status_badge(obj.status),
                reason,
            )
        return intent_status_badge(obj.status)

    @admin.display(description=gettext_lazy("last error"))
    def last_error_json(self, obj: Intent) -> str:
        return _json_block(_("Show"), obj.last_error) if obj.last_error else "—"

    @admin.display(description=gettext_lazy("payload"))
    def payload_json(self, obj: Intent) -> str:
        return _json_block(_("Show the payload"), obj.payload)

    @admin.display(description=gettext_lazy("human task"))
    def human_task_json(self, obj: Intent) -> str:
        return _json_block(_("Show the human task"), obj.human_task) if obj.human_task else "—"

    @admin.display(description=gettext_lazy("result"))
    def result_json(self, obj: Intent) -> str:
        return _json_block(_("Show the result"), obj.result) if obj.result else "—"

    @admin.display(description=gettext_lazy("error"))
    def error_json(self, obj: Intent) -> str:
        return _json_block(_("Show the error"), obj.error) if obj.error else "—"

    @admin.display(description=gettext_lazy("controls and policy"))
    def controls_json(self, obj: Intent) -> str:
        return _json_block(_("Show the controls"), obj.controls) if obj.controls else "—"

    @admin.display(description=gettext_lazy("raw remote JSON"))
    def raw_json(self, obj: Intent) -> str:
        return _json_block(_("Show the intent as AXME sent it"), obj.raw)

    # -- pages -------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        views = {
            "refresh": self.refresh_view,
            "observe": self.observe_view,
            "cancel": self.cancel_view,
            "resume": self.resume_view,
            "controls": self.controls_view,
            "retry": self.retry_view,
        }
        return [
            *(
                path(
                    f"<path:object_id>/{name}/",
                    self.wrap_view(view),
                    name=f"{prefix}_{name}",
                )
                for name, view in views.items()
            ),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = dict(extra_context or {})
        obj = self.get_object(request, object_id)
        if obj is not None:
            context.update(
                timeline=build_timeline(obj, request.GET.get("timeline_page")),
                current_status_badge=intent_status_badge(obj.status),
                approvals=list(Approval.objects.filter(intent=obj).order_by("created_at", "id")),
                attempts=list(Intent.objects.filter(retry_of=obj).order_by("attempt", "id")),
                **self._operation_flags(request, obj),
            )
        return super().change_view(request, object_id, form_url, extra_context=context)

    def _operation_flags(self, request: HttpRequest, obj: Intent) -> dict[str, bool]:
        sent = bool(obj.intent_id)
        is_open = sent and not obj.is_terminal
        return {
            "can_refresh": sent and self.has_view_permission(request, obj),
            "can_observe": is_open and self.has_view_permission(request, obj),
            "can_cancel": is_open and self.has_cancel_intent_permission(request, obj),
            "can_resume": (
                is_open
                and obj.status == IntentStatus.WAITING
                and self.has_change_intent_controls_permission(request, obj)
            ),
            "can_change_controls": is_open
            and self.has_change_intent_controls_permission(request, obj),
            "can_retry": sent
            and obj.status in (IntentStatus.FAILED, IntentStatus.TIMED_OUT)
            and self.has_retry_intent_permission(request, obj),
        }

    def _form_page(
        self,
        request: HttpRequest,
        obj: Intent,
        form: forms.Form,
        *,
        title: str,
        submit_label: str,
        intro: str = "",
        danger: bool = False,
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": str(obj),
            "opts": self.opts,
            "original": obj,
            "form": form,
            "submit_label": submit_label,
            "intro": intro,
            "danger": danger,
            "change_url": self.change_url(obj),
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/django_axme/intent/operation_form.html", context)

    def _remote_intent(self, request: HttpRequest, object_id: str) -> Intent:
        from django.http import Http404

        intent = self.get_object_or_404(request, object_id)
        if not intent.intent_id:
            raise Http404(_("This intent has not been sent to AXME yet."))
        return intent

    def refresh_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST only: get_intent + list_intent_events from AXME, into the mirror."""
        intent = self.get_object_or_404(request, object_id)
        self.require(request, self.has_view_permission(request, intent), post_only=True)
        self.report(request, operations.refresh_intent(intent))
        return self.redirect_to(intent)

    def observe_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST only: queue the Celery observer for this intent."""
        intent = self.get_object_or_404(request, object_id)
        self.require(request, self.has_view_permission(request, intent), post_only=True)
        self.report(request, operations.start_observing([intent]))
        return self.redirect_to(intent)

    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST only: create the next attempt of this failed or timed-out intent and send it."""
        intent = self._remote_intent(request, object_id)
        self.require(request, self.has_retry_intent_permission(request, intent), post_only=True)
        result = operations.retry_intents([intent])
        self.report(request, result, intent)
        return self.redirect_to(intent)

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET: the cancel form (a reason is required); POST: cancel on AXME."""
        return self._reason_form_view(
            request,
            object_id,
            permission=self.has_cancel_intent_permission,
            form_class=CancelForm,
            operation=operations.cancel_intent,
            title=_("Cancel intent"),
            submit_label=_("Cancel the intent"),
            intro=_("AXME moves the intent to CANCELED. This cannot be undone."),
            danger=True,
        )

    def resume_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET: confirm; POST: resume the waiting intent on AXME."""
        return self._reason_form_view(
            request,
            object_id,
            permission=self.has_change_intent_controls_permission,
            form_class=ResumeForm,
            operation=operations.resume_intent,
            title=_("Resume intent"),
            submit_label=_("Resume"),
            intro=_("Releases the current wait and approves the current step."),
        )

    def _reason_form_view(
        self,
        request: HttpRequest,
        object_id: str,
        *,
        permission: Callable[[HttpRequest, Intent], bool],
        form_class: type[forms.Form],
        operation: Callable[..., Any],
        **page: Any,
    ) -> HttpResponse:
        """One remote operation that takes a reason: permission-checked on GET and POST; only a
        valid POST calls AXME (``operation(intent, reason=..., user=...)``), then redirects."""
        intent = self._remote_intent(request, object_id)
        self.require(request, permission(request, intent))
        form = form_class(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            result = operation(intent, reason=form.cleaned_data["reason"], user=request.user)
            self.report(request, result, intent)
            return self.redirect_to(intent)
        return self._form_page(request, intent, form, **page)

    def controls_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET: the controls form; POST: apply it with compare-and-set on the policy generation.

        A stale generation re-reads the intent and shows the form again with the current
        values and an explanation, instead of failing.
        """
        intent = self._remote_intent(request, object_id)
        self.require(request, self.has_change_intent_controls_permission(request, intent))
        initial = ControlsForm.initial_for(intent)
        if request.method == "POST":
            form = ControlsForm(request.POST, initial=initial)
            if form.is_valid():
                controls_patch, envelope_patch = form.patches()
                result = operations.update_controls(
                    intent,
                    controls_patch=controls_patch,
                    envelope_patch=envelope_patch,
                    expected_generation=form.cleaned_data.get("expected_policy_generation"),
                    reason=form.cleaned_data.get("reason") or "",
                    user=request.user,
                )
                self.report(request, result, intent)
                if result.ok or not result.data.get("stale"):
                    return self.redirect_to(intent)
                intent.refresh_from_db()
                form = ControlsForm(initial=ControlsForm.initial_for(intent))
        else:
            form = ControlsForm(initial=initial)
        return self._form_page(
            request,
            intent,
            form,
            title=_("Update intent controls"),
            submit_label=_("Update controls"),
            intro=_(
                "Changes apply only if nobody else changed the controls since this form was "
                "opened (policy generation %(generation)s)."
            )
            % {
                "generation": intent.policy_generation
                if intent.policy_generation is not None
                else "?"
            },
        )

    # -- actions -----------------------------------------------------------------------

    @admin.action(
        description=gettext_lazy("Refresh selected intents from AXME"), permissions=["view"]
    )
    def refresh_selected(self, request: HttpRequest, queryset: QuerySet[Intent]) -> None:
        self.report(request, operations.refresh_intents(queryset[:100]))

    @admin.action(
        description=gettext_lazy("Retry selected failed or timed-out intents"),
        permissions=[RETRY_PERMISSION],
    )
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[Intent]) -> None:
        self.report(request, operations.retry_intents(queryset[:100]))

    @admin.action(
        description=gettext_lazy("Start observing selected intents"), permissions=["view"]
    )
    def observe_selected(self, request: HttpRequest, queryset: QuerySet[Intent]) -> None:
        self.report(request, operations.start_observing(queryset[:1000]))
