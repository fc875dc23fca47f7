"""The durable listener of one served agent address (protocol 4.3; issue 17).

One :class:`Listener` per address follows ``GET /v1/agents/{address}/intents/stream`` window
after window (``since`` = the cursor stored in the database, each window ending with
``stream.timeout``). Guarantees:

- **one listener per address**: it only reads while it holds the address's lease
  (:class:`~django_axme.models.AgentListener`, renewed before every window); a killed listener
  stops renewing and another one takes over when the lease expires, from the stored cursor;
- **nothing lost, nothing doubled**: each item is mirrored and the cursor advanced in one
  transaction (:func:`django_axme.sync.agent.receive_inbound`); a crash between the two is
  impossible, a redelivered item creates nothing new; a listener that lost its lease writes
  nothing;
- **handed over once**: a new intent's job is handed to ``enqueue`` (by default the Celery task
  ``django_axme.tasks.run_agent_handler``) after its transaction committed; jobs whose message
  or worker was lost are handed over again by :meth:`Listener.sweep` after their lease expired;
- **mesh presence**: every ``AXME["AGENT_HEARTBEAT_SECONDS"]`` it sends the mesh heartbeat of
  the address with the metrics of its jobs.
"""

from __future__ import annotations

import logging
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

logger = logging.getLogger("django_axme.agent")

__all__ = ["Listener", "enqueue_job"]


def enqueue_job(job_pk: int) -> None:
    """Hand a job to the Celery task ``django_axme.tasks.run_agent_handler``."""
    from django_axme.agent.tasks import run_agent_handler

    run_agent_handler.apply_async((job_pk,))


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
        lease is held by another listener). Raises client errors of opening the stream."""
        if not self.claim():
            return 0
        since = writer.listener_cursor(self.address)
        handled = 0
        events = self.client._stream_window(
            self._path,
            params={"since": str(since), "wait_seconds": str(self.window_seconds)},
            wait_seconds=self.window_seconds,
            trace_id=None,
            context=f"agent {self.address}",
        )
        try:
            for item in events:
                seq = item.get("seq")
                if isinstance(seq, int) and not isinstance(seq, bool) and seq <= since:
                    continue
                self._handle(item)
                if isinstance(seq, int) and not isinstance(seq, bool):
                    since = max(since, seq)
                handled += 1
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
        self.received += handled
        return handled

    def _handle(self, item: dict[str, Any]) -> None:
        raw = item.get("intent")
        intent: dict[str, Any] = raw if isinstance(raw, dict) else {}
        intent_type = str(intent.get("intent_type") or "")
        found = registry.lookup(intent_type, self.address) if intent_type else None
        received = services.receive(
            item,
            address=self.address,
            token=self.token,
            handler_name=found.name if found else "",
            client=self.client,
        )
        if received.created and received.job is not None:
            self.enqueue(received.job.pk)

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
