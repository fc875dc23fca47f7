"""The agent side in the admin (issue 17): inbound intents' jobs with their handler runs.

Each :class:`~django_axme.models.AgentJob` shows its intent (linked to the intent page, whose
timeline is the same as for outbound intents), its state, attempts, the result or error sent
and the resolve answer, with every :class:`~django_axme.models.HandlerRun` (attempt, outcome,
duration, error, progress). Actions, behind the ``run_agent_handler_again`` permission: "run
again" for failed jobs, "approve"/"reject" for jobs waiting for a human.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from django_axme.admin.badges import short_id
from django_axme.admin.base import AuditModelAdmin
from django_axme.admin.filters import NonEmptyValuesFilter
from django_axme.models import AgentJob, AgentJobState, HandlerRun

RUN_AGAIN_PERMISSION = "run_agent_handler_again"

__all__ = ["RUN_AGAIN_PERMISSION", "AgentJobAdmin", "HandlerRunInline"]


def _json(data: Any) -> str:
    if data is None:
        return "-"
    return format_html(
        '<pre class="axme-json">{}</pre>', json.dumps(data, indent=2, sort_keys=True, default=str)
    )


class HandlerRunInline(admin.TabularInline):
    model = HandlerRun
    extra = 0
    can_delete = False
    fields = ("attempt", "outcome", "started_at", "duration_ms", "worker", "error", "progress")
    readonly_fields = fields
    ordering = ("attempt",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Runs are part of their job: whoever may see the job sees its runs."""
        user = request.user
        return user.has_perm("django_axme.view_agentjob") or user.has_perm(
            f"django_axme.{RUN_AGAIN_PERMISSION}"
        )


class AgentJobAdmin(AuditModelAdmin):
    """Inbound intents and their handler runs; read-only with permission-guarded actions."""

    operation_permissions = (RUN_AGAIN_PERMISSION,)
    list_display = (
        "intent_link",
        "intent_type",
        "address",
        "state_display",
        "attempts",
        "outcome_status",
        "received_at",
        "latency_ms",
    )
    # The intent column links to the intent; the job's own page opens from its type.
    list_display_links = ("intent_type",)
    list_filter = (
        "state",
        ("outcome_status", NonEmptyValuesFilter),
        ("waiting_reason", NonEmptyValuesFilter),
        ("address", NonEmptyValuesFilter),
    )
    search_fields = ("intent__intent_id", "intent__intent_type", "handler")
    inlines = (HandlerRunInline,)
    actions = ("run_again_selected", "approve_selected", "reject_selected")
    fields = (
        "intent_link",
        "address",
        "handler",
        "state",
        "waiting_reason",
        "wake_at",
        "decision",
        "decision_note",
        "attempts",
        "outcome_status",
        "result_json",
        "error_json",
        "resolve_key",
        "resolve_conflict",
        "resolve_json",
        "received_at",
        "resolved_at",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[AgentJob]:
        return super().get_queryset(request).select_related("intent")

    def has_run_agent_handler_again_permission(self, request: HttpRequest) -> bool:
        return self._has_model_perm(request, RUN_AGAIN_PERMISSION)

    @admin.display(description=gettext_lazy("intent"))
    def intent_link(self, obj: AgentJob) -> str:
        url = reverse("admin:django_axme_intent_change", args=[obj.intent_id])
        return format_html(
            '<a href="{}">{}</a>', url, short_id(obj.intent.intent_id or obj.intent_id)
        )

    @admin.display(description=gettext_lazy("state"), ordering="state")
    def state_display(self, obj: AgentJob) -> str:
        """The job's state, with the waiting reason under it when there is one."""
        if obj.waiting_reason:
            return format_html(
                '{}<span class="axme-list-summary">{}</span>',
                obj.get_state_display(),
                obj.waiting_reason,
            )
        return str(obj.get_state_display())

    @admin.display(description=gettext_lazy("intent type"))
    def intent_type(self, obj: AgentJob) -> str:
        return obj.intent.intent_type

    @admin.display(description=gettext_lazy("receive to resolve (ms)"))
    def latency_ms(self, obj: AgentJob) -> str:
        if obj.resolved_at is None:
            return "-"
        return f"{(obj.resolved_at - obj.received_at).total_seconds() * 1000:.0f}"

    @admin.display(description=gettext_lazy("result sent"))
    def result_json(self, obj: AgentJob) -> str:
        return _json(obj.result)

    @admin.display(description=gettext_lazy("error sent"))
    def error_json(self, obj: AgentJob) -> str:
        return _json(obj.error)

    @admin.display(description=gettext_lazy("resolve answer"))
    def resolve_json(self, obj: AgentJob) -> str:
        return _json(obj.resolve_response)

    @admin.action(
        description=gettext_lazy("Run the handler again (failed jobs)"),
        permissions=[RUN_AGAIN_PERMISSION],
    )
    def run_again_selected(self, request: HttpRequest, queryset: QuerySet[AgentJob]) -> None:
        from django_axme.agent import run_again

        done = sum(1 for job in queryset if run_again(job))
        skipped = queryset.count() - done
        self.message_user(request, _("%(n)d job(s) handed to a worker again.") % {"n": done})
        if skipped:
            self.message_user(
                request,
                _("%(n)d job(s) skipped: only failed jobs run again.") % {"n": skipped},
                messages.WARNING,
            )

    def _decide(self, request: HttpRequest, queryset: QuerySet[AgentJob], word: str) -> None:
        from django_axme.agent import decide

        note = request.user.get_username()
        waiting = queryset.filter(state=AgentJobState.WAITING)
        done = sum(1 for job in waiting if decide(job, word, note))
        self.message_user(request, _("%(n)d waiting job(s) answered.") % {"n": done})

    @admin.action(
        description=gettext_lazy("Approve (jobs waiting for a human)"),
        permissions=[RUN_AGAIN_PERMISSION],
    )
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[AgentJob]) -> None:
        self._decide(request, queryset, "approve")

    @admin.action(
        description=gettext_lazy("Reject (jobs waiting for a human)"),
        permissions=[RUN_AGAIN_PERMISSION],
    )
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[AgentJob]) -> None:
        self._decide(request, queryset, "reject")


admin.site.register(AgentJob, AgentJobAdmin)
