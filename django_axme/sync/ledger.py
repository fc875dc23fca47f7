"""Writes to the idempotency ledger (the reads live in :mod:`django_axme.ledger`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from django_axme.models import IdempotencyRecord

__all__ = ["store_answer"]


def store_answer(
    key: str, operation: str, fingerprint: str, response: dict[str, Any], *, ttl_seconds: float
) -> IdempotencyRecord:
    """Upsert the ledger row of ``key``: operation, fingerprint, answer, expiry now + TTL.

    An existing row (expired, or replaced after a mismatch the caller chose to proceed with)
    is overwritten, and ``created_at`` restarts. Safe under concurrency: two writers of the
    same key end with one row holding one of their answers.
    """
    now = timezone.now()
    with transaction.atomic():
        row, _created = IdempotencyRecord.objects.update_or_create(
            key=key[:255],
            defaults={
                "operation": operation[:255],
                "fingerprint": fingerprint[:64],
                "response": response,
                "expires_at": now + dt.timedelta(seconds=ttl_seconds),
                "created_at": now,
            },
        )
    return row
