"""Outbox rows: local intents written in the caller's transaction and sent after commit.

Part of the one writer. A row in the outbox is an :class:`~django_axme.models.Intent` with
``send_state=PENDING`` and no remote id yet. Its request body is frozen when the row is
written (``raw["outbox_request"]``, without the payload, which is stored once in the
``payload`` column) and its idempotency key is derived from the row, so every
send attempt of that row (after a crash, a redelivery, a retry) carries the same body and key:
the gateway answers a repeat with the intent it already created, never with a second one.

Signals are not sent from here: attaching the remote answer goes through
:func:`django_axme.sync.ingest_intent` and errors through
:func:`django_axme.sync.record_intent_error`, which own the signals.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from django_axme.models import Intent, IntentStatus, SendState
from django_axme.sync.remote import MAX_JSON_DEPTH, MAX_JSON_INT_BITS, clean_text

logger = logging.getLogger("django_axme.outbox")

#: Keys of a ``POST /v1/intents`` body (AXME protocol, intent create).
CREATE_BODY_KEYS: tuple[str, ...] = (
    "intent_type",
    "correlation_id",
    "to_agent",
    "from_agent",
    "reply_to",
    "payload",
    "deadline_at",
    "remind_after_seconds",
    "remind_interval_seconds",
    "max_reminders",
    "escalate_to",
    "max_delivery_attempts",
    "human_task",
)

OUTBOX_REQUEST_KEY = "outbox_request"


def idempotency_key_for(intent: Intent) -> str:
    """Return the idempotency key of an outbox row: stable for the row, unique across rows."""
    return f"django-axme-{intent.pk}-{intent.correlation_id}"


def _as_datetime(value: Any, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is not None:
            return parsed
    raise ValueError(f"{field} must be an ISO 8601 date-time, got {value!r}")


#: Length of the text columns a create body's fields are stored in.
_TEXT_LIMITS = {"intent_type": 255, "to_agent": 383, "from_agent": 383, "reply_to": 383}


def _check_text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a string, got {type(value).__name__}")
    limit = _TEXT_LIMITS[field]
    if len(value) > limit:
        raise ValueError(f"{field} is {len(value)} characters long; at most {limit} are stored")
    if clean_text(value) != value:
        raise ValueError(f"{field} contains a NUL character or an unpaired surrogate")
    return value


def check_json(value: Any, field: str, depth: int = 0) -> None:
    """Raise :class:`ValueError` naming the place (``payload['a'][0]``) if ``value`` is not JSON
    every supported database stores as it is: objects with string keys, arrays, finite
    numbers, integers of at most about 3,900 digits, strings without NUL or unpaired
    surrogates, booleans, null; nested at most :data:`~django_axme.sync.remote.MAX_JSON_DEPTH`
    levels. Never raises anything else (no ``RecursionError`` for any depth)."""
    if value is None or isinstance(value, (bool, str)):
        if isinstance(value, str) and clean_text(value) != value:
            raise ValueError(f"{field} contains a NUL character or an unpaired surrogate")
        return
    if isinstance(value, int):
        if value.bit_length() > MAX_JSON_INT_BITS:
            raise ValueError(f"{field} is an integer too long to store as JSON")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{field} is {value!r}, which JSON cannot hold")
        return
    if isinstance(value, (Mapping, list, tuple)):
        if depth >= MAX_JSON_DEPTH:
            raise ValueError(f"{field} is nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ValueError(
                        f"{field} has a {type(key).__name__} key {key!r}; JSON keys are strings"
                    )
                place = f"{field}[{key[:40]!r}]"
                if clean_text(key) != key:
                    raise ValueError(f"{place}: the key contains a NUL or an unpaired surrogate")
                check_json(item, place, depth + 1)
        else:
            for index, item in enumerate(value):
                check_json(item, f"{field}[{index}]", depth + 1)
        return
    raise ValueError(
        f"{field} is a {type(value).__name__}, which is not JSON; convert it first "
        "(for example a datetime to an ISO 8601 string, a Decimal to a string or a float)"
    )


def _normalise_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The create body as it will be stored and sent; raises :class:`ValueError` naming the
    first bad field (unknown field, missing or over-long text, a value that is not JSON)."""
    unknown = sorted(set(body) - set(CREATE_BODY_KEYS))
    if unknown:
        raise ValueError(
            f"unknown intent field(s) {', '.join(unknown)}; allowed: {', '.join(CREATE_BODY_KEYS)}"
        )
    out = {k: v for k, v in body.items() if v is not None}
    intent_type = out.get("intent_type")
    if not isinstance(intent_type, str) or not intent_type.strip():
        raise ValueError("intent_type is required (for example 'intent.approval.v1')")
    to_agent = out.get("to_agent")
    if not isinstance(to_agent, str) or not to_agent.strip():
        raise ValueError("to_agent is required (an agent address such as 'agent://acme/ops/bot')")
    for field in _TEXT_LIMITS:
        if field in out:
            _check_text(out[field], field)
    payload = out.setdefault("payload", {})
    if not isinstance(payload, Mapping):
        raise ValueError(f"payload must be a JSON object, got {type(payload).__name__}")
    out["payload"] = dict(payload)
    human_task = out.get("human_task")
    if human_task is not None and not isinstance(human_task, Mapping):
        raise ValueError(f"human_task must be a JSON object, got {type(human_task).__name__}")
    deadline = _as_datetime(out.get("deadline_at"), "deadline_at")
    if deadline is not None:
        if timezone.is_naive(deadline):
            raise ValueError("deadline_at must be timezone-aware")
        try:
            deadline.astimezone(dt_timezone.utc)
        except (OverflowError, ValueError):
            raise ValueError("deadline_at is outside years 1..9999 in UTC") from None
        out["deadline_at"] = deadline.isoformat().replace("+00:00", "Z")
    correlation_id = out.get("correlation_id") or str(uuid.uuid4())
    try:
        out["correlation_id"] = str(uuid.UUID(str(correlation_id)))
    except ValueError:
        raise ValueError(f"correlation_id must be a UUID, got {correlation_id!r}") from None
    for field, value in out.items():
        check_json(value, field)
    return out


