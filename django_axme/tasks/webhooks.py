"""Celery tasks of the webhooks (re-exported by :mod:`django_axme.tasks`; stable names).
Retries follow the one rule (:func:`django_axme.services.errors.is_retryable`).

- ``django_axme.tasks.process_webhook_delivery``: process one recorded delivery.
- ``django_axme.tasks.reprocess_webhook_deliveries``: the sweep that processes deliveries a
  crash or a lost message left unprocessed (in ``django_axme.celery.beat_schedule``).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from django_axme.celery import PROCESS_WEBHOOK_DELIVERY_TASK, REPROCESS_WEBHOOK_DELIVERIES_TASK
from django_axme.conf import get_setting
from django_axme.tasks._common import is_retryable, retry_later

logger = logging.getLogger("django_axme.webhooks")

__all__ = ["enqueue_delivery", "process_webhook_delivery", "reprocess_webhook_deliveries"]


def enqueue_delivery(pk: int) -> None:
    """Send the processing task of delivery ``pk`` after the current transaction commits
    (at once in autocommit). A broker error is raised to the caller; the row stays due for
    the sweep."""
    from django.db import transaction

    transaction.on_commit(lambda: process_webhook_delivery.apply_async(args=(pk,)))


@shared_task(name=PROCESS_WEBHOOK_DELIVERY_TASK, bind=True, acks_late=True, ignore_result=True)
def process_webhook_delivery(self: Any, delivery_pk: int) -> str:
    """Process one delivery (:func:`django_axme.services.webhooks.process_delivery`);
    idempotent, so a redelivered message does nothing new. A transient gateway error is
    retried with backoff up to ``AXME["TASK_MAX_RETRIES"]`` times, then left to the sweep."""
    from django_axme.services.webhooks import process_delivery

    try:
        return process_delivery(delivery_pk)
    except Exception as exc:
        if not is_retryable(exc):
            raise
        if int(self.request.retries or 0) >= int(get_setting("TASK_MAX_RETRIES")):
            logger.warning("webhook delivery %s: retries exhausted (%s)", delivery_pk, exc)
            return "failed"
        raise retry_later(self, exc) from exc


@shared_task(name=REPROCESS_WEBHOOK_DELIVERIES_TASK, ignore_result=True)
def reprocess_webhook_deliveries(limit: int = 500) -> dict[str, int]:
    """Process deliveries recorded at least ``AXME["WEBHOOK_REPROCESS_AFTER_SECONDS"]`` ago
    and still unprocessed (the worker died, the message was lost, a transient error outlived
    the retries), oldest first, in this task. Returns counts by outcome."""
    from django_axme.services.webhooks import due_deliveries, process_delivery

    counts: dict[str, int] = {}
    for pk in due_deliveries(float(get_setting("WEBHOOK_REPROCESS_AFTER_SECONDS")), limit):
        try:
            outcome = process_delivery(pk)
        except Exception as exc:
            if not is_retryable(exc):
                raise
            logger.info("webhook delivery %s not processed (%s); next sweep", pk, exc)
            outcome = "failed"
        counts[outcome] = counts.get(outcome, 0) + 1
    if counts:
        logger.info("reprocess_webhook_deliveries: %s", counts)
    return counts
