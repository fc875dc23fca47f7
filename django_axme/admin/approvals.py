"""The approval queue: pending approvals first, decisions through the one writer."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import select_template
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from django_axme.adapter import get_adapter
from django_axme.admin import decisions, operations
from django_axme.admin.badges import (
    approval_status_badge,
    decision_state_badge,
    event_kind_badge,
)
from django_axme.admin.base import AuditModelAdmin
from django_axme.admin.filters import (
    AgeFilter,
    ApprovalStatusFilter,
    AssignedToMeFilter,
    NonEmptyValuesFilter,
    assigned_to,
)
from django_axme.admin.forms import BulkDecisionForm, DecisionForm, DelegateForm, ReplyForm
from django_axme.admin.request import describe, human_task_of, template_names, thread_timeline
from django_axme.models import (
    Approval,
    ApprovalDecision,
    ApprovalStatus,
    DecisionChoice,
    IntentEvent,
)
from django_axme.signals import NOTABLE_EVENT_TYPES

DECIDE_PERMISSION = "decide_approval"
REPLY_PERMISSION = "reply_approval"
DELEGATE_PERMISSION = "delegate_approval"

_LEVELS = {
    decisions.Outcome.SENT: messages.SUCCESS,
    decisions.Outcome.ALREADY_DECIDED: messages.WARNING,
    decisions.Outcome.NOT_PENDING: messages.WARNING,
    decisions.Outcome.SUPERSEDED: messages.WARNING,
    decisions.Outcome.FAILED: messages.ERROR,
    decisions.Outcome.INVALID: messages.ERROR,
}


class ApprovalAdmin(AuditModelAdmin):
    """Approvals (inbox threads waiting for a human), read-only except for decisions."""

    operation_permissions = (DECIDE_PERMISSION, REPLY_PERMISSION, DELEGATE_PERMISSION)
    list_display = (
        "title_display",
        "status_badge",
        "intent_type",
        "requested_at",
        "owner_agent",
    )
    list_display_links = ("title_display",)
    list_filter = (
        ApprovalStatusFilter,
        AssignedToMeFilter,
        ("owner_agent", NonEmptyValuesFilter),
        ("intent__intent_type", admin.AllValuesFieldListFilter),
        AgeFilter,
    )
    search_fields = ("^thread_id", "^remote_intent_id", "^intent__intent_id", "title")
    search_help_text = gettext_lazy("Search by thread id, intent id (prefix) or title.")
    list_select_related = ("intent",)
    list_per_page = 50
    show_full_result_count = False
    actions = ("approve_selected", "reject_selected")
    change_list_template = "admin/django_axme/approval/change_list.html"
    change_form_template = "admin/django_axme/approval/change_form.html"
    # What the task asks (title, instructions, outcomes, comment rule) is in the request
    # panel above the form (django_axme/approval/request.html), not repeated here.
    fieldsets = (
        (None, {"fields": ("status_badge", "intent_link")}),
        (
            gettext_lazy("Inbox thread"),
            {
                "classes": ("collapse",),
                "fields": (
                    "thread_id",
                    "thread_status",
                    "owner_agent",
                    "from_agent",
                    "to_agent",
                    "remote_created_at",
                    "remote_updated_at",
                    "decided_at",
                    "created_at",
                    "updated_at",
                ),
            },
        ),
        (gettext_lazy("Raw data"), {"fields": ("raw_json",)}),
    )
    readonly_fields = ("status_badge", "intent_link", "raw_json")

    # -- queryset and permissions ------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[Approval]:
        # The request panel names the Django user who sent the intent: one join, no query.
        return super().get_queryset(request).select_related("intent", "intent__created_by")

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        """Pending first (oldest first: they have waited longest), then sent, then the rest."""
        rank = Case(
            When(status=ApprovalStatus.PENDING, then=Value(0)),
            When(status=ApprovalStatus.SENT, then=Value(1)),
            default=Value(2),
            output_field=IntegerField(),
        )
        return [rank.asc(), "created_at"]

    def has_decide_approval_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._has_model_perm(request, DECIDE_PERMISSION)

    def has_reply_approval_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._has_model_perm(request, REPLY_PERMISSION)

    def has_delegate_approval_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._has_model_perm(request, DELEGATE_PERMISSION)

    # -- columns -----------------------------------------------------------------------

    @admin.display(description=gettext_lazy("approval"), ordering="title")
    def title_display(self, obj: Approval) -> str:
        """The title, then the one-line summary of the request and what the task asks."""
        summary = get_adapter().approval_summary(obj)
        flags = []
        if obj.allowed_outcomes:
            flags.append(_("choose an outcome"))
        if obj.comment_required:
            flags.append(_("comment required"))
        return format_html(
            '<span class="axme-list-title">{}</span>{}{}',
            obj.title or _("Approval required"),
            format_html('<span class="axme-list-summary">{}</span>', summary) if summary else "",
            format_html('<span class="axme-list-flags">{}</span>', ", ".join(flags))
            if flags
            else "",
        )

    @admin.display(description=gettext_lazy("status"), ordering="status")
    def status_badge(self, obj: Approval) -> str:
        return approval_status_badge(obj.status)

    @admin.display(description=gettext_lazy("intent type"), ordering="intent__intent_type")
    def intent_type(self, obj: Approval) -> str:
        return format_html("<code>{}</code>", obj.intent.intent_type) if obj.intent else "—"

    @admin.display(description=gettext_lazy("requested"), ordering="created_at")
    def requested_at(self, obj: Approval) -> Any:
        return obj.remote_created_at or obj.created_at

    @admin.display(description=gettext_lazy("intent"))
    def intent_link(self, obj: Approval) -> str:
        if obj.intent is None:
            return obj.remote_intent_id or "—"
        url = reverse(f"{self.admin_site.name}:django_axme_intent_change", args=[obj.intent.pk])
        return format_html('<a href="{}">{}</a>', url, obj.intent)

    @admin.display(description=gettext_lazy("raw remote JSON"))
    def raw_json(self, obj: Approval) -> str:
        import json

        return format_html(
            '<details><summary>{}</summary><pre class="axme-json">{}</pre></details>',
            _("Show the thread as AXME sent it"),
            json.dumps(obj.raw, indent=2, sort_keys=True, default=str),
        )

    # -- pages -------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "<path:object_id>/decide/",
                self.wrap_view(self.decide_view),
                name=f"{prefix}_decide",
            ),
            path(
                "<path:object_id>/reply/",
                self.wrap_view(self.reply_view),
                name=f"{prefix}_reply",
            ),
            path(
                "<path:object_id>/delegate/",
                self.wrap_view(self.delegate_view),
                name=f"{prefix}_delegate",
            ),
            path(
                "<path:object_id>/refresh/",
                self.wrap_view(self.refresh_view),
                name=f"{prefix}_refresh",
            ),
            path(
                "refresh-inbox/",
                self.wrap_view(self.refresh_inbox_view),
                name=f"{prefix}_refresh_inbox",
            ),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        pending = Q(status=ApprovalStatus.PENDING)
        mine = assigned_to(request.user)
        extra = {"mine": Count("pk", filter=pending & mine)} if mine is not None else {}
        counts = {"mine": 0} | Approval.objects.aggregate(
            pending=Count("pk", filter=pending),
            sent=Count("pk", filter=Q(status=ApprovalStatus.SENT)),
            **extra,
        )
        context = {
            "axme_counts": counts,
            "can_refresh": self.has_view_permission(request),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)

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
            history = list(
                ApprovalDecision.objects.filter(approval=obj)
                .select_related("user")
                .order_by("-created_at", "-id")
            )
            live = next((d for d in history if d.state not in ("failed", "superseded")), None)
            can_decide = self.has_decide_approval_permission(request, obj)
            context.setdefault("decision_form", DecisionForm(approval=obj))
            context.setdefault("reply_form", ReplyForm())
            context.setdefault("delegate_form", DelegateForm())
            request_info = describe(obj)
            notices = (
                list(
                    IntentEvent.objects.filter(
                        intent=obj.intent, event_type__in=NOTABLE_EVENT_TYPES
                    ).order_by("-seq")[:20]
                )
                if obj.intent is not None
                else []
            )
            context.update(
                request_info=request_info,
                notices=[(n, event_kind_badge(n.event_type)) for n in notices],
                request_template=select_template(template_names(request_info.intent_type)),
                payload=obj.intent.payload if obj.intent is not None else {},
                decision_history=history,
                live_decision=live,
                live_decision_badge=decision_state_badge(live.state) if live else "",
                can_decide=can_decide,
                can_reply=obj.is_open and self.has_reply_approval_permission(request, obj),
                can_delegate=obj.is_open and self.has_delegate_approval_permission(request, obj),
                thread_timeline=thread_timeline(obj),
                decidable=obj.status == ApprovalStatus.PENDING and live is None,
                last_failure=history[0] if history and history[0].state == "failed" else None,
                can_refresh=self.has_view_permission(request, obj),
            )
        return super().change_view(request, object_id, form_url, extra_context=context)

    def decide_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST only: record and send one decision (approve/reject, an outcome, or the task's
        form as its result), then redirect back."""
        approval = self.get_object_or_404(request, object_id)
        self.require(
            request, self.has_decide_approval_permission(request, approval), post_only=True
        )
        form = DecisionForm(request.POST, approval=approval)
        if not form.is_valid():
            return self.render_change_page(request, object_id, {"decision_form": form})
        result = decisions.decide(
            approval,
            user=request.user,
            decision=form.cleaned_data["decision"],
            note=form.cleaned_data["note"],
            outcome=form.cleaned_data.get("outcome") or "",
            task_result=form.task_result(),
        )
        messages.add_message(request, _LEVELS[result.outcome], result.message)
        if result.decision is not None:
            self.log_change(request, approval, result.message[:1000])
        return self.redirect_to(approval)

    def reply_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST only: post a message on the thread (reply, ask for clarification)."""
        approval = self.get_object_or_404(request, object_id)
        allowed = approval.is_open and self.has_reply_approval_permission(request, approval)
        self.require(request, allowed, post_only=True)
        form = ReplyForm(request.POST)
        if not form.is_valid():
            return self.render_change_page(request, object_id, {"reply_form": form})
        result = operations.reply_to_approval(
            approval, message=form.cleaned_data["message"], user=request.user
        )
        self.report(request, result, approval)
        return self.redirect_to(approval)

    def delegate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST only: hand the thread to another owner."""
        approval = self.get_object_or_404(request, object_id)
        allowed = approval.is_open and self.has_delegate_approval_permission(request, approval)
        self.require(request, allowed, post_only=True)
        form = DelegateForm(request.POST)
        if not form.is_valid():
            return self.render_change_page(request, object_id, {"delegate_form": form})
        result = operations.delegate_approval(
            approval,
            delegate_to=form.cleaned_data["delegate_to"],
            note=form.cleaned_data["note"],
            user=request.user,
        )
        self.report(request, result, approval)
        return self.redirect_to(approval)

    def refresh_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST only: re-read this thread (and its intent) from AXME."""
        approval = self.get_object_or_404(request, object_id)
        self.require(request, self.has_view_permission(request, approval), post_only=True)
        self.report(request, operations.refresh_approval(approval))
        return self.redirect_to(approval)

    def refresh_inbox_view(self, request: HttpRequest) -> HttpResponse:
        """POST only: read the configured inboxes into the approval mirror."""
        self.require(request, self.has_view_permission(request), post_only=True)
        self.report(request, operations.refresh_inbox())
        return HttpResponseRedirect(
            reverse(f"{self.admin_site.name}:django_axme_approval_changelist")
        )

    # -- bulk actions ------------------------------------------------------------------

    @admin.action(
        description=gettext_lazy("Approve selected approvals…"),
        permissions=[DECIDE_PERMISSION],
    )
    def approve_selected(
        self, request: HttpRequest, queryset: QuerySet[Approval]
    ) -> HttpResponse | None:
        return self._bulk_decide(request, queryset, DecisionChoice.APPROVE)

    @admin.action(
        description=gettext_lazy("Reject selected approvals…"),
        permissions=[DECIDE_PERMISSION],
    )
    def reject_selected(
        self, request: HttpRequest, queryset: QuerySet[Approval]
    ) -> HttpResponse | None:
        return self._bulk_decide(request, queryset, DecisionChoice.REJECT)

    def _bulk_decide(
        self, request: HttpRequest, queryset: QuerySet[Approval], decision: str
    ) -> HttpResponse | None:
        """Show what will be decided; on the confirming POST decide each row (one writer).

        Rows that are not pending, or whose task asks for an outcome choice, a form or
        evidence (decide those one by one), are listed as skipped and never sent.
        """
        approvals = list(queryset.select_related("intent").order_by("created_at", "id"))
        reasons = {a.pk: _skip_reason(a) for a in approvals}
        to_decide = [a for a in approvals if not reasons[a.pk]]
        skipped = [(a, reasons[a.pk]) for a in approvals if reasons[a.pk]]
        note_required = any(a.comment_required for a in to_decide)
        if request.POST.get("post") == "yes":
            form = BulkDecisionForm(request.POST, note_required=note_required)
            if form.is_valid():
                self._run_bulk(request, to_decide, decision, form.cleaned_data["note"])
                return None
        else:
            form = BulkDecisionForm(note_required=note_required)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Approve these approvals?")
            if decision == DecisionChoice.APPROVE
            else _("Reject these approvals?"),
            "opts": self.opts,
            "decision": decision,
            "decision_label": DecisionChoice(decision).label,
            "action": request.POST.get("action"),
            "to_decide": to_decide,
            "skipped": skipped,
            "form": form,
            "selected": [a.pk for a in approvals],
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        return TemplateResponse(request, "admin/django_axme/approval/bulk_confirm.html", context)

    def _run_bulk(
        self, request: HttpRequest, approvals: list[Approval], decision: str, note: str
    ) -> None:
        outcomes: Counter[decisions.Outcome] = Counter()
        for approval in approvals:
            result = decisions.decide(approval, user=request.user, decision=decision, note=note)
            outcomes[result.outcome] += 1
            if result.decision is not None:
                self.log_change(request, approval, result.message[:1000])
            if not result.ok:
                messages.add_message(request, _LEVELS[result.outcome], result.message)
        sent = outcomes[decisions.Outcome.SENT]
        if sent:
            messages.success(
                request,
                ngettext(
                    "%(count)d decision sent to AXME.",
                    "%(count)d decisions sent to AXME.",
                    sent,
                )
                % {"count": sent},
            )
        elif not approvals:
            messages.warning(request, _("Nothing to decide among the selected approvals."))


def _skip_reason(approval: Approval) -> str:
    """Why a bulk decision leaves ``approval`` out ("" when it can be decided in bulk)."""
    if approval.status != ApprovalStatus.PENDING:
        return _("not pending (%(status)s)") % {"status": approval.get_status_display()}
    if approval.allowed_outcomes:
        return _("asks for an outcome: decide it on its own page")
    task = human_task_of(approval)
    if task.get("form_schema") or task.get("evidence_required"):
        return _("asks for a form: answer it on its own page")
    return ""