def create_outbox_row(
    body: Mapping[str, Any],
    *,
    user: Any = None,
    attempt: int = 1,
    retry_of: Intent | None = None,
    using: str | None = None,
) -> Intent:
    """Write one PENDING outbox row for ``body`` (a ``POST /v1/intents`` body) and return it.

    Runs in the caller's transaction (its own savepoint): a rollback leaves no row, so nothing
    is ever sent for it. The correlation id is generated when ``body`` has none; the
    idempotency key is derived from the row. Raises ValueError naming a bad field.
    """
    request = _normalise_body(body)
    with transaction.atomic(using=using):
        row = Intent(
            intent_type=request["intent_type"],
            to_agent=request["to_agent"],
            from_agent=request.get("from_agent", "") or "",
            reply_to=request.get("reply_to", "") or "",
            correlation_id=request["correlation_id"],
            payload=request["payload"],
            human_task=request.get("human_task"),
            deadline_at=_as_datetime(request.get("deadline_at"), "deadline_at"),
            status=IntentStatus.CREATED,
            send_state=SendState.PENDING,
            attempt=attempt,
            retry_of=retry_of,
            created_by=user if getattr(user, "pk", None) is not None else None,
            # The payload is stored once, in its column; outbox_request() puts it back.
            raw={OUTBOX_REQUEST_KEY: {k: v for k, v in request.items() if k != "payload"}},
        )
        row.save(using=using)
        row.idempotency_key = idempotency_key_for(row)
        Intent.objects.using(using).filter(pk=row.pk).update(idempotency_key=row.idempotency_key)
    return row


def outbox_request(row: Intent) -> dict[str, Any]:
    """Return the frozen request body of an outbox row (the same on every send attempt): the
    stored request with the ``payload`` column (rows written before the payload was stored
    once carry it in the request itself)."""
    request = (row.raw or {}).get(OUTBOX_REQUEST_KEY)
    if not isinstance(request, Mapping):
        raise ValueError(f"intent row {row.pk} has no stored outbox request")
    out = dict(request)
    out.setdefault("payload", row.payload if isinstance(row.payload, dict) else {})
    return out


