"""The webhook audit log: writes of :class:`~django_axme.models.WebhookDelivery` rows.

These rows are not the mirror: recording a delivery changes no intent or approval and sends
no signal. Processing a delivery (``django_axme.services.webhooks``) reads AXME and hands the
answer to the mirror's writers; the functions here only note what happened to the delivery.
Nothing here calls the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from django_axme.models import WebhookDelivery, WebhookOutcome
from django_axme.sync.remote import clip

__all__ = ["mark_failed", "mark_processed", "record_delivery", "reset_for_reprocessing"]

#: Longest error text kept on a row.
MAX_ERROR_CHARS = 2000


def record_delivery(
    delivery_id: str,
    *,
    event_type: str = "",
    event_id: str = "",
    intent_id: str = "",
    thread_id: str = "",
    owner_agent: str = "",
    payload: Mapping[str, Any] | None = None,
    verified: bool = True,
    outcome: str = WebhookOutcome.RECEIVED,
    error: str = "",
) -> tuple[WebhookDelivery, bool]:
    """Store a verified delivery once per ``delivery_id``; returns ``(row, created)``.

    Idempotent and safe under concurrency: a second call with the same id (a duplicate
    delivery, even one racing the first in another process) creates nothing and returns the
    existing row with ``created=False``. The insert commits on return in autocommit (one
    statement); inside a caller's transaction it runs in a savepoint, so a duplicate leaves
    that transaction usable. Text fields are clipped to their column sizes.
    """
    fields: dict[str, Any] = {
        "event_type": clip(event_type, 120) or "",
        "event_id": clip(event_id, 64) or "",
        "intent_id": clip(intent_id, 64) or "",
        "thread_id": clip(thread_id, 64) or "",
        "owner_agent": clip(owner_agent, 255) or "",
        "payload": dict(payload) if payload is not None else None,
        "verified": verified,
        "outcome": outcome,
        "error": clip(error, MAX_ERROR_CHARS) or "",
    }
    if outcome != WebhookOutcome.RECEIVED:
        fields["processed_at"] = timezone.now()
    try:
        if transaction.get_connection().in_atomic_block:
            with transaction.atomic():  # a savepoint: a duplicate must not break the caller's
                row = WebhookDelivery.objects.create(delivery_id=delivery_id, **fields)
        else:  # autocommit: one INSERT, committed by itself (the view's usual case)
            row = WebhookDelivery.objects.create(delivery_id=delivery_id, **fields)
        return row, True
    except IntegrityError:
        existing = WebhookDelivery.objects.filter(delivery_id=delivery_id).first()
        if existing is None:  # pragma: no cover - the conflicting row vanished (pruned)
            raise
        return existing, False


def mark_processed(pk: int, outcome: str = WebhookOutcome.PROCESSED, error: str = "") -> int:
    """Note that processing of delivery ``pk`` ended with ``outcome`` (processed, ignored or
    rejected); counts one attempt. Returns the number of rows updated (0: pruned)."""
    return WebhookDelivery.objects.filter(pk=pk).update(
        outcome=outcome,
        processed_at=timezone.now(),
        error=clip(error, MAX_ERROR_CHARS) or "",
        attempts=F("attempts") + 1,
    )


def mark_failed(pk: int, error: str) -> int:
    """Note a failed processing attempt of delivery ``pk`` (it stays due for the sweep and for
    the task's retries). Returns the number of rows updated."""
    return WebhookDelivery.objects.filter(pk=pk).update(
        outcome=WebhookOutcome.FAILED,
        processed_at=None,
        error=clip(error, MAX_ERROR_CHARS) or "",
        attempts=F("attempts") + 1,
    )


def reset_for_reprocessing(pks: list[int]) -> int:
    """Mark deliveries ``pks`` as received again (the admin's *reprocess*), keeping their
    payload and attempts; returns how many rows changed."""
    return WebhookDelivery.objects.filter(pk__in=pks).update(
        outcome=WebhookOutcome.RECEIVED, processed_at=None, error=""
    )
