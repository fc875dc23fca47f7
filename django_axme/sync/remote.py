"""Reading remote (gateway) JSON defensively: timestamps, seq numbers, statuses, strings.

Nothing here writes; every helper returns a safe value and logs what it had to drop, so that
malformed server data is skipped with a log line instead of crashing the writer.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from django_axme.models import IntentStatus, WaitingReason

logger = logging.getLogger("django_axme.sync")

KNOWN_STATUSES: frozenset[str] = frozenset(IntentStatus.values)
KNOWN_WAITING_REASONS: frozenset[str] = frozenset(WaitingReason.values)

#: Terminal event types and the status each implies (used when an event has no status).
TERMINAL_EVENT_STATUS: dict[str, str] = {
    "intent.completed": IntentStatus.COMPLETED,
    "intent.failed": IntentStatus.FAILED,
    "intent.canceled": IntentStatus.CANCELED,
    "intent.timed_out": IntentStatus.TIMED_OUT,
}

STATUS_MAX_LENGTH = 64


def clip(value: Any, max_length: int) -> str:
    """``value`` as a string cut to ``max_length`` (``""`` for ``None``/non-strings)."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)[:max_length]


def parse_timestamp(value: Any) -> dt.datetime | None:
    """An aware datetime from an ISO 8601 string (``Z`` accepted), else ``None``."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = parse_datetime(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        parsed = None
    if parsed is None:
        logger.debug("unparseable remote timestamp %r ignored", value)
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, dt.timezone.utc)
    return parsed


def remote_status(value: Any, *, intent_id: str | None) -> str:
    """The status string to store: known statuses as they are, unknown ones kept raw (logged).

    Returns ``""`` when there is no usable status.
    """
    if not isinstance(value, str) or not value:
        return ""
    if value not in KNOWN_STATUSES:
        logger.warning("intent %s: unknown remote status %r kept as is", intent_id, value)
        if len(value) > STATUS_MAX_LENGTH:
            value = value[:STATUS_MAX_LENGTH]
    return value


def waiting_reason_for(status: str, value: Any, *, intent_id: str | None) -> str:
    """The waiting reason to store with ``status`` (only ``WAITING`` has one)."""
    if status != IntentStatus.WAITING or not isinstance(value, str):
        return ""
    if value not in KNOWN_WAITING_REASONS:
        logger.warning("intent %s: unknown waiting reason %r kept as is", intent_id, value)
    return value[:STATUS_MAX_LENGTH]


@dataclass(frozen=True)
class RemoteEvent:
    """One well-formed remote event, ready to be stored."""

    seq: int
    event_type: str
    status: str
    waiting_reason: str
    actor: str
    at: dt.datetime | None
    details: dict[str, Any]
    raw: dict[str, Any]


def parse_event(raw: Any, *, intent_id: str | None) -> RemoteEvent | None:
    """A :class:`RemoteEvent`, or ``None`` (logged with the intent id) for a malformed event.

    Malformed means: not an object, ``seq`` missing, not an integer (booleans and numeric
    strings included), or below 1, or an ``intent_id`` naming another intent. Everything else
    is tolerated: an unknown status is kept, a missing status on a terminal event type is
    derived from the type, bad timestamps and non-object details are dropped.
    """
    if not isinstance(raw, Mapping):
        logger.warning(
            "intent %s: skipped a malformed event (not an object): %.200r", intent_id, raw
        )
        return None
    seq = raw.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        logger.warning(
            "intent %s: skipped a malformed event (seq %r is not a positive integer)",
            intent_id,
            seq,
        )
        return None
    owner = raw.get("intent_id")
    if intent_id and isinstance(owner, str) and owner and owner != intent_id:
        logger.warning(
            "intent %s: skipped a malformed event (it belongs to intent %s, seq %s)",
            intent_id,
            owner,
            seq,
        )
        return None
    event_type = clip(raw.get("event_type"), 120)
    status = remote_status(raw.get("status"), intent_id=intent_id)
    if not status and event_type in TERMINAL_EVENT_STATUS:
        status = TERMINAL_EVENT_STATUS[event_type]
    details = raw.get("details")
    return RemoteEvent(
        seq=seq,
        event_type=event_type,
        status=status,
        waiting_reason=waiting_reason_for(status, raw.get("waiting_reason"), intent_id=intent_id),
        actor=clip(raw.get("actor"), 255),
        at=parse_timestamp(raw.get("at")),
        details=dict(details) if isinstance(details, Mapping) else {},
        raw=dict(raw),
    )
