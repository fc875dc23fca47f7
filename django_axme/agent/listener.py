"""The durable listener of one served agent address (protocol 4.3; issue 17).

One :class:`Listener` per address follows ``GET /v1/agents/{address}/intents/stream`` window
after window (``since`` = the cursor stored in the database, each window ending with
``stream.timeout``). Guarantees:

- **one listener per address**: it only reads while it holds the address's lease
  (:class:`~django_axme.models.AgentListener`, renewed before every window); a killed listener
  stops renewing and another one takes over when the lease expires, from the stored cursor;
- **nothing lost, nothing doubled**: the items that arrived (all of them while the writer was
  busy, at most :data:`BATCH_SIZE`) are mirrored and the cursor advanced in ONE transaction
  (:func:`django_axme.sync.agent_receive.receive_batch`); a crash between the two is
  impossible, a redelivered item creates nothing new; a listener that lost its lease writes
  nothing;
- **handed over once**: the new jobs of a batch are handed to ``enqueue_many`` after its
  transaction committed (by default :func:`enqueue_jobs`: Celery messages
  ``django_axme.tasks.run_agent_handlers`` of up to 100 jobs; with only ``enqueue`` given, one
  call per job); jobs whose message or worker was lost are handed over again (one
  ``run_agent_handler`` each) by :meth:`Listener.sweep` after their lease expired;
- **mesh presence**: every ``AXME["AGENT_HEARTBEAT_SECONDS"]`` it sends the mesh heartbeat of
  the address with the metrics of its jobs.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections

from django_axme.agent.handlers import autodiscover, registry
from django_axme.client.agents import _agent_path
from django_axme.services import agent as services
from django_axme.sync import agent as writer
from django_axme.sync.agent_receive import receive_batch

logger = logging.getLogger("django_axme.agent")

__all__ = ["Listener", "enqueue_job", "enqueue_jobs"]

#: Most items mirrored in one transaction.
BATCH_SIZE = 500


def enqueue_job(job_pk: int) -> None:
    """Hand a job to the Celery task ``django_axme.tasks.run_agent_handler``."""
    from django_axme.agent.tasks import run_agent_handler

    run_agent_handler.apply_async((job_pk,))


def enqueue_jobs(job_pks: list[int]) -> None:
    """Hand new jobs to workers: one ``django_axme.tasks.run_agent_handlers`` message per
    chunk (:func:`django_axme.agent.tasks.enqueue_jobs`)."""
    from django_axme.agent.tasks import enqueue_jobs as send

    send(job_pks)


class _Reader:
    """Takes a stream window's items off the stream on a thread of its own (reading blocks),
    so the listener can write what has arrived while more arrives. No database access here.
    The thread ends with the window (its wall-clock deadline) or after the next item once
    :meth:`stop` was called."""

    def __init__(self, events: Any) -> None:
        self._events = events
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._stopped = threading.Event()
        self._done: tuple[str, Any] | None = None
        self._thread = threading.Thread(target=self._run, name="axme-agent-reader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        end: tuple[str, Any] = ("end", None)
        try:
            for item in self._events:
                self._queue.put(("item", item))
                if self._stopped.is_set():
                    break
        except BaseException as exc:  # handed to the listener's thread
            end = ("error", exc)
        finally:
            close = getattr(self._events, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # pragma: no cover - closing a dead stream
                    logger.debug("closing the agent stream failed", exc_info=True)
            self._queue.put(end)

    def take(self, limit: int) -> list[dict[str, Any]] | None:
        """The items arrived so far (waiting for the first one, at most ``limit``); ``None``
        at the end of the window. Re-raises the stream's error after the items before it."""
        if self._done is None:
            batch: list[dict[str, Any]] = []
            kind, value = self._queue.get()
            while True:
                if kind != "item":
                    self._done = (kind, value)
                    break
                if isinstance(value, dict):
                    batch.append(value)
                if len(batch) >= limit:
                    break
                try:
                    kind, value = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                return batch
        assert self._done is not None
        if self._done[0] == "error":
            raise self._done[1]
        return None

    def stop(self, timeout: float = 120.0) -> None:
        self._stopped.set()
        self._thread.join(timeout)


def _setting(name: str) -> Any:
    from django_axme.conf import get_setting

    return get_setting(name)


