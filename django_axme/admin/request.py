"""What an approval asks, gathered for the top of its page (the "request" panel).

The panel is rendered from the first template found among :func:`template_names`:
``django_axme/approval/<intent type>.html`` (a project overrides the summary of one intent
type by shipping that template) then ``django_axme/approval/request.html`` (the default).
Both get the context described by :class:`ApprovalRequest` under the name ``request_info``,
plus ``approval``, ``intent`` and ``payload``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.timesince import timesince, timeuntil
from django.utils.translation import gettext as _

from django_axme.adapter import get_adapter
from django_axme.models import Approval
from django_axme.readable import ReadableField, readable_fields

DEFAULT_TEMPLATE = "django_axme/approval/request.html"
_SAFE_TYPE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$")


@dataclass
class ApprovalRequest:
    """Everything a person needs to decide, without opening raw JSON."""

    title: str
    instructions: str
    task_type: str
    summary: str
    intent_type: str
    from_agent: str
    requested_by: Any = None  # the Django user who sent the intent from this project
    fields: list[ReadableField] = field(default_factory=list)
    deadline: datetime | None = None
    time_left: str = ""
    overdue: bool = False
    allowed_outcomes: list[str] = field(default_factory=list)
    comment_required: bool = False
    evidence_required: bool = False
    assignees: list[str] = field(default_factory=list)


def template_names(intent_type: str) -> list[str]:
    """Templates tried for the request panel, most specific first.

    The intent type comes from the gateway: it is used in a template name only when it is a
    plain dotted name (letters, digits, ``_``, ``.``, ``-``; no ``..``), else ignored.
    """
    names = []
    if intent_type and _SAFE_TYPE.match(intent_type) and ".." not in intent_type:
        names.append(f"django_axme/approval/{intent_type}.html")
    names.append(DEFAULT_TEMPLATE)
    return names


def human_task_of(approval: Approval) -> Mapping[str, Any]:
    """The approval's human task: the mirrored intent's, else the one on the thread."""
    intent = approval.intent
    if intent is not None and isinstance(intent.human_task, Mapping):
        return intent.human_task
    raw = approval.raw if isinstance(approval.raw, Mapping) else {}
    task = raw.get("human_task")
    return task if isinstance(task, Mapping) else {}


def _strings(value: Any, limit: int = 50) -> list[str]:
    if not isinstance(value, list):
        return []
    return [str(v)[:255] for v in value[:limit] if isinstance(v, str | int) and str(v)]


def _deadline(approval: Approval, task: Mapping[str, Any]) -> datetime | None:
    intent = approval.intent
    if intent is not None and intent.deadline_at is not None:
        return intent.deadline_at
    raw = approval.raw if isinstance(approval.raw, Mapping) else {}
    for value in (task.get("due_at"), raw.get("due_at"), raw.get("deadline_at")):
        if isinstance(value, str) and len(value) <= 40:
            try:
                parsed = parse_datetime(value)
            except ValueError:
                parsed = None
            if parsed is not None:
                return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)
    return None


def describe(approval: Approval, *, now: datetime | None = None) -> ApprovalRequest:
    """The request behind ``approval`` (reads ``approval.intent`` and its ``created_by``)."""
    intent = approval.intent
    task = human_task_of(approval)
    payload = intent.payload if intent is not None and isinstance(intent.payload, dict) else {}
    info = ApprovalRequest(
        title=approval.title or str(task.get("title") or "")[:255] or _("Approval required"),
        instructions=approval.description or str(task.get("description") or "")[:2000],
        task_type=approval.task_type or str(task.get("task_type") or "")[:64],
        summary=get_adapter().approval_summary(approval),
        intent_type=intent.intent_type if intent is not None else "",
        from_agent=approval.from_agent or (intent.from_agent if intent is not None else ""),
        requested_by=(
            intent.created_by if intent is not None and intent.direction == "outbound" else None
        ),
        fields=readable_fields(payload) if payload else [],
        allowed_outcomes=_strings(approval.allowed_outcomes or task.get("allowed_outcomes")),
        comment_required=approval.comment_required or bool(task.get("required_comment")),
        evidence_required=bool(task.get("evidence_required")),
        assignees=_strings(task.get("assignees")),
    )
    deadline = _deadline(approval, task)
    if deadline is not None:
        now = now or timezone.now()
        info.deadline = deadline
        info.overdue = deadline <= now
        info.time_left = (
            _("passed %(ago)s ago") % {"ago": timesince(deadline, now)}
            if info.overdue
            else _("%(left)s left") % {"left": timeuntil(deadline, now)}
        )
    return info


@dataclass(frozen=True)
class ThreadEntry:
    """One entry of the inbox thread's timeline (a reply, a delegation, a decision...)."""

    event_type: str
    actor: str
    at: datetime | None
    text: str


def thread_timeline(approval: Approval, limit: int = 100) -> list[ThreadEntry]:
    """The mirrored thread's timeline, oldest first, at most ``limit`` entries (the last)."""
    entries = approval.timeline if isinstance(approval.timeline, list) else []
    out = []
    for item in entries[-limit:]:
        if not isinstance(item, Mapping):
            continue
        details = item.get("details") if isinstance(item.get("details"), Mapping) else {}
        assert isinstance(details, Mapping)
        text = next(
            (
                str(details[k])[:2000]
                for k in ("message", "note", "comment", "delegate_to", "title")
                if isinstance(details.get(k), str) and details[k]
            ),
            "",
        )
        if details.get("delegate_to") and text != details["delegate_to"]:
            text = f"{details['delegate_to']}: {text}"
        at = item.get("at") or item.get("created_at")
        parsed = parse_datetime(at) if isinstance(at, str) and len(at) <= 40 else None
        out.append(
            ThreadEntry(
                str(item.get("event_type") or item.get("type") or "")[:120],
                str(item.get("actor") or "")[:255],
                parsed,
                text,
            )
        )
    return out
