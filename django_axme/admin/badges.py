"""Status badges: the status text on a tone taken from the admin's own CSS variables.

The tone classes (``axme-badge--success`` and friends, in ``django_axme/admin.css``) use the
admin's message colours (``--message-success-bg`` ...), so badges follow the light and dark
themes; the text is always shown, so colour is never the only signal.
"""

from __future__ import annotations

from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from django_axme.models import ApprovalStatus, DecisionState, IntentStatus

_INTENT_TONES = {
    IntentStatus.COMPLETED: "success",
    IntentStatus.FAILED: "error",
    IntentStatus.TIMED_OUT: "error",
    IntentStatus.CANCELED: "muted",
    IntentStatus.WAITING: "warning",
    IntentStatus.IN_PROGRESS: "info",
}
_APPROVAL_TONES = {
    ApprovalStatus.PENDING: "warning",
    ApprovalStatus.SENT: "info",
    ApprovalStatus.APPROVED: "success",
    ApprovalStatus.REJECTED: "error",
    ApprovalStatus.CLOSED: "muted",
}
_DECISION_TONES = {
    DecisionState.RECORDED: "info",
    DecisionState.SENT: "info",
    DecisionState.CONFIRMED: "success",
    DecisionState.FAILED: "error",
    DecisionState.SUPERSEDED: "muted",
}


def badge(text: object, tone: str = "neutral", code: str = "") -> SafeString:
    """An escaped ``<span class="axme-badge ...">`` with ``data-status`` for styling and tests."""
    return format_html(
        '<span class="axme-badge axme-badge--{}" data-status="{}">{}</span>', tone, code, text
    )


def intent_status_badge(status: str) -> SafeString:
    label = IntentStatus(status).label if status in IntentStatus.values else status
    return badge(label, _INTENT_TONES.get(status, "neutral"), status)  # type: ignore[call-overload]


def approval_status_badge(status: str) -> SafeString:
    label = ApprovalStatus(status).label if status in ApprovalStatus.values else status
    return badge(label, _APPROVAL_TONES.get(status, "neutral"), status)  # type: ignore[call-overload]


def decision_state_badge(state: str) -> SafeString:
    label = DecisionState(state).label if state in DecisionState.values else state
    return badge(label, _DECISION_TONES.get(state, "neutral"), state)  # type: ignore[call-overload]


def short_id(value: object, length: int = 8) -> SafeString | str:
    """An id cut to ``length`` characters with the full id on hover (``title``); ids that are
    already short are shown whole. Escaped."""
    text = str(value or "")
    if not text:
        return "—"
    if len(text) <= length + 1:
        return format_html('<span class="axme-short-id">{}</span>', text)
    return format_html('<span class="axme-short-id" title="{}">{}…</span>', text, text[:length])


_NOTABLE_EVENTS = {
    "intent.reminder": (_("Reminder"), "warning"),
    "intent.escalated": (_("Escalated"), "error"),
    "intent.delivery_failed": (_("Delivery failed"), "error"),
    "intent.human_task_assigned": (_("Task assigned"), "info"),
}


def event_kind_badge(event_type: str) -> SafeString | str:
    """A badge for an event that changes no status (reminder, escalation, delivery failure,
    task assigned); ``""`` for any other event type."""
    known = _NOTABLE_EVENTS.get(event_type)
    if known is None:
        return ""
    label, tone = known
    return format_html(
        '<span class="axme-badge axme-badge--{}" data-event="{}">{}</span>', tone, event_type, label
    )
