"""Reading remote (gateway) JSON defensively: timestamps, seq numbers, statuses, strings.

Nothing here writes; every helper returns a value that every supported database can store
and logs what it had to change or drop, so that malformed or hostile server data is cleaned or
skipped with a log line instead of crashing the writer (or, worse, rolling back the healthy
data of the same batch). What is done with each kind of bad value:

- **cleaned** (a WARNING names the intent and the field): a NUL character (``\\u0000``, which
  PostgreSQL cannot store in text or ``jsonb``) and an unpaired UTF-16 surrogate (which UTF-8
  cannot encode) become U+FFFD; a surrogate pair split into two code points is joined; in JSON
  values, a non-finite number (``NaN``, ``Infinity``) and an integer of more than about 3,900
  digits become ``null``, a non-string key becomes a string, anything nested deeper than
  :data:`MAX_JSON_DEPTH` levels becomes ``null``;
- **dropped** (a WARNING names the intent and the field): a timestamp that cannot be parsed or
  that lies outside years 1..9999 once converted to UTC, and a ``policy_generation`` outside
  the 32-bit range of its column;
- **rejected** (the event or thread is skipped with a WARNING, or the call raises
  :class:`RemoteDataError`): an event whose ``seq`` is not an integer in ``1..2**31 - 1``, and
  an id that cannot be stored as it came (not a string, blank, longer than 64 characters, a
  NUL or a surrogate): cleaning an id would make it name something else.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from django_axme.client.errors import AxmeError
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


#: The range of the mirror's integer columns (``seq``, ``last_seq``, ``policy_generation``):
#: Django's ``IntegerField`` range, the narrowest of the supported databases (PostgreSQL).
MAX_DB_INT = 2**31 - 1
MIN_DB_INT = -(2**31)
#: Length of the remote id columns (``Intent.intent_id``, ``Approval.thread_id``).
MAX_REMOTE_ID_LENGTH = 64
#: Containers nested deeper than this in a JSON value are replaced by ``null``.
MAX_JSON_DEPTH = 256
#: Integers above this many bits (about 3,900 digits) are not stored: Python refuses to turn
#: much longer ones into text (``sys.get_int_max_str_digits``), which JSON needs.
MAX_JSON_INT_BITS = 13_000
REPLACEMENT_CHARACTER = "\ufffd"

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class RemoteDataError(AxmeError, ValueError):
    """Remote data the mirror cannot store even after cleaning (an unusable intent id, or a
    value the database refused). The message names the intent and the field; nothing of the
    call that raised it was written. An :class:`~django_axme.exceptions.AxmeError` (so the
    paths that survive a failing gateway survive it too) and a :class:`ValueError`."""


def clean_text(value: str) -> str:
    """``value`` as text every supported database stores: a NUL becomes U+FFFD, a surrogate
    pair written as two code points is joined, an unpaired surrogate becomes U+FFFD. Returns
    ``value`` itself (the same object) when nothing had to change."""
    if not _UNSTORABLE.search(value):
        return value
    value = value.replace("\x00", REPLACEMENT_CHARACTER)
    if _SURROGATE.search(value):
        value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value


def clip(value: Any, max_length: int) -> str:
    """``value`` as storable text (:func:`clean_text`) cut to ``max_length`` characters;
    ``""`` for ``None``, objects, arrays and integers too long to print."""
    if value is None or isinstance(value, (dict, list, Mapping)):
        return ""
    if isinstance(value, int) and value.bit_length() > MAX_JSON_INT_BITS:
        return ""
    text = value if isinstance(value, str) else str(value)
    return clean_text(text[: max_length + 1])[:max_length]


def storable_id(value: Any) -> str | None:
    """``value`` if it can be stored as a remote id as it came (a string, not blank, at most
    :data:`MAX_REMOTE_ID_LENGTH` characters, no NUL or surrogate), else ``None``."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_REMOTE_ID_LENGTH:
        return None
    if _UNSTORABLE.search(value):
        return None
    return value


