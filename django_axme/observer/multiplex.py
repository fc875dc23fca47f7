"""Bounded observation slices over many intents, inside one Celery task each.

Design (see ``docs/deployment.rst``): a prefork slot per stream cannot hold a thousand open
intents, so one task holds them all:

- a **reader thread per intent** reads consecutive stream windows (``client.observe_window``)
  from its cursor until a terminal event, and hands each event to a writer queue. Readers never
  touch the database; they block in ``recv`` and cost a socket and a small stack each. The
  first window of each reader has a random length, so that the reconnections at window ends
  are spread over time instead of a thousand at once;
- a few **writer threads** (one on SQLite, whose writers serialise anyway) drain the queues:
  each collects what arrived across all its streams for ``batch_wait`` (a few milliseconds,
  up to ``max_batch`` events) and writes it with one ``sync.ingest_batch`` call (one
  transaction and a fixed number of queries whatever the number of intents; signals in one
  delivery pass after its commit). Intents are sharded over the writers, so one intent's
  events are always ingested by one thread, in order; each writer holds one database
  connection while its slice runs;
- the **task's thread** renews every lease the slice holds with one UPDATE every third of the
  lease, and stops the readers of leases that were lost;
- at the end of a slice, intents ``WAITING`` with no event for ``idle_after`` seconds go idle
  (:func:`django_axme.sync.idle.let_go_quiet`): outcome "idle", lease released, reader
  stopped; the ``poll_idle_intents`` task follows them from then on.

A slice is bounded (``slice_seconds``): its writers stop at the deadline and the task returns
and re-enqueues itself with the same lease token. The readers, and what they delivered in the
meantime, are kept in a per-process **reader pool** keyed by that token, so when the next slice
runs in the same process (always, on a ``threads`` or ``solo`` observer worker) it adopts the
running streams instead of reconnecting a thousand of them. A pool that no slice adopts within
two windows (the next slice ran in another process, or this one is shutting down) stops its
readers; what they held in memory is dropped and read again by the new owner from the
database cursor (``Intent.last_seq``), which only advances on commit. Nothing here sends
signals or writes models directly.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django_axme.models import TERMINAL_STATUSES, Intent
from django_axme.sync import idle, leases

if TYPE_CHECKING:  # pragma: no cover
    from django_axme.client import AxmeClient

logger = logging.getLogger("django_axme.observer")

_TERMINAL_EVENT_TYPES = frozenset(
    {"intent.completed", "intent.failed", "intent.canceled", "intent.timed_out"}
)

#: Reader outcomes.
OPEN, TERMINAL, GONE, FAILED, LOST = "open", "terminal", "gone", "failed", "lost"
IDLE = "idle"  # WAITING and quiet: handed to the idle poll (django_axme.sync.idle)

Event = tuple[str, Mapping[str, Any]]


def _is_terminal(event: Mapping[str, Any]) -> bool:
    status, event_type = event.get("status"), event.get("event_type")
    return status in TERMINAL_STATUSES or event_type in _TERMINAL_EVENT_TYPES


def _describe(exc: BaseException) -> dict[str, Any]:
    """The error as ``Intent.last_error`` stores it (one shape for every path)."""
    from django_axme.services.errors import error_record

    return error_record(exc, operation="observe")


class _Reader(threading.Thread):
    """Reads consecutive windows of one intent's stream until a terminal event, an error that
    a retry cannot fix, a stop request, or its pool is abandoned."""

    def __init__(self, pool: ReaderPool, intent_id: str, since: int) -> None:
        super().__init__(name=f"axme-observe-{intent_id[:8]}", daemon=True)
        self.pool = pool
        self.intent_id = intent_id
        self.since = since
        self.stop = threading.Event()
        self.outcome = OPEN
        self.error: dict[str, Any] | None = None
        self.windows = 0
        #: Set by :meth:`ReaderPool.rewind`: a writer could not ingest what this reader
        #: delivered; the intent stays open and a new reader starts from the stored cursor.
        self.rewound = False

    def run(self) -> None:
        from django_axme.client import AxmeAPIError, AxmeNotFoundError

        pool = self.pool
        failures = 0
        # A random first window spreads the reconnections of many readers over time.
        wait = random.randint(1, pool.window_seconds)
        while not self.stop.is_set() and not pool.abandoned():
            try:
                for event in pool.client.observe_window(
                    self.intent_id, since=self.since, wait_seconds=wait
                ):
                    if self.stop.is_set():
                        return
                    seq = event.get("seq")
                    if isinstance(seq, int) and seq > self.since:
                        self.since = seq
                    pool.deliver(self.intent_id, event)
                    if _is_terminal(event):
                        self.outcome = TERMINAL
                        return
                self.windows += 1
                failures = 0
                wait = pool.window_seconds
            except AxmeNotFoundError as exc:
                self.outcome, self.error = GONE, _describe(exc)
                return
            except AxmeAPIError as exc:
                if not pool.is_transient(exc):
                    self.outcome, self.error = FAILED, _describe(exc)
                    return
                failures += 1
            except Exception as exc:  # transport errors and anything unexpected: back off, retry
                if not pool.is_transient(exc):
                    logger.exception("intent %s: observer reader stopped", self.intent_id)
                    self.outcome, self.error = FAILED, _describe(exc)
                    return
                failures += 1
            if failures:
                delay = min(30.0, 0.5 * 2 ** min(failures, 6)) * random.uniform(0.5, 1.0)
                logger.info(
                    "intent %s: stream failed %d time(s), retrying in %.1f s",
                    self.intent_id,
                    failures,
                    delay,
                )
                if self.stop.wait(delay):
                    return


class ReaderPool:
    """The running readers of one lease token in this process, and their writer queues.

    Lives across slices of the same token (see the module docstring). Thread-safe.
    """

    def __init__(
        self,
        token: str,
        client: AxmeClient,
        *,
        shards: int,
        window_seconds: int,
        on_empty: Callable[[ReaderPool], None],
    ) -> None:
        self.token = token
        self.client = client
        self.window_seconds = max(1, int(window_seconds))
        self.queues: list[queue.Queue[Event]] = [queue.Queue() for _ in range(max(1, shards))]
        self.readers: dict[str, _Reader] = {}
        self.lock = threading.Lock()
        self.adopted_at = time.monotonic()
        self.owned = False  # a slice is running on this pool right now
        self._on_empty = on_empty

    def is_transient(self, exc: BaseException) -> bool:
        """The one retry rule: what the client calls retryable (``AxmeError.retryable``)."""
        from django_axme.services.errors import is_retryable

        return is_retryable(exc)

    def abandoned(self) -> bool:
        """No slice runs this pool, and none adopted it for two windows."""
        return not self.owned and time.monotonic() - self.adopted_at > 2 * self.window_seconds + 5

    def deliver(self, intent_id: str, event: Mapping[str, Any]) -> None:
        self.queues[zlib.crc32(intent_id.encode()) % len(self.queues)].put((intent_id, event))

    def rewind(self, intent_id: str) -> None:
        """Stop and forget ``intent_id``'s reader after its events could not be ingested:
        the intent is reported open, and the next slice starts a new reader from the
        database cursor (``Intent.last_seq``), so the lost events are read again."""
        with self.lock:
            reader = self.readers.pop(intent_id, None)
        if reader is not None:
            reader.rewound = True
            reader.stop.set()

    def adopt(self, cursors: Mapping[str, int]) -> None:
        """Make sure a live reader follows each intent (starting at ``cursors[id]`` when a new
        one is needed); the slice now owns the pool."""
        with self.lock:
            self.owned = True
            self.adopted_at = time.monotonic()
            for intent_id, since in cursors.items():
                reader = self.readers.get(intent_id)
                if reader is not None and (reader.is_alive() or reader.outcome != OPEN):
                    continue
                reader = _Reader(self, intent_id, int(since))
                self.readers[intent_id] = reader
                reader.start()

    def release(self, finished: list[str]) -> None:
        """The slice ends: forget finished readers; the pool waits for the next slice."""
        with self.lock:
            for intent_id in finished:
                reader = self.readers.pop(intent_id, None)
                if reader is not None:
                    reader.stop.set()
            self.owned = False
            self.adopted_at = time.monotonic()
            empty = not self.readers
        if empty:
            self._on_empty(self)

    def stop_all(self) -> None:
        with self.lock:
            for reader in self.readers.values():
                reader.stop.set()


_pools: dict[tuple[int, str], ReaderPool] = {}
_pools_lock = threading.Lock()


def _pool_for(
    token: str, client_factory: Callable[[], AxmeClient], *, shards: int, window_seconds: int
) -> ReaderPool:
    key = (os.getpid(), token)  # never reuse a pool inherited through fork

    def drop(pool: ReaderPool) -> None:
        with _pools_lock:
            if _pools.get(key) is pool:
                del _pools[key]
        pool.client.close()

    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = ReaderPool(
                token,
                client_factory(),
                shards=shards,
                window_seconds=window_seconds,
                on_empty=drop,
            )
            _pools[key] = pool
        return pool


def _sweep_abandoned() -> None:
    """Close the clients of pools whose readers all stopped after being abandoned."""
    with _pools_lock:
        dead = [
            (key, pool)
            for key, pool in _pools.items()
            if pool.abandoned() and not any(r.is_alive() for r in pool.readers.values())
        ]
        for key, _pool in dead:
            del _pools[key]
    for _key, pool in dead:
        pool.client.close()


@dataclass
class SliceReport:
    """What a slice did: per-intent outcome ("open", "terminal", "gone", "failed", "lost",
    "idle"),
    errors of the failed ones, events ingested and ingest calls made."""

    outcomes: dict[str, str] = field(default_factory=dict)
    errors: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: int = 0
    batches: int = 0

    @property
    def still_open(self) -> list[str]:
        return [i for i, o in self.outcomes.items() if o == OPEN]


class _Writer(threading.Thread):
    """Ingests the events of one shard of the intents until the slice deadline (one intent's
    events are always ingested by the same shard, in arrival order). Own database connection,
    closed when the slice ends."""

    def __init__(self, slice_: MultiplexedSlice, inbox: queue.Queue[Event], index: int) -> None:
        super().__init__(name=f"axme-observe-writer-{index}", daemon=True)
        self.slice = slice_
        self.inbox = inbox
        self.done = threading.Event()
        self.events = 0
        self.calls = 0
        self.rewound: set[str] = set()  # intents whose events this slice no longer ingests

    def run(self) -> None:
        from django.db import connection

        try:
            while not self.done.is_set():
                batch = self.slice.next_batch(self.inbox)
                if batch:
                    self._ingest(batch)
        finally:
            connection.close()

    def _ingest(self, batch: list[Event]) -> None:
        """One ``sync.ingest_batch`` call for everything the batch holds, across intents (one
        transaction, a fixed number of queries, signals in one delivery pass after commit)."""
        from django_axme import sync

        groups: dict[str, list[Mapping[str, Any]]] = {}
        for intent_id, event in batch:
            if intent_id not in self.rewound:  # after a gap: the next slice reads them again
                groups.setdefault(intent_id, []).append(event)
        if not groups:
            return
        for attempt in range(3):
            try:
                sync.ingest_batch(groups.items())
                self.events += sum(len(e) for e in groups.values())
                self.calls += 1
                return
            except Exception:
                if attempt < 2:
                    time.sleep(0.1 * (attempt + 1))
                    continue
                # e.g. "database is locked" three times: never skip events (the cursors would
                # jump over them); the next slice reads them again from the stored cursors.
                logger.exception(
                    "could not ingest %d event(s) of %d intent(s) (first %s); the next slice "
                    "re-reads them from the stored cursors",
                    sum(len(e) for e in groups.values()),
                    len(groups),
                    next(iter(groups)),
                )
                for intent_id in groups:
                    self.rewound.add(intent_id)
                    self.slice.pool.rewind(intent_id)


class MultiplexedSlice:
    """Observe many intents for ``slice_seconds`` with one reader thread per stream.

    Create it, then call :meth:`run` from the task's thread. Leases must be claimed by the
    caller for ``token`` first; the slice renews them while it runs and releases those of
    intents that ended (terminal, gone, failed); leases of intents still open stay held for
    the next slice, which should run with the same token.
    """

    def __init__(
        self,
        client_factory: Callable[[], AxmeClient],
        intent_ids: list[str],
        token: str,
        *,
        slice_seconds: float,
        window_seconds: int,
        lease_seconds: float,
        writers: int = 1,
        max_batch: int = 1000,
        batch_wait: float = 0.02,
        idle_after: float = 0.0,
    ) -> None:
        self.intent_ids = list(dict.fromkeys(intent_ids))
        self.idle_after = float(idle_after)
        self.token = token
        self.lease_seconds = lease_seconds
        self.slice_seconds = max(1.0, slice_seconds)
        self.deadline = time.monotonic() + self.slice_seconds
        self.max_batch = max_batch
        self.batch_wait = batch_wait
        self.pool = _pool_for(
            token, client_factory, shards=max(1, writers), window_seconds=window_seconds
        )

    def run(self) -> SliceReport:
        """Run the slice to its deadline (or until every intent ended); return the report."""
        _sweep_abandoned()
        self.deadline = time.monotonic() + self.slice_seconds
        report = SliceReport()
        cursors: dict[str, int] = {
            intent_id: int(seq)
            for intent_id, seq in Intent.objects.filter(intent_id__in=self.intent_ids).values_list(
                "intent_id", "last_seq"
            )
            if intent_id
        }
        for intent_id in self.intent_ids:
            if intent_id not in cursors:
                report.outcomes[intent_id] = GONE
        pool = self.pool
        pool.adopt(cursors)
        readers = {i: pool.readers[i] for i in cursors}
        writers = [_Writer(self, q, n) for n, q in enumerate(pool.queues)]
        for writer in writers:
            writer.start()
        renewed = time.monotonic()
        try:
            while time.monotonic() < self.deadline:
                if not any(r.is_alive() for r in readers.values()) and all(
                    q.empty() for q in pool.queues
                ):
                    break
                time.sleep(0.2)
                if time.monotonic() - renewed > self.lease_seconds / 3:
                    self._renew(readers, report)
                    renewed = time.monotonic()
        finally:
            for writer in writers:
                writer.done.set()
            for writer in writers:
                writer.join()
        report.events = sum(w.events for w in writers)
        report.batches = sum(w.calls for w in writers)
        heard = []
        for intent_id, reader in readers.items():
            if report.outcomes.get(intent_id) == LOST:
                continue
            outcome = OPEN if reader.rewound else reader.outcome
            if outcome != OPEN and not self._drained(intent_id):
                outcome = OPEN  # its last events wait in a queue: the next slice ingests them
            report.outcomes[intent_id] = outcome
            if reader.error and outcome != OPEN:
                report.errors[intent_id] = reader.error
            if reader.windows and outcome == OPEN:
                heard.append(intent_id)
        leases.mark_heard(heard)
        still_open = [i for i, o in report.outcomes.items() if o == OPEN]
        for intent_id in idle.let_go_quiet(still_open, self.token, self.idle_after):
            report.outcomes[intent_id] = IDLE  # its lease is released, its reader stops below
        finished = [i for i, o in report.outcomes.items() if o != OPEN]
        leases.release_leases(self.token, [i for i in finished if report.outcomes[i] != LOST])
        pool.release(finished)
        return report

    def _drained(self, intent_id: str) -> bool:
        """True when none of ``intent_id``'s events wait in a queue (exact once its reader has
        stopped: nothing adds to the queue for it any more)."""
        shard = self.pool.queues[zlib.crc32(intent_id.encode()) % len(self.pool.queues)]
        with shard.mutex:
            return all(item[0] != intent_id for item in shard.queue)

    def next_batch(self, inbox: queue.Queue[Event]) -> list[Event]:
        """Up to ``max_batch`` events: waits up to 0.2 s for the first, then collects what
        arrives within ``batch_wait``."""
        batch: list[Event] = []
        try:
            batch.append(inbox.get(timeout=0.2))
            wait_until = time.monotonic() + self.batch_wait
            while len(batch) < self.max_batch:
                timeout = wait_until - time.monotonic()
                if timeout > 0:
                    batch.append(inbox.get(timeout=timeout))
                else:
                    batch.append(inbox.get_nowait())
        except queue.Empty:
            pass
        return batch

    def _renew(self, readers: dict[str, _Reader], report: SliceReport) -> None:
        """Renew every lease of this slice; stop the readers whose lease was lost."""
        leases.renew_leases(self.token, seconds=self.lease_seconds)
        held = leases.held_by(self.token, readers)
        for intent_id, reader in readers.items():
            if intent_id not in held and reader.outcome == OPEN and reader.is_alive():
                logger.warning("intent %s: observer lease lost; stopping its reader", intent_id)
                reader.stop.set()
                report.outcomes[intent_id] = LOST
