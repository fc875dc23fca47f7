"""One ordered timeline of an intent: remote events and local decisions, a page at a time.

Cost is constant whatever the number of events: one COUNT, one slice of events (plus the one
event before the slice, to know where the page starts), and one query for the decisions with
their users and approvals. Decisions are placed on the page whose time window holds them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from django.utils.translation import gettext_lazy as _

from django_axme.admin.badges import decision_state_badge, event_kind_badge, intent_status_badge
from django_axme.models import Approval, ApprovalDecision, Intent, IntentEvent

EVENTS_PER_PAGE = 100


@dataclass(frozen=True)
class TimelineEntry:
    """One row of the timeline; ``kind`` is ``"event"``, ``"decision"`` or ``"thread"`` (a
    reply or delegation on an approval's inbox thread)."""

    kind: str
    at: datetime | None
    title: str
    status: str = ""
    actor: str = ""
    seq: int | None = None
    summary: str = ""
    raw_json: str = ""
    decision: ApprovalDecision | None = None

    @property
    def kind_badge(self) -> str:
        """A badge for a reminder, escalation, delivery failure or task assignment event."""
        return str(event_kind_badge(self.title)) if self.kind == "event" else ""

    @property
    def status_badge(self) -> str:
        """The status (events) or decision state (decisions) as a badge; empty if unknown."""
        if not self.status:
            return ""
        if self.kind == "decision":
            return decision_state_badge(self.status)
        return intent_status_badge(self.status)


@dataclass(frozen=True)
class TimelinePage:
    entries: list[TimelineEntry]
    number: int
    num_pages: int
    total_events: int
    per_page: int = EVENTS_PER_PAGE
    page_range: list[int] = field(default_factory=list)

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages


def _pretty(data: Any) -> str:
    try:
        return json.dumps(data, indent=2, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(data)


def _event_summary(event: IntentEvent) -> str:
    details = event.details if isinstance(event.details, dict) else {}
    for key in ("reason", "comment", "message", "note"):
        value = details.get(key)
        if isinstance(value, str) and value:
            return value
    if isinstance(details.get("error"), dict):
        return str(details["error"].get("message") or details["error"].get("code") or "")
    return ""


def _event_entry(event: IntentEvent) -> TimelineEntry:
    return TimelineEntry(
        kind="event",
        at=event.at or event.received_at,
        title=event.event_type,
        status=event.status,
        actor=event.actor,
        seq=event.seq,
        summary=_event_summary(event),
        raw_json=_pretty(event.raw or event.details),
    )


def _decision_entry(decision: ApprovalDecision) -> TimelineEntry:
    who = decision.user.get_username() if decision.user else _("unknown user")
    return TimelineEntry(
        kind="decision",
        at=decision.created_at,
        title=str(
            (
                _("Approved by %(user)s (in this admin)")
                if decision.decision == "approve"
                else _("Rejected by %(user)s (in this admin)")
            )
            % {"user": who}
        ),
        status=decision.state,
        actor=str(who),
        summary=decision.note,
        raw_json=_pretty(decision.remote_response) if decision.remote_response else "",
        decision=decision,
    )


#: Entries of an approval's inbox thread that record what a person did there (not otherwise
#: among the intent's events): a message (reply, clarification) and a delegation.
THREAD_ACTIONS = frozenset({"message.sent", "thread.delegated"})


def _thread_entries(intent: Intent) -> list[TimelineEntry]:
    """Replies and delegations on the intent's approval threads (one query, at most 100 per
    thread, from the mirrored thread timelines)."""
    from django_axme.admin.request import thread_timeline

    entries = []
    for approval in Approval.objects.filter(intent=intent).only("pk", "timeline")[:20]:
        for item in thread_timeline(approval):
            if item.event_type in THREAD_ACTIONS:
                entries.append(
                    TimelineEntry(
                        kind="thread",
                        at=item.at,
                        title=item.event_type,
                        actor=item.actor,
                        summary=item.text,
                    )
                )
    return entries


def _merge(events: list[TimelineEntry], decisions: list[TimelineEntry]) -> list[TimelineEntry]:
    """Events keep their ``seq`` order; each decision goes before the first later event."""
    merged: list[TimelineEntry] = []
    pending = list(decisions)
    for event in events:
        while (
            pending
            and event.at is not None
            and pending[0].at is not None
            and (pending[0].at < event.at)
        ):
            merged.append(pending.pop(0))
        merged.append(event)
    return merged + pending


def _page_number(raw: Any, num_pages: int) -> int:
    try:
        number = int(raw)
    except (TypeError, ValueError):
        return num_pages  # newest events by default
    return min(max(number, 1), num_pages)


def build_timeline(
    intent: Intent, page: Any = None, per_page: int = EVENTS_PER_PAGE
) -> TimelinePage:
    """The requested page (1-based; default: the newest) of the intent's merged timeline."""
    events_qs = IntentEvent.objects.filter(intent=intent).order_by("seq")
    total = events_qs.count()
    num_pages = max(1, math.ceil(total / per_page))
    number = _page_number(page, num_pages)
    start = (number - 1) * per_page
    # One extra event before the page tells where this page's time window starts.
    lead = 1 if start > 0 else 0
    window = list(events_qs[start - lead : start + per_page])
    before = window[0] if lead and window else None
    events = window[lead:]

    lower = (before.at or before.received_at) if before else None
    upper = (events[-1].at or events[-1].received_at) if number < num_pages and events else None
    decisions = [
        d
        for d in ApprovalDecision.objects.filter(approval__intent=intent)
        .select_related("user", "approval")
        .order_by("created_at", "id")
        if (lower is None or d.created_at > lower) and (upper is None or d.created_at <= upper)
    ]

    local = [_decision_entry(d) for d in decisions] + [
        entry
        for entry in _thread_entries(intent)
        if entry.at is not None
        and (lower is None or entry.at > lower)
        and (upper is None or entry.at <= upper)
    ]
    local.sort(key=lambda entry: entry.at or datetime.max.replace(tzinfo=timezone.utc))
    return TimelinePage(
        entries=_merge([_event_entry(e) for e in events], local),
        number=number,
        num_pages=num_pages,
        total_events=total,
        per_page=per_page,
        page_range=list(range(1, num_pages + 1)),
    )
