"""One stream window of one intent, ingested event by event."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django_axme.models import TERMINAL_STATUSES, Intent
from django_axme.sync import leases

if TYPE_CHECKING:  # pragma: no cover
    from django_axme.client import AxmeClient


@dataclass(frozen=True)
class SingleSliceResult:
    """``state``: "terminal", "open" (call again), "busy" (another observer holds the lease)
    or "unknown" (not in the mirror). ``events``: events handed to the writer."""

    state: str
    events: int = 0
    last_seq: int = 0


def observe_window_slice(
    client: AxmeClient,
    intent_id: str,
    token: str,
    *,
    window_seconds: int,
    lease_seconds: float,
) -> SingleSliceResult:
    """Claim the lease, read one stream window from the stored cursor, ingest each event.

    Each event is ingested in its own transaction as soon as it arrives (signals follow each
    commit), so the cursor in the database never lags behind what was signalled. The lease
    is renewed while the window runs and is left held on return (the caller re-enqueues the
    next slice with the same token, or releases it). Client errors propagate to the caller.
    """
    from django_axme import sync

    row = Intent.objects.filter(intent_id=intent_id).only("status", "last_seq").first()
    if row is None:
        return SingleSliceResult("unknown")
    if row.status in TERMINAL_STATUSES:
        return SingleSliceResult("terminal", last_seq=row.last_seq)
    if not leases.claim_lease(intent_id, token, seconds=lease_seconds):
        return SingleSliceResult("busy", last_seq=row.last_seq)
    since = row.last_seq
    count = 0
    renewed = time.monotonic()
    status = row.status
    for event in client.observe_window(intent_id, since=since, wait_seconds=window_seconds):
        result = sync.ingest_events(intent_id, [event])
        count += 1
        status = result.intent.status
        since = result.intent.last_seq
        if time.monotonic() - renewed > lease_seconds / 3:
            leases.claim_lease(intent_id, token, seconds=lease_seconds)
            renewed = time.monotonic()
    if count == 0:
        leases.mark_heard([intent_id])
    state = "terminal" if status in TERMINAL_STATUSES else "open"
    return SingleSliceResult(state, events=count, last_seq=since)
