"""Webhook deliveries from AXME: verify, record once, then process through the one writer.

A delivery is an HTTP POST whose raw body is signed with HMAC-SHA256 under the
subscription's secret, the signature in the ``X-AXME-Signature`` header (reference 3.10). The
header's exact encoding is not pinned down by AXME's public material, so
:func:`verify_signature` is one small function accepting ``sha256=<hex>`` and bare ``<hex>``
(several comma-separated candidates too); change it there if the gateway's format differs.

The body is trusted only after the signature verified, and even then it is only a *hint*:
processing never copies the payload into the mirror, it re-reads the thread or intent the
delivery names from AXME and hands that answer to :mod:`django_axme.sync`. So a duplicate, a
reordered or a replayed delivery cannot move the mirror backwards, and the same guarantees
hold as for every other path (idempotent, each transition signalled once, after commit).

Body fields read (all optional except that a usable delivery names something):
``delivery_id`` (else the ``X-AXME-Delivery`` header, else ``sha256:<digest of the body>``),
``event_id``, ``event_type`` (else the ``X-AXME-Event`` header), ``owner_agent``,
``timestamp`` (Unix seconds) or ``sent_at`` (RFC 3339), and ``payload`` (an object; the body
itself when absent) carrying ``thread_id``, ``intent_id``, ``owner_agent`` or a ``thread``
object with those keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import math
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from django_axme.conf import AxmeSettingsError, get_setting
from django_axme.exceptions import AxmeAPIError, AxmeError
from django_axme.models import WebhookDelivery, WebhookOutcome
from django_axme.services.errors import is_retryable
from django_axme.services.refresh import ingest_inbox_thread, refresh_intent
from django_axme.settings_table import WEBHOOK_MIN_SECRET_LENGTH
from django_axme.sync import idle
from django_axme.sync import webhooks as audit
from django_axme.sync.remote import parse_timestamp

logger = logging.getLogger("django_axme.webhooks")

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "MIN_SECRET_LENGTH",
    "SIGNATURE_HEADER",
    "MalformedDelivery",
    "ParsedDelivery",
    "Received",
    "configured_secrets",
    "due_deliveries",
    "parse_delivery",
    "process_delivery",
    "receive",
    "rejection_counts",
    "replay_delivery",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER = "X-AXME-Signature"
DELIVERY_HEADER = "X-AXME-Delivery"
EVENT_HEADER = "X-AXME-Event"
#: Shortest secret accepted (the gateway's own lower bound, reference 3.10).
MIN_SECRET_LENGTH = WEBHOOK_MIN_SECRET_LENGTH
#: Signature candidates looked at in one header, and the header's longest accepted length.
_MAX_CANDIDATES = 8
_MAX_HEADER_CHARS = 1024
#: A failed delivery is retried by the sweep at most this many processing attempts.
MAX_ATTEMPTS = 10

_counter_lock = threading.Lock()
_rejections: Counter[str] = Counter()


def _count(reason: str) -> None:
    with _counter_lock:
        _rejections[reason] += 1


def rejection_counts() -> dict[str, int]:
    """Deliveries refused by this process since it started, by reason (``signature``,
    ``too_large``, ``stale``, ``malformed``, ``duplicate``); a copy."""
    with _counter_lock:
        return dict(_rejections)


# ------------------------------------------------------------------------------ secrets


def configured_secrets() -> list[str]:
    """The secrets a delivery may be signed with: ``WEBHOOK_SECRET`` (when set), then
    ``WEBHOOK_SECRETS`` in order, without repeats. The first one is the newest (the one
    ``manage.py axme_webhooks sync`` gives AXME). Raises
    :class:`~django_axme.conf.AxmeSettingsError` for a secret shorter than
    :data:`MIN_SECRET_LENGTH` (the system check ``axme.E031`` reports the same)."""
    secrets: list[str] = []
    one = get_setting("WEBHOOK_SECRET")
    for value in ([one] if one else []) + list(get_setting("WEBHOOK_SECRETS") or []):
        if len(value) < MIN_SECRET_LENGTH:
            raise AxmeSettingsError(
                f"AXME webhook secrets must be at least {MIN_SECRET_LENGTH} characters long."
            )
        if value not in secrets:
            secrets.append(value)
    return secrets


def sign(body: bytes, secret: str) -> str:
    """The ``X-AXME-Signature`` value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secrets: Sequence[str]) -> bool:
    """Whether ``header`` holds a valid HMAC-SHA256 of ``body`` under one of ``secrets``.

    Accepts ``sha256=<hex>`` and bare ``<hex>`` (case-insensitive hex), several candidates
    separated by commas (at most 8). Every comparison is constant-time
    (:func:`hmac.compare_digest`); no secret means nothing verifies.
    """
    if not header or not secrets or len(header) > _MAX_HEADER_CHARS:
        return False
    candidates = []
    for part in header.split(",")[:_MAX_CANDIDATES]:
        scheme, sep, value = part.strip().partition("=")
        if not sep:
            scheme, value = "sha256", scheme
        if scheme.strip().lower() == "sha256" and value.strip():
            candidates.append(value.strip().lower().encode("ascii", "replace"))
    valid = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
        for candidate in candidates:
            # No early exit: the time taken does not tell which secret or candidate matched.
            valid |= hmac.compare_digest(expected, candidate)
    return valid


