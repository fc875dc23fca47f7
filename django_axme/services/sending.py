"""Sending an outbox row and creating the next attempt of a failed intent.

The Celery tasks (``send_intent``, ``send_retry``) call these and add retries and observers;
any other front end may call them as well.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django_axme.client.errors import AxmeError
from django_axme.services.errors import error_record, record_error_quietly

logger = logging.getLogger("django_axme.tasks")

__all__ = ["SendResult", "create_retry_attempt", "send_outbox_row"]


@dataclass(frozen=True)
class SendResult:
    """What :func:`send_outbox_row` did.

    ``state``: "sent" (created remotely now), "already" (sent before, or a remote row),
    "rejected" (the gateway refused it; recorded on the row, never sent again), "failed" (a
    retryable error, ``error``; the row stays pending), "not_pending" or "gone" (no such
    row). ``intent_id`` is the remote id when there is one.
    """

    state: str
    intent_id: str | None = None
    error: AxmeError | None = None


def send_outbox_row(client: Any, intent_pk: int) -> SendResult:
    """Create an outbox row's intent remotely and mark the row sent (through the writer).

    Idempotent: the request body and idempotency key are the row's, so the gateway answers a
    repeat with the intent it created first. An error the client calls retryable leaves the
    row pending ("failed"); any other client error marks it rejected with ``last_error``
    (:func:`django_axme.services.errors.error_record`), as does an answer without an
    ``intent_id``.
    """
    from django_axme.models import Intent, SendState
    from django_axme.sync import outbox

    row = Intent.objects.filter(pk=intent_pk).first()
    if row is None:
        logger.warning("send_intent: outbox row #%s does not exist (rolled back?)", intent_pk)
        return SendResult("gone")
    if row.send_state in (SendState.SENT, SendState.REMOTE):
        return SendResult("already", row.intent_id)
    if row.send_state != SendState.PENDING:
        return SendResult("not_pending")
    request = outbox.outbox_request(row)
    try:
        answer = client.create_intent(
            request, correlation_id=request["correlation_id"], idempotency_key=row.idempotency_key
        )
    except AxmeError as exc:
        if exc.retryable:
            logger.info("outbox row #%s: send failed (%s); retrying", row.pk, exc)
            return SendResult("failed", error=exc)
        logger.error(
            "outbox row #%s (correlation %s): rejected by the gateway, not retried: %s",
            row.pk,
            row.correlation_id,
            exc,
        )
        outbox.mark_rejected(row, error_record(exc, operation="create_intent"))
        return SendResult("rejected", error=exc)
    if not isinstance(answer, Mapping) or not answer.get("intent_id"):
        logger.error("outbox row #%s: create answer has no intent_id: %r", row.pk, answer)
        outbox.mark_rejected(
            row,
            {
                "operation": "create_intent",
                "category": "api",
                "error": "InvalidAnswer",
                "message": "answer without intent_id",
                "retryable": False,
            },
        )
        return SendResult("rejected")
    intent = outbox.mark_sent(row, request, answer)
    logger.info("outbox row #%s sent as intent %s", row.pk, intent.intent_id)
    return SendResult("sent", intent.intent_id)


def create_retry_attempt(intent_id: str, overrides: Mapping[str, Any] | None = None) -> Any:
    """Create (once per original) the next attempt of a FAILED or TIMED_OUT intent: an outbox
    row with ``attempt + 1``, ``retry_of`` the original, the same correlation id, its own key.

    Returns the attempt row, or ``None`` when the intent is not mirrored, not FAILED/TIMED_OUT
    (logged), or the attempt cannot be built (recorded on the original's ``last_error``).
    Idempotent: a second call returns the same row.
    """
    from django_axme.models import Intent, IntentStatus
    from django_axme.sync import outbox

    original = Intent.objects.filter(intent_id=intent_id).first()
    if original is None or original.status not in (IntentStatus.FAILED, IntentStatus.TIMED_OUT):
        logger.warning(
            "send_retry: intent %s is %s; not retried",
            intent_id,
            original.status if original else "not mirrored",
        )
        return None
    try:
        attempt = outbox.create_retry_attempt(original.pk, overrides)
    except ValueError as exc:
        logger.error("send_retry: intent %s: %s", intent_id, exc)
        record_error_quietly(intent_id, error_record(exc, operation="retry_intent"))
        return None
    logger.info(
        "intent %s: retry attempt %s is outbox row #%s", intent_id, attempt.attempt, attempt.pk
    )
    return attempt
