"""One bounded observation slice over many intents, inside one Celery task.

Design (see ``docs/deployment.rst``): a prefork slot per stream cannot hold a thousand open
intents, so one task holds them all:

- a **reader thread per intent** reads consecutive stream windows (``client.observe_window``)
  until the slice deadline or a terminal event, and puts each event on a queue. Readers never
  touch the database; they block in ``recv`` and cost a socket and a small stack each;
- a few **writer threads** (one on SQLite, whose writers serialise anyway) drain the queues in
  small batches and ingest each intent's events through ``sync.ingest_events`` (one
  transaction per intent and batch; signals right after its commit). Intents are sharded over
  the writers, so one intent's events are always ingested by one thread, in order; each
  writer holds one database connection;
- the **calling thread** renews every lease the slice holds with one UPDATE every third of
  the lease, and stops the readers of leases that were lost.

The database cursor (``Intent.last_seq``) is read once when the slice starts; readers keep an
in-memory cursor for the windows that follow. Whatever a reader delivered but the writer did
not commit (a kill, a database error) is read again by the next slice from the database
cursor. Nothing here sends signals or writes models directly.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django_axme.models import TERMINAL_STATUSES, Intent
from django_axme.sync import leases

if TYPE_CHECKING:  # pragma: no cover
    from django_axme.client import AxmeClient

logger = logging.getLogger("django_axme.observer")

_TERMINAL_EVENT_TYPES = frozenset(
    {"intent.completed", "intent.failed", "intent.canceled", "intent.timed_out"}
)

#: Reader outcomes.
OPEN, TERMINAL, GONE, FAILED, LOST = "open", "terminal", "gone", "failed", "lost"


def _is_terminal(event: Mapping[str, Any]) -> bool:
    status, event_type = event.get("status"), event.get("event_type")
    return status in TERMINAL_STATUSES or event_type in _TERMINAL_EVENT_TYPES


class _Reader(threading.Thread):
    """Reads consecutive windows of one intent's stream until the deadline or a terminal event."""

    def __init__(
        self,
        slice_: MultiplexedSlice,
        intent_id: str,
        since: int,
    ) -> None:
        super().__init__(name=f"axme-observe-{intent_id[:8]}", daemon=True)
        self.slice = slice_
        self.intent_id = intent_id
        self.since = since
        self.stop = threading.Event()
        self.outcome = OPEN
        self.error: dict[str, Any] | None = None
        self.windows = 0

    def run(self) -> None:
        from django_axme.client import AxmeAPIError, AxmeNotFoundError

        s = self.slice
        failures = 0
        while not self.stop.is_set() and not s.stopping.is_set():
            remaining = s.deadline - time.monotonic()
            if remaining < 1:
                return
            wait = max(1, min(s.window_seconds, int(remaining)))
            try:
                for event in s.client.observe_window(
                    self.intent_id, since=self.since, wait_seconds=wait
                ):
                    seq = event.get("seq")
                    if isinstance(seq, int) and seq > self.since:
                        self.since = seq
                    s.deliver(self.intent_id, event)
                    if _is_terminal(event):
                        self.outcome = TERMINAL
                        return
                self.windows += 1
                failures = 0
            except AxmeNotFoundError as exc:
                self.outcome, self.error = GONE, s.describe(exc)
                return
            except AxmeAPIError as exc:
                if not s.is_transient(exc):
                    self.outcome, self.error = FAILED, s.describe(exc)
                    return
                failures += 1
            except Exception as exc:  # transport errors and anything unexpected: back off, retry
                if not s.is_transient(exc):
                    logger.exception("intent %s: observer reader stopped", self.intent_id)
                    self.outcome, self.error = FAILED, s.describe(exc)
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
                if self.stop.wait(min(delay, max(0.0, s.deadline - time.monotonic()))):
                    return


@dataclass
class SliceReport:
    """What a slice did: per-intent outcome ("open", "terminal", "gone", "failed", "lost"),
    errors of the failed ones, events ingested and ingest calls made."""

    outcomes: dict[str, str] = field(default_factory=dict)
    errors: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: int = 0
    batches: int = 0

    @property
    def still_open(self) -> list[str]:
        return [i for i, o in self.outcomes.items() if o == OPEN]


class _Writer(threading.Thread):
    """Ingests the events of its share of the intents (a fixed shard: one intent's events are
    always ingested by the same writer, in arrival order). Own database connection."""

    def __init__(self, slice_: MultiplexedSlice, index: int) -> None:
        super().__init__(name=f"axme-observe-writer-{index}", daemon=True)
        self.slice = slice_
        self.inbox: queue.Queue[tuple[str, Mapping[str, Any]]] = queue.Queue()
        self.readers_done = threading.Event()
        self.events = 0
        self.calls = 0

    def run(self) -> None:
        from django.db import connection

        try:
            while True:
                batch = self.slice.next_batch(self.inbox, block=not self.readers_done.is_set())
                if batch:
                    self._ingest(batch)
                elif self.readers_done.is_set() and self.inbox.empty():
                    return
        finally:
            connection.close()

    def _ingest(self, batch: list[tuple[str, Mapping[str, Any]]]) -> None:
        """One ``sync.ingest_events`` call (one transaction, signals after its commit) per
        intent in the batch, in first-arrival order."""
        from django_axme import sync

        groups: dict[str, list[Mapping[str, Any]]] = {}
        for intent_id, event in batch:
            groups.setdefault(intent_id, []).append(event)
        for intent_id, events in groups.items():
            for attempt in range(3):
                try:
                    sync.ingest_events(intent_id, events)
                    self.events += len(events)
                    self.calls += 1
                    break
                except Exception:
                    if attempt == 2:
                        logger.exception(
                            "intent %s: could not ingest %d event(s); the next slice re-reads "
                            "them from the stored cursor",
                            intent_id,
                            len(events),
                        )
                    else:
                        time.sleep(0.1 * (attempt + 1))