def mark_sent(row: Intent, request: Mapping[str, Any], answer: Mapping[str, Any]) -> Intent:
    """Attach the gateway's create answer to the outbox row and mark it SENT.

    The answer goes through the one writer (``sync.ingest_intent(local=row)``, which sends
    ``intent_created`` once). Idempotent: marking an already SENT row again changes nothing.
    """
    from django_axme import sync

    data: dict[str, Any] = dict(request)
    data.update({k: v for k, v in answer.items() if k != "ok"})
    with transaction.atomic():
        intent = sync.ingest_intent(data, local=row)
        Intent.objects.filter(pk=intent.pk, send_state=SendState.PENDING).update(
            send_state=SendState.SENT
        )
    intent.refresh_from_db()
    return intent


def mark_rejected(row: Intent, error: Mapping[str, Any]) -> None:
    """Mark an outbox row REJECTED (the gateway refused it; it will not be sent again).

    The error is recorded through ``sync.record_intent_error`` so the admin shows it.
    """
    from django_axme import sync

    with transaction.atomic():
        Intent.objects.filter(pk=row.pk, send_state=SendState.PENDING).update(
            send_state=SendState.REJECTED
        )
        row.refresh_from_db()
        sync.record_intent_error(row, dict(error))


def retry_body(original: Intent) -> dict[str, Any]:
    """Return the create body for a new attempt of ``original``.

    Built from the frozen outbox request when the row has one, else from the mirrored remote
    intent (its raw JSON, then its columns). Same correlation id; a deadline that already
    passed is dropped (a retry must not time out on arrival).
    """
    raw = original.raw or {}
    source: Mapping[str, Any] = raw.get(OUTBOX_REQUEST_KEY) or raw.get("intent") or raw
    body = {k: source[k] for k in CREATE_BODY_KEYS if source.get(k) is not None}
    body.setdefault("intent_type", original.intent_type)
    body.setdefault("to_agent", original.to_agent)
    body.setdefault("payload", original.payload or {})
    if original.from_agent:
        body.setdefault("from_agent", original.from_agent)
    if original.reply_to:
        body.setdefault("reply_to", original.reply_to)
    if original.human_task:
        body.setdefault("human_task", original.human_task)
    body["correlation_id"] = original.correlation_id or str(uuid.uuid4())
    deadline = _as_datetime(body.get("deadline_at"), "deadline_at")
    if deadline is not None and deadline <= timezone.now():
        logger.info(
            "retry of intent %s: dropping deadline_at %s (already passed)",
            original.intent_id,
            body["deadline_at"],
        )
        body.pop("deadline_at")
    return body


def create_retry_attempt(original_pk: int, overrides: Mapping[str, Any] | None = None) -> Intent:
    """Create (once) the outbox row of the next attempt of ``original_pk`` and return it.

    Idempotent: when the original already has a retry row, that row is returned and nothing
    is created, so a redelivered retry task never sends two new attempts. The new row has
    ``attempt = original.attempt + 1``, ``retry_of = original``, the original's correlation
    id and its own idempotency key.
    """
    with transaction.atomic():
        original = Intent.objects.select_for_update().get(pk=original_pk)
        existing = original.retries.order_by("id").first()
        if existing is not None:
            return existing
        body = retry_body(original)
        if overrides:
            body.update({k: v for k, v in overrides.items() if k != "correlation_id"})
        return create_outbox_row(
            body,
            user=original.created_by,
            attempt=original.attempt + 1,
            retry_of=original,
        )


def pending_rows(older_than_seconds: float, limit: int) -> list[int]:
    """Return pks of outbox rows still PENDING after ``older_than_seconds`` (lost messages)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        Intent.objects.filter(send_state=SendState.PENDING, created_at__lte=cutoff)
        .order_by("created_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