class Listener:
    """Follows one agent address; see the module docstring."""

    def __init__(
        self,
        address: str,
        *,
        client: Any = None,
        enqueue: Callable[[int], None] | None = None,
        enqueue_many: Callable[[list[int]], None] | None = None,
        batch_size: int = BATCH_SIZE,
        window_seconds: int | None = None,
        lease_seconds: float | None = None,
        heartbeat_seconds: float | None = None,
        holder: str | None = None,
    ) -> None:
        if not isinstance(address, str) or not address.startswith("agent://"):
            raise ValueError(f"address must be an agent:// address, got {address!r}")
        self.address = address
        self._client = client
        self.enqueue = enqueue or enqueue_job
        if enqueue_many is None:
            if enqueue is None:
                enqueue_many = enqueue_jobs
            else:
                one = enqueue

                def enqueue_many(pks: list[int]) -> None:
                    for pk in pks:
                        one(pk)

        self.enqueue_many = enqueue_many
        self.batch_size = max(1, int(batch_size))
        self.window_seconds = int(window_seconds or _setting("AGENT_WINDOW_SECONDS"))
        self.lease_seconds = float(lease_seconds or _setting("AGENT_LEASE_SECONDS"))
        if self.lease_seconds <= self.window_seconds:
            raise ValueError("the listener lease must be longer than one window")
        self.heartbeat_seconds = float(
            heartbeat_seconds
            if heartbeat_seconds is not None
            else _setting("AGENT_HEARTBEAT_SECONDS")
        )
        self.token = uuid.uuid4().hex
        from django_axme.agent.runner import worker_name

        self.holder = holder or worker_name()
        self.received = 0
        self._last_heartbeat = 0.0
        self._path = f"/v1/agents/{_agent_path(address)}/intents/stream"

    @property
    def client(self) -> Any:
        if self._client is None:
            from django_axme.conf import get_client

            self._client = get_client()
        return self._client

    def claim(self) -> bool:
        """Claim or renew the address lease; False when another live listener holds it."""
        return writer.claim_listener(self.address, self.token, self.holder, self.lease_seconds)

    def release(self) -> None:
        writer.release_listener(self.address, self.token)

    def run_window(self) -> int:
        """Read one stream window if the lease is held; returns the items mirrored (0 when the
        lease is held by another listener). Raises client errors of opening the stream.

        A reader thread takes the items off the stream as they come; this thread mirrors
        whatever has arrived in one transaction (:func:`django_axme.sync.agent_receive.\
receive_batch`, at most :attr:`batch_size` items), hands the new jobs over after the commit,
        and takes the next batch, so a burst is written in a few transactions while a trickle is
        written item by item without waiting."""
        if not self.claim():
            return 0
        since = writer.listener_cursor(self.address)
        events = self.client._stream_window(
            self._path,
            params={"since": str(since), "wait_seconds": str(self.window_seconds)},
            wait_seconds=self.window_seconds,
            trace_id=None,
            context=f"agent {self.address}",
        )
        reader = _Reader(events)
        handled = 0
        try:
            while True:
                batch = reader.take(self.batch_size)
                if batch is None:
                    break
                fresh = []
                for item in batch:
                    seq = item.get("seq")
                    if isinstance(seq, int) and not isinstance(seq, bool):
                        if seq <= since:
                            continue
                        since = max(since, seq)
                    fresh.append(item)
                if not fresh:
                    continue
                jobs = receive_batch(
                    fresh, address=self.address, token=self.token, handler_of=self._handler_of
                )
                handled += len(fresh)
                if jobs:
                    self.enqueue_many(jobs)
        finally:
            reader.stop()
        self.received += handled
        return handled

    def _handler_of(self, intent_type: str) -> str:
        found = registry.lookup(intent_type, self.address) if intent_type else None
        return found.name if found else ""

    def sweep(self) -> int:
        """Hand over again the jobs whose worker or message was lost (lease expired) and the
        waits whose time has come; returns how many."""
        due = writer.due_jobs(stale_pending_seconds=float(_setting("AGENT_JOB_LEASE_SECONDS")))
        for pk in due:
            self.enqueue(pk)
        return len(due)

    def heartbeat_if_due(self) -> bool:
        if self.heartbeat_seconds <= 0:
            return False
        now = time.monotonic()
        if now - self._last_heartbeat < self.heartbeat_seconds:
            return False
        self._last_heartbeat = now
        try:
            services.send_heartbeat(self.address, client=self.client)
        except Exception as exc:  # presence is best effort; listening goes on
            logger.warning(
                "mesh heartbeat of %s failed: %s: %s", self.address, type(exc).__name__, exc
            )
            return False
        return True

    def run(
        self,
        *,
        stop: threading.Event | None = None,
        max_windows: int | None = None,
        until: float | None = None,
    ) -> int:
        """Listen until ``stop`` is set, ``max_windows`` windows ran, or ``time.monotonic()``
        passes ``until``; returns the items mirrored. Errors of a window are logged and the
        next window starts after a pause; the lease is released at the end."""
        autodiscover()
        stop = stop or threading.Event()
        windows = 0
        try:
            while not stop.is_set():
                if max_windows is not None and windows >= max_windows:
                    break
                if until is not None and time.monotonic() >= until:
                    break
                windows += 1
                try:
                    got = self.run_window()
                    if not got and not self._holds():
                        stop.wait(min(self.lease_seconds / 3, 5.0))
                    self.sweep()
                    self.heartbeat_if_due()
                except writer.LeaseLost:
                    logger.warning("listener of %s lost its lease", self.address)
                except Exception as exc:
                    logger.warning("listener of %s: %s: %s", self.address, type(exc).__name__, exc)
                    close_old_connections()
                    stop.wait(1.0)
        finally:
            try:
                self.release()
            except Exception:  # pragma: no cover - best effort at shutdown
                logger.debug("releasing the lease of %s failed", self.address, exc_info=True)
        return self.received

    def _holds(self) -> bool:
        from django_axme.models import AgentListener

        return AgentListener.objects.filter(address=self.address, lease_token=self.token).exists()
