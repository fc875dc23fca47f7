"""Retention: deleting old mirror rows in bounded batches.

Each batch is its own transaction and touches at most ``batch_size`` primary keys of the
model being pruned (read as a list of ids, then deleted by id), so memory stays bounded
whatever the table size and a long prune never holds one long transaction. Deleting an
intent also deletes its events, approvals and decisions (cascade), inside its batch.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from django_axme.conf import get_setting
from django_axme.models import (
    TERMINAL_STATUSES,
    IdempotencyRecord,
    Intent,
    IntentEvent,
    SendState,
    WebhookDelivery,
)

logger = logging.getLogger("django_axme.sync")

__all__ = ["PruneCounts", "prunable_querysets", "prunable_webhook_deliveries", "prune"]


@dataclass
class PruneCounts:
    """Rows deleted (or, for a dry run, that would be deleted)."""

    intents: int = 0
    events: int = 0
    ledger: int = 0
    batches: int = 0
    webhooks: int = 0


def prunable_webhook_deliveries(
    *, now: dt.datetime, retention_days: int
) -> models.QuerySet[WebhookDelivery]:
    """Webhook deliveries (the audit log) received more than ``retention_days`` ago."""
    return WebhookDelivery.objects.filter(received_at__lt=now - dt.timedelta(days=retention_days))


def prunable_querysets(
    *, now: dt.datetime, retention_days: int
) -> tuple[
    models.QuerySet[Intent], models.QuerySet[IntentEvent], models.QuerySet[IdempotencyRecord]
]:
    """What a prune deletes:

    - closed intents (terminal status, or rejected by the gateway before it took them) not
      updated for ``retention_days``;
    - events received more than ``retention_days`` ago (whatever their intent's state);
    - idempotency ledger rows that expired.
    """
    cutoff = now - dt.timedelta(days=retention_days)
    closed = Q(status__in=list(TERMINAL_STATUSES)) | Q(send_state=SendState.REJECTED)
    intents = Intent.objects.filter(closed, updated_at__lt=cutoff)
    events = IntentEvent.objects.filter(received_at__lt=cutoff)
    ledger = IdempotencyRecord.objects.filter(expires_at__lte=now)
    return intents, events, ledger


def _delete_in_batches(
    queryset: models.QuerySet, batch_size: int, on_batch: Callable[[dict[str, int]], None]
) -> int:
    label = queryset.model._meta.label
    total = 0
    while True:
        with transaction.atomic():
            pks = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not pks:
                return total
            _count, per_model = queryset.model._default_manager.filter(pk__in=pks).delete()
        total += per_model.get(label, 0)
        on_batch(per_model)


def prune(
    *,
    retention_days: int | None = None,
    batch_size: int | None = None,
    dry_run: bool = False,
    now: dt.datetime | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> PruneCounts:
    """Delete what :func:`prunable_querysets` selects, in batches (see module doc).

    Defaults come from ``RETENTION_DAYS`` and ``PRUNE_BATCH_SIZE``. ``dry_run`` only counts.
    ``progress(model_label, rows_in_batch)`` is called after each committed batch.
    Sends no signal.
    """
    days = int(get_setting("RETENTION_DAYS") if retention_days is None else retention_days)
    size = int(get_setting("PRUNE_BATCH_SIZE") if batch_size is None else batch_size)
    if days < 0:
        raise ValueError(f"retention_days must be >= 0, got {days}")
    if size < 1:
        raise ValueError(f"batch_size must be >= 1, got {size}")
    now = now or timezone.now()
    intents, events, ledger = prunable_querysets(now=now, retention_days=days)
    deliveries = prunable_webhook_deliveries(now=now, retention_days=days)
    counts = PruneCounts()
    if dry_run:
        counts.intents = intents.count()
        counts.events = IntentEvent.objects.filter(
            Q(pk__in=events.values("pk")) | Q(intent__in=intents.values("pk"))
        ).count()
        counts.ledger = ledger.count()
        counts.webhooks = deliveries.count()
        return counts

    event_label = IntentEvent._meta.label

    def on_batch(per_model: dict[str, int]) -> None:
        counts.batches += 1
        counts.events += per_model.get(event_label, 0)
        if progress is not None:
            for label, n in per_model.items():
                progress(label, n)

    counts.intents = _delete_in_batches(intents, size, on_batch)
    _delete_in_batches(events, size, on_batch)  # counted through on_batch
    counts.ledger = _delete_in_batches(ledger, size, on_batch)
    counts.webhooks = _delete_in_batches(deliveries, size, on_batch)
    logger.info(
        "pruned %s intents, %s events, %s ledger rows, %s webhook deliveries in %s batches",
        counts.intents,
        counts.events,
        counts.ledger,
        counts.webhooks,
        counts.batches,
    )
    return counts