def storable_int(value: Any, *, field: str, intent_id: str | None) -> int | None:
    """``value`` if it is an integer (not a boolean) in the range of the integer columns;
    otherwise ``None``, with a WARNING naming the intent and the field when it was an integer
    out of range."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    if MIN_DB_INT <= value <= MAX_DB_INT:
        return value
    logger.warning(
        "intent %s: %s %s is outside the 32-bit range of its column; not stored",
        intent_id,
        field,
        _short_int(value),
    )
    return None


def _short_int(value: int) -> str:
    if value.bit_length() > 64:
        return f"of {value.bit_length()} bits"
    return str(value)


def parse_timestamp(
    value: Any, *, field: str = "timestamp", intent_id: str | None = None
) -> dt.datetime | None:
    """An aware UTC datetime from an ISO 8601 string (``Z`` accepted), else ``None``.

    ``None`` (with a WARNING naming ``intent_id`` and ``field``) also for a timestamp whose
    offset puts it before year 1 or after year 9999 in UTC, which no database column holds.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = parse_datetime(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except (ValueError, OverflowError):
        parsed = None
    if parsed is None:
        logger.warning("intent %s: unparseable %s %.80r ignored", intent_id, field, clip(value, 80))
        return None
    try:
        if timezone.is_naive(parsed):
            return parsed.replace(tzinfo=dt.timezone.utc)
        return parsed.astimezone(dt.timezone.utc)
    except (OverflowError, ValueError):
        logger.warning(
            "intent %s: %s %.80r is outside years 1..9999 in UTC; ignored",
            intent_id,
            field,
            clip(value, 80),
        )
        return None


def clean_json(value: Any, *, field: str, intent_id: str | None) -> Any:
    """``value`` as JSON every supported database stores (see the module docstring for what
    is cleaned), logging one WARNING naming the intent, the field and what was changed.

    Returns ``value`` itself when nothing had to change. Never raises for any input.
    """
    if _json_is_storable(value):
        return value
    problems: dict[str, str] = {}
    cleaned = _clean(value, 0, [field], problems)
    if problems:
        logger.warning(
            "intent %s: %s cleaned before storing: %s",
            intent_id,
            field,
            "; ".join(f"{what} (first at {where})" for what, where in problems.items()),
        )
    return cleaned


def _json_is_storable(value: Any) -> bool:
    """A fast check (the C encoder) that ``value`` needs no cleaning; False when unsure."""
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        return False
    return "\\u0000" not in text and not _SURROGATE.search(text) and _depth_ok(text)


def _depth_ok(text: str) -> bool:
    """Whether JSON ``text`` nests at most :data:`MAX_JSON_DEPTH` containers deep."""
    if len(text) < MAX_JSON_DEPTH:
        return True
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    if len(brackets) <= 2 * MAX_JSON_DEPTH:
        return True
    return max(accumulate(1 if c in "[{" else -1 for c in brackets)) <= MAX_JSON_DEPTH


def _clean(value: Any, depth: int, path: list[str], problems: dict[str, str]) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        cleaned = clean_text(value)
        if cleaned is not value:
            problems.setdefault("NUL or unpaired surrogate replaced", ".".join(path))
        return cleaned
    if isinstance(value, int):
        if value.bit_length() > MAX_JSON_INT_BITS:
            problems.setdefault("integer too long, stored as null", ".".join(path))
            return None
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            problems.setdefault("non-finite number stored as null", ".".join(path))
            return None
        return value
    if isinstance(value, (Mapping, list, tuple)):
        if depth >= MAX_JSON_DEPTH:
            problems.setdefault(
                f"nested deeper than {MAX_JSON_DEPTH} levels, stored as null", ".".join(path)
            )
            return None
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for key, item in value.items():
                name = key if isinstance(key, str) else clip(key, 200)
                if not isinstance(key, str):
                    problems.setdefault("non-string key stored as a string", ".".join(path))
                name = clean_text(name)
                if name is not key and isinstance(key, str):
                    problems.setdefault("NUL or unpaired surrogate replaced", ".".join(path))
                path.append(name[:40])
                out[name] = _clean(item, depth + 1, path, problems)
                path.pop()
            return out
        items = []
        for index, item in enumerate(value):
            path.append(str(index))
            items.append(_clean(item, depth + 1, path, problems))
            path.pop()
        return items
    problems.setdefault(f"{type(value).__name__} stored as a string", ".".join(path))
    return clip(value, 100_000)


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


def _text(value: Any) -> str | None:
    """A remote string made storable (and bounded), or ``None`` for anything else."""
    return clip(value, 10_000) if isinstance(value, str) else None


def parse_event(raw: Any, *, intent_id: str | None) -> RemoteEvent | None:
    """A :class:`RemoteEvent` ready to store, or ``None`` (logged with the intent id) for a
    malformed event.

    Malformed means: not an object, ``seq`` missing, not an integer (booleans and numeric
    strings included), below 1 or above ``2**31 - 1`` (the column's range), or an
    ``intent_id`` naming another intent. Everything else is tolerated and made storable (see
    the module docstring): an unknown status is kept, a missing status on a terminal event
    type is derived from the type, bad timestamps and non-object details are dropped, text
    and JSON are cleaned.
    """
    if not isinstance(raw, Mapping):
        logger.warning(
            "intent %s: skipped a malformed event (not an object): %.200r", intent_id, raw
        )
        return None
    seq = raw.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= MAX_DB_INT:
        logger.warning(
            "intent %s: skipped a malformed event (seq %s is not an integer in 1..2**31-1)",
            intent_id,
            _short_int(seq) if isinstance(seq, int) else clip(repr(seq), 80),
        )
        return None
    owner = raw.get("intent_id")
    if intent_id and isinstance(owner, str) and owner and owner != intent_id:
        logger.warning(
            "intent %s: skipped a malformed event (it belongs to intent %s, seq %s)",
            intent_id,
            clip(owner, 80),
            seq,
        )
        return None
    event_type = clip(raw.get("event_type"), 120)
    status = remote_status(_text(raw.get("status")), intent_id=intent_id)
    if not status and event_type in TERMINAL_EVENT_STATUS:
        status = TERMINAL_EVENT_STATUS[event_type]
    stored_raw = clean_json(dict(raw), field=f"event seq {seq}", intent_id=intent_id)
    if not isinstance(stored_raw, dict):  # nested too deep as a whole: keep what is usable
        stored_raw = {}
    details = stored_raw.get("details")
    waiting_reason = waiting_reason_for(
        status, _text(raw.get("waiting_reason")), intent_id=intent_id
    )
    return RemoteEvent(
        seq=seq,
        event_type=event_type,
        status=status,
        waiting_reason=waiting_reason,
        actor=clip(raw.get("actor"), 255),
        at=parse_timestamp(raw.get("at"), field=f"event seq {seq} 'at'", intent_id=intent_id),
        details=dict(details) if isinstance(details, Mapping) else {},
        raw=stored_raw,
    )