class MultiplexedSlice:
    """Observe many intents for up to ``slice_seconds`` with one reader thread per stream.

    Create it, then call :meth:`run` from the task's thread. Leases must be claimed by the
    caller for ``token`` first; the slice renews them while running (from the calling thread)
    and releases those of intents that ended (terminal, gone, failed); leases of intents still
    open stay held for the next slice. ``writers`` threads ingest (each intent always by the
    same one, so its events stay in order); each holds one database connection.
    """

    def __init__(
        self,
        client: AxmeClient,
        intent_ids: list[str],
        token: str,
        *,
        slice_seconds: float,
        window_seconds: int,
        lease_seconds: float,
        writers: int = 1,
        max_batch: int = 200,
        batch_wait: float = 0.02,
    ) -> None:
        from django_axme.client import AxmeRateLimitError, AxmeServerError, AxmeTransportError

        self._transient = (AxmeTransportError, AxmeRateLimitError, AxmeServerError)
        self.client = client
        self.intent_ids = list(dict.fromkeys(intent_ids))
        self.token = token
        self.window_seconds = max(1, int(window_seconds))
        self.lease_seconds = lease_seconds
        self.deadline = time.monotonic() + max(1.0, slice_seconds)
        self.max_batch = max_batch
        self.batch_wait = batch_wait
        self.writers = [_Writer(self, i) for i in range(max(1, writers))]
        self.stopping = threading.Event()

    def is_transient(self, exc: BaseException) -> bool:
        return isinstance(exc, self._transient)

    @staticmethod
    def describe(exc: BaseException) -> dict[str, Any]:
        return {
            "error": type(exc).__name__,
            "message": str(exc),
            "status_code": getattr(exc, "status_code", None),
        }

    def stop(self) -> None:
        """Ask every reader to stop after its current window (used on worker shutdown)."""
        self.stopping.set()

    def deliver(self, intent_id: str, event: Mapping[str, Any]) -> None:
        """Hand one event from a reader to the writer that owns the intent."""
        self.writers[zlib.crc32(intent_id.encode()) % len(self.writers)].inbox.put(
            (intent_id, event)
        )

    def run(self) -> SliceReport:
        """Run the slice to its deadline (or until every intent ended); return the report."""
        report = SliceReport()
        cursors = dict(
            Intent.objects.filter(intent_id__in=self.intent_ids).values_list(
                "intent_id", "last_seq"
            )
        )
        readers = {
            intent_id: _Reader(self, intent_id, int(cursors[intent_id]))
            for intent_id in self.intent_ids
            if intent_id in cursors
        }
        for intent_id in self.intent_ids:
            if intent_id not in readers:
                report.outcomes[intent_id] = GONE
        for writer in self.writers:
            writer.start()
        for reader in readers.values():
            reader.start()
        renewed = time.monotonic()
        try:
            while any(r.is_alive() for r in readers.values()):
                time.sleep(0.2)
                if time.monotonic() - renewed > self.lease_seconds / 3:
                    self._renew(readers, report)
                    renewed = time.monotonic()
        finally:
            self.stopping.set()
            for reader in readers.values():
                reader.join(timeout=1.0)
            for writer in self.writers:
                writer.readers_done.set()
            for writer in self.writers:
                writer.join()
        report.events = sum(w.events for w in self.writers)
        report.batches = sum(w.calls for w in self.writers)
        heard = []
        for intent_id, reader in readers.items():
            if report.outcomes.get(intent_id) == LOST:
                continue
            report.outcomes[intent_id] = reader.outcome
            if reader.error:
                report.errors[intent_id] = reader.error
            if reader.windows and reader.outcome == OPEN:
                heard.append(intent_id)
        leases.mark_heard(heard)
        ended = [i for i, o in report.outcomes.items() if o not in (OPEN, LOST)]
        leases.release_leases(self.token, ended)
        return report

    def next_batch(
        self, inbox: queue.Queue[tuple[str, Mapping[str, Any]]], *, block: bool
    ) -> list[tuple[str, Mapping[str, Any]]]:
        """Up to ``max_batch`` events: waits up to 0.2 s for the first (when ``block``), then
        collects what arrives within ``batch_wait``."""
        batch: list[tuple[str, Mapping[str, Any]]] = []
        try:
            if block:
                batch.append(inbox.get(timeout=0.2))
                wait_until = time.monotonic() + self.batch_wait
            else:
                wait_until = time.monotonic()
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
