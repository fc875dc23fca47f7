"""Ingesting remote intent events: store each once, move the status forward, signal once.

Rules (the same for every path that brings events: stream, poll, ``axme_sync``, reconcile):

1. An event is identified by ``(intent, seq)``. An event already stored is a duplicate: it
   changes nothing and signals nothing.
2. A new event whose ``seq`` is greater than the highest seq applied so far
   (``Intent.last_seq``) is *applied*: if its status (or waiting reason) differs from the
   mirrored one, that is a transition, and it is signalled.
3. A new event with a smaller ``seq`` is *late* (out of order): it is stored for the history
   but never moves the status.
4. A terminal status is final: later events are stored, ``last_seq`` advances, the status
   stays.
5. A batch is one transaction. Within it events are applied in ascending ``seq`` order, and
   its signals are delivered after commit in that order.
6. Malformed events (not an object; ``seq`` missing, not an integer, < 1 or >= 2**31) are
   logged with the intent id and skipped; an unknown status is stored as its raw string and
   logged. Values the database cannot store are cleaned or dropped at the parsing edge
   (:mod:`django_axme.sync.remote`), with a WARNING naming the intent and the field.
7. One bad event never costs the others: should the database still refuse an event (a value
   the parsing edge did not foresee), the batch is inserted again one event per savepoint and
   only the refused event is skipped (logged as an ERROR with the intent id and seq); the
   rest of the batch, its transitions and its signals are kept, and later events of the
   intent are stored as usual.

Concurrency: the intent row is locked (``SELECT ... FOR UPDATE`` on PostgreSQL; the
``IMMEDIATE`` write lock on SQLite) before the stored seqs are read, so concurrent batches
for one intent run one after the other and each sees what the previous one committed.
An event a writer that bypassed the lock stored meanwhile makes the insert fail; the writer
then inserts one event per savepoint and counts that one as a duplicate, so such a writer
never makes ``IntegrityError`` escape. The writing itself is done for many intents at once
by :func:`django_axme.sync.batch.ingest_batch`. Failure modes: a writer
that waits longer than the database lock timeout gets ``OperationalError`` (SQLite
``database is locked`` after the configured ``timeout``; PostgreSQL ``lock_timeout`` if set)
and its whole batch rolls back, so it can simply be retried.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import DataError, IntegrityError
from django.dispatch import Signal

from django_axme import signals
from django_axme.models import (
    TERMINAL_STATUSES,
    Intent,
    IntentEvent,
    IntentStatus,
)
from django_axme.sync.dispatch import Outgoing
from django_axme.sync.remote import RemoteDataError, RemoteEvent, clip, parse_event, storable_id

logger = logging.getLogger("django_axme.sync")

__all__ = ["IngestResult", "Transition", "ingest_events"]

_TERMINAL_SIGNALS: dict[str, Signal] = {
    IntentStatus.COMPLETED: signals.intent_completed,
    IntentStatus.FAILED: signals.intent_failed,
    IntentStatus.CANCELED: signals.intent_canceled,
    IntentStatus.TIMED_OUT: signals.intent_timed_out,
}


@dataclass(frozen=True)
class Transition:
    """One applied change of the mirrored state, caused by ``event``."""

    previous_status: str
    status: str
    previous_waiting_reason: str
    waiting_reason: str
    event: IntentEvent

    @property
    def status_changed(self) -> bool:
        return self.previous_status != self.status


@dataclass
class IngestResult:
    """What one :func:`ingest_events` call did.

    ``stored``: new events written (late ones included); ``transitions``: applied state
    changes in seq order; ``intent``: the saved mirror row; ``duplicates``: events already
    stored (or repeated in the batch); ``skipped``: malformed events; ``late``: new events
    stored without moving the status.
    """

    stored: int
    transitions: list[Transition]
    intent: Intent
    duplicates: int = 0
    skipped: int = 0
    late: int = 0
    created: bool = field(default=False)


def parse_batch(
    raw_events: Iterable[Any], intent_id: str | None
) -> tuple[list[RemoteEvent], int, int]:
    """Well-formed events, unique by seq (first wins), ascending; plus skipped/duplicate counts."""
    by_seq: dict[int, RemoteEvent] = {}
    skipped = duplicates = 0
    for raw in raw_events:
        event = parse_event(raw, intent_id=intent_id)
        if event is None:
            skipped += 1
        elif event.seq in by_seq:
            duplicates += 1
        else:
            by_seq[event.seq] = event
    return [by_seq[s] for s in sorted(by_seq)], skipped, duplicates


def stub_type(events: list[RemoteEvent]) -> str:
    for event in events:
        intent_type = event.details.get("intent_type")
        if isinstance(intent_type, str):
            return clip(intent_type, 255)
    return ""


def ingest_events(intent: Intent | str, events: Iterable[Mapping[str, Any]]) -> IngestResult:
    """Store a batch of remote events of one intent and apply them (see the module docstring).

    A batch of one for :func:`django_axme.sync.batch.ingest_batch` (same queries, same
    guarantees). ``intent`` is a mirror row or a remote intent id; an id not mirrored yet gets
    a new row (and ``intent_created``). Runs in one transaction (a savepoint inside an outer
    one); signals are sent after the outermost commit. Idempotent: replaying any part of a
    history stores nothing new and signals nothing.

    Never raises for bad event data: what cannot be stored is cleaned, dropped or skipped
    (rules 6 and 7 above). Raises :class:`~django_axme.sync.remote.RemoteDataError` (an
    ``AxmeError``, nothing written) for a remote id that cannot be stored (blank, longer than
    64 characters, NUL...) and, as a last resort, when the database refuses the intent row
    itself; ``Intent.DoesNotExist`` for a row that was deleted.
    """
    if not isinstance(intent, Intent) and storable_id(intent) is None:
        logger.warning("ingest_events: unusable remote intent id %.80r; nothing stored", intent)
        raise RemoteDataError(f"unusable remote intent id {clip(intent, 80)!r}")
    if isinstance(intent, Intent) and intent.pk is None:
        raise ValueError("ingest_events() needs a saved Intent or a remote intent id")
    from django_axme.sync.batch import ingest_batch

    results = ingest_batch([(intent, events)])
    if not results:
        raise Intent.DoesNotExist(f"intent row {getattr(intent, 'pk', intent)} does not exist")
    return results[0]


#: What the database (or the driver, while adapting a value) raises for a value it cannot
#: store; lock timeouts and lost connections (``OperationalError``) are not among them.
REFUSED = (DataError, IntegrityError, ValueError, OverflowError, TypeError)


def event_row(row: Intent, e: RemoteEvent) -> IntentEvent:
    return IntentEvent(
        intent=row,
        seq=e.seq,
        event_type=e.event_type,
        status=e.status,
        waiting_reason=e.waiting_reason,
        actor=e.actor,
        at=e.at,
        details=e.details,
        raw=e.raw,
    )


def apply_events(row: Intent, new_events: list[IntentEvent]) -> tuple[list[Transition], int]:
    """Move ``row`` forward through the new events with seq > last_seq (mutates ``row``)."""
    transitions: list[Transition] = []
    late = 0
    for event in new_events:
        if event.seq <= row.last_seq:
            late += 1
            logger.info(
                "intent %s: late event seq %s (applied up to %s) stored without a status change",
                row.intent_id,
                event.seq,
                row.last_seq,
            )
            continue
        row.last_seq = event.seq
        if row.status in TERMINAL_STATUSES or not event.status:
            continue
        _copy_outcome(row, event)
        previous = (row.status, row.waiting_reason)
        current = (event.status, event.waiting_reason)
        if previous == current:
            continue
        row.status, row.waiting_reason = current
        transitions.append(
            Transition(
                previous_status=previous[0],
                status=current[0],
                previous_waiting_reason=previous[1],
                waiting_reason=current[1],
                event=event,
            )
        )
    return transitions, late


def _copy_outcome(row: Intent, event: IntentEvent) -> None:
    if event.status not in TERMINAL_STATUSES:
        return
    if isinstance(event.details.get("result"), Mapping):
        row.result = dict(event.details["result"])
    if isinstance(event.details.get("error"), Mapping):
        row.error = dict(event.details["error"])


def _notable(row: Intent, new_events: list[IntentEvent]) -> list[Outgoing]:
    """``intent_event_received`` for each newly stored event of a notable type (once: an
    event is new only the first time it is stored)."""
    return [
        Outgoing(signals.intent_event_received, intent=row, event=event)
        for event in new_events
        if event.event_type in signals.NOTABLE_EVENT_TYPES
    ]


def _signals_of(row: Intent, transitions: list[Transition]) -> list[Outgoing]:
    """The signals of each transition, in order."""
    out: list[Outgoing] = []
    for t in transitions:
        if t.status_changed:
            out.append(
                Outgoing(
                    signals.intent_status_changed,
                    intent=row,
                    event=t.event,
                    previous_status=t.previous_status,
                    status=t.status,
                )
            )
        if t.status == IntentStatus.WAITING:
            out.append(Outgoing(signals.intent_waiting, intent=row, event=t.event))
        terminal = _TERMINAL_SIGNALS.get(t.status)
        if terminal is not None:
            out.append(Outgoing(terminal, intent=row, event=t.event))
    return out