# ------------------------------------------------------------------------------ parsing


class MalformedDelivery(AxmeError, ValueError):
    """A signed body that cannot be read as a delivery (not JSON, not an object, bad fields)."""


@dataclass(frozen=True)
class ParsedDelivery:
    """What a verified body says (still only a hint: processing re-reads AXME)."""

    delivery_id: str
    event_type: str = ""
    event_id: str = ""
    intent_id: str = ""
    thread_id: str = ""
    owner_agent: str = ""
    timestamp: dt.datetime | None = None
    payload: dict[str, Any] = field(default_factory=dict)


def _text(value: Any, limit: int) -> str:
    if isinstance(value, str) and value.strip() and len(value) <= limit:
        return value.strip()
    return ""


def _parse_time(body: Mapping[str, Any]) -> dt.datetime | None:
    raw = body.get("timestamp", body.get("sent_at"))
    if raw is None:
        return None
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        if not math.isfinite(raw) or abs(raw) > 1e11:
            raise MalformedDelivery("timestamp is not a Unix time in seconds")
        return dt.datetime.fromtimestamp(raw, tz=dt.timezone.utc)
    parsed = parse_timestamp(raw)
    if parsed is None:
        raise MalformedDelivery("timestamp is neither Unix seconds nor an RFC 3339 time")
    return parsed


def body_digest_id(body: bytes) -> str:
    """The delivery id of a body that carries none: ``sha256:<hex digest>``."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def parse_delivery(body: bytes, headers: Mapping[str, str]) -> ParsedDelivery:
    """Read a verified body (see the module doc for the fields). Raises
    :class:`MalformedDelivery` when it is not a JSON object or a field has the wrong type."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedDelivery(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedDelivery("body is not a JSON object")
    payload = data.get("payload", data)
    if not isinstance(payload, dict):
        raise MalformedDelivery("payload is not a JSON object")
    nested = payload.get("thread")
    thread: dict[str, Any] = nested if isinstance(nested, dict) else {}

    def pick(name: str, limit: int) -> str:
        for source in (payload, thread, data):
            found = _text(source.get(name), limit)
            if found:
                return found
        return ""

    return ParsedDelivery(
        delivery_id=_text(data.get("delivery_id"), 255)
        or _text(headers.get(DELIVERY_HEADER), 255)
        or body_digest_id(body),
        event_type=_text(data.get("event_type"), 120) or _text(headers.get(EVENT_HEADER), 120),
        event_id=_text(data.get("event_id"), 64),
        intent_id=pick("intent_id", 64),
        thread_id=pick("thread_id", 64),
        owner_agent=_text(data.get("owner_agent"), 255) or pick("owner_agent", 255),
        timestamp=_parse_time(data),
        payload=data,
    )


# ------------------------------------------------------------------------------ receiving


@dataclass(frozen=True)
class Received:
    """The view's answer to one delivery: ``status`` (HTTP), a short ``detail``, and the
    row when one was stored. ``process`` says whether the row is due for processing now."""

    status: int
    detail: str
    delivery: WebhookDelivery | None = None
    process: bool = False


def receive(body: bytes, headers: Mapping[str, str], *, now: dt.datetime | None = None) -> Received:
    """Judge one delivery's body (already read within the size cap) and record it.

    In order: a missing or wrong signature -> 403 and nothing stored; a body that is not a
    delivery -> 400, stored as *rejected* for the audit; a timestamp outside
    ``WEBHOOK_TOLERANCE_SECONDS`` -> 400 and nothing stored; a delivery id already recorded
    -> 200 and nothing done again (unless its last processing attempt failed: then it is due
    again); else the row is recorded (*received*) and due for processing. Each refusal is
    logged and counted (:func:`rejection_counts`). Never parses an unverified body.
    """
    if not verify_signature(body, headers.get(SIGNATURE_HEADER), configured_secrets()):
        _count("signature")
        logger.warning("webhook delivery refused: missing or invalid %s", SIGNATURE_HEADER)
        return Received(403, "invalid signature")
    try:
        parsed = parse_delivery(body, headers)
    except MalformedDelivery as exc:
        _count("malformed")
        delivery_id = _text(headers.get(DELIVERY_HEADER), 255) or body_digest_id(body)
        logger.warning("webhook delivery %s refused: %s", delivery_id, exc)
        row, _created = audit.record_delivery(
            delivery_id,
            event_type=_text(headers.get(EVENT_HEADER), 120),
            outcome=WebhookOutcome.REJECTED,
            error=str(exc),
        )
        return Received(400, "malformed delivery", row)
    if parsed.timestamp is not None:
        now = now or timezone.now()
        tolerance = float(get_setting("WEBHOOK_TOLERANCE_SECONDS"))
        if abs((now - parsed.timestamp).total_seconds()) > tolerance:
            _count("stale")
            logger.warning(
                "webhook delivery %s refused: timestamp %s outside the %ss tolerance",
                parsed.delivery_id,
                parsed.timestamp.isoformat(),
                tolerance,
            )
            return Received(400, "timestamp outside tolerance")
    row, created = audit.record_delivery(
        parsed.delivery_id,
        event_type=parsed.event_type,
        event_id=parsed.event_id,
        intent_id=parsed.intent_id,
        thread_id=parsed.thread_id,
        owner_agent=parsed.owner_agent,
        payload=parsed.payload,
    )
    if not created:
        _count("duplicate")
        again = row.outcome == WebhookOutcome.FAILED and row.processed_at is None
        return Received(200, "duplicate delivery", row, process=again)
    return Received(200, "recorded", row, process=True)


