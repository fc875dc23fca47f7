"""Sending tasks: create an outbox row's intent remotely, schedule and create retries."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from celery import shared_task

from django_axme.celery import SEND_INTENT_TASK, SEND_RETRY_TASK
from django_axme.tasks._common import client, retry_later
from django_axme.tasks.observe import start_observing

logger = logging.getLogger("django_axme.tasks")

__all__ = ["retry_intent", "send_intent", "send_retry"]


@shared_task(name=SEND_INTENT_TASK, bind=True, acks_late=True, ignore_result=True)
def send_intent(self: Any, intent_pk: int, observe: bool = True) -> str | None:
    """Create an outbox row's intent remotely, mirror the answer, start observing.

    Idempotent and safe to redeliver: the request body and idempotency key are the row's, so
    the gateway answers any repeat with the intent it created first
    (:func:`django_axme.services.sending.send_outbox_row`). An error the client calls
    retryable (transport, 408, 429, 5xx other than 501/505) retries with backoff; any other
    marks the row ``rejected`` (``last_error``), no retry. Returns the remote intent id, or
    None when the row was rejected or is gone.
    """
    from django_axme.services.sending import send_outbox_row

    result = send_outbox_row(client(), intent_pk)
    if result.state == "failed" and result.error is not None:
        return retry_later(self, result.error)
    if result.state in ("sent", "already") and observe and result.intent_id:
        start_observing([result.intent_id])
    return result.intent_id if result.state in ("sent", "already") else None


def retry_intent(
    intent_id: str,
    countdown: float | None = None,
    eta: datetime | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Any:
    """Schedule a new attempt of a FAILED or TIMED_OUT intent; return the Celery AsyncResult.

    The new attempt is created when the task runs (after ``countdown`` seconds or at ``eta``):
    a new outbox row with ``attempt + 1``, ``retry_of`` = the original, the same correlation
    id, its own idempotency key; ``overrides`` replaces create fields (for example a new
    ``payload`` or ``deadline_at``). Raises ValueError if the intent is unknown or not FAILED
    or TIMED_OUT.
    """
    from django_axme.models import Intent, IntentStatus

    intent = Intent.objects.by_remote_id(intent_id).first()
    if intent is None:
        raise ValueError(f"intent {intent_id} is not in the mirror")
    if intent.status not in (IntentStatus.FAILED, IntentStatus.TIMED_OUT):
        raise ValueError(
            f"only FAILED or TIMED_OUT intents can be retried; {intent_id} is {intent.status}"
        )
    options: dict[str, Any] = {}
    if countdown is not None:
        options["countdown"] = countdown
    if eta is not None:
        options["eta"] = eta
    return send_retry.apply_async(
        args=(intent_id,), kwargs={"overrides": dict(overrides) if overrides else None}, **options
    )


@shared_task(name=SEND_RETRY_TASK, bind=True, acks_late=True, ignore_result=True)
def send_retry(
    self: Any, intent_id: str, overrides: Mapping[str, Any] | None = None, observe: bool = True
) -> str | None:
    """Create (once) the next attempt of a FAILED or TIMED_OUT intent and enqueue its send.

    Idempotent: the attempt row is created only once per original
    (:func:`django_axme.services.sending.create_retry_attempt`), then sent by ``send_intent``
    like any outbox row (same key on every try; a lost message is sent by the reconcile
    sweep). Returns the new attempt's remote id when it was already sent, else None.
    """
    from django_axme.models import SendState
    from django_axme.services.sending import create_retry_attempt

    attempt = create_retry_attempt(intent_id, overrides)
    if attempt is None:
        return None
    if attempt.send_state == SendState.PENDING:
        send_intent.apply_async(args=(attempt.pk,), kwargs={"observe": observe})
    return attempt.intent_id