# ------------------------------------------------------------------------------ processing

_FINAL = (WebhookOutcome.PROCESSED, WebhookOutcome.IGNORED, WebhookOutcome.REJECTED)


def _apply(client: Any, row: WebhookDelivery) -> str:
    if row.event_type.startswith("inbox.") and row.thread_id:
        answer = client.get_inbox_thread(row.thread_id, owner_agent=row.owner_agent or None)
        thread = answer.get("thread") if isinstance(answer, Mapping) else None
        if not isinstance(thread, Mapping):
            raise ValueError(f"the gateway answered thread {row.thread_id} without a thread")
        ingest_inbox_thread(client, thread)
        return WebhookOutcome.PROCESSED
    if row.intent_id:
        refresh_intent(client, row.intent_id)
        idle.poll_now([row.intent_id])  # an idle intent's wake-up (django_axme.sync.idle)
        return WebhookOutcome.PROCESSED
    return WebhookOutcome.IGNORED


def process_delivery(delivery: int | WebhookDelivery, *, client: Any = None) -> str:
    """Process one recorded delivery; returns its outcome.

    ``inbox.*`` deliveries naming a thread read it from AXME and hand it to
    :func:`django_axme.refresh.ingest_inbox_thread` (which reads the intent first when the
    thread and the mirror disagree); any other delivery naming an intent refreshes it with
    :func:`django_axme.refresh.refresh_intent`; a delivery naming neither is *ignored*. Either
    way an idle intent it names has its idle poll made due now (a wake-up).

    Idempotent: a delivery already processed, ignored or rejected is left alone (the admin's
    *reprocess* resets it first), and processing twice changes nothing the first run did not.
    A retryable gateway error (``AxmeError.retryable``) or an unexpected exception marks the row
    *failed* (still due) and is raised for the caller to retry (the sweep retries it too);
    a refusal by the gateway (other 4xx) or an answer without a thread is recorded as a
    final *failed* outcome and not raised.
    """
    pk = delivery.pk if isinstance(delivery, WebhookDelivery) else delivery
    row = WebhookDelivery.objects.filter(pk=pk).first()
    if row is None:
        return "missing"
    if row.outcome in _FINAL:
        return str(row.outcome)
    if client is None:
        from django_axme import get_client

        client = get_client()
    try:
        outcome = _apply(client, row)
    except Exception as exc:
        if is_retryable(exc) or not isinstance(exc, (AxmeAPIError, ValueError)):
            # Retryable, or unexpected (a database error, a bug): keep the delivery due.
            audit.mark_failed(row.pk, f"{type(exc).__name__}: {exc}")
            raise
        logger.error("webhook delivery %s not processed: %s", row.delivery_id, exc)
        audit.mark_processed(row.pk, WebhookOutcome.FAILED, f"{type(exc).__name__}: {exc}")
        return str(WebhookOutcome.FAILED)
    audit.mark_processed(row.pk, outcome)
    return str(outcome)


def due_deliveries(older_than_seconds: float, limit: int = 1000) -> list[int]:
    """Primary keys of deliveries still to process: recorded (or failed transiently) at
    least ``older_than_seconds`` ago, with fewer than :data:`MAX_ATTEMPTS` attempts; oldest
    first. What the reconcile sweep hands to processing (a crash between recording and
    processing, a lost task message)."""
    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    return list(
        WebhookDelivery.objects.filter(
            outcome__in=(WebhookOutcome.RECEIVED, WebhookOutcome.FAILED),
            processed_at__isnull=True,
            received_at__lte=cutoff,
            attempts__lt=MAX_ATTEMPTS,
        )
        .order_by("received_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def replay_delivery(delivery: WebhookDelivery, *, client: Any = None) -> dict[str, Any]:
    """Ask AXME to deliver the delivery's event again (``replay_webhook_event``); returns the
    gateway's answer (its delivery counters). Raises ``ValueError`` for a delivery without
    an event id, and the client's errors."""
    if not delivery.event_id:
        raise ValueError("this delivery carries no AXME event id to replay")
    if client is None:
        from django_axme import get_client

        client = get_client()
    answer: dict[str, Any] = client.replay_webhook_event(
        delivery.event_id, owner_agent=delivery.owner_agent or None
    )
    return answer
