"""Wall-clock deadlines for HTTP exchanges, enforced on the socket.

``requests``' read timeout bounds each socket read, not the exchange: a server that sends one
byte every half second keeps a call open forever. Here every exchange runs inside a
:class:`Deadline`; the connections of the session built by the client (see
:class:`DeadlineAdapter`) register their socket with the deadline that is current in the
calling thread, and one daemon thread shuts those sockets down when the deadline passes. The
blocked read then returns end-of-file, ``requests`` raises, and the client sees
:attr:`Deadline.expired` and raises
:class:`~django_axme.client.errors.AxmeTransportError` naming the deadline.
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from requests.adapters import HTTPAdapter
from requests.utils import select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = [
    "Deadline",
    "DeadlineAdapter",
    "calls_end_by",
    "current_deadline",
    "deadline_scope",
    "outer_deadline",
    "start_deadline",
]

_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "django_axme_deadline", default=None
)


class Deadline:
    """One wall-clock limit (``time.monotonic()`` based) and the sockets it may cut.

    Thread-safe. :meth:`fire` is idempotent; sockets registered after the deadline passed are
    shut down at once.
    """

    __slots__ = ("_lock", "_socks", "at", "cancelled", "expired", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self.cancelled = False
        self._socks: list[Any] = []
        self._lock = threading.Lock()

    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.at - time.monotonic())

    def passed(self) -> bool:
        """True once the deadline is reached (whether or not a socket was cut)."""
        return self.expired or time.monotonic() >= self.at

    def watch(self, sock: Any) -> None:
        """Shut ``sock`` down when the deadline passes (now, if it already has)."""
        if sock is None:
            return
        with self._lock:
            if self.cancelled:
                return
            if not self.expired:
                self._socks.append(sock)
                return
        _shutdown(sock)

    def fire(self) -> None:
        """Mark the deadline expired and shut down every watched socket."""
        with self._lock:
            if self.cancelled or self.expired:
                return
            self.expired = True
            socks, self._socks = self._socks, []
        for sock in socks:
            _shutdown(sock)

    def cancel(self) -> None:
        """Forget the sockets; a later :meth:`fire` does nothing."""
        with self._lock:
            self.cancelled = True
            self._socks = []


def _shutdown(sock: Any) -> None:
    with suppress(OSError, ValueError, AttributeError):
        sock.shutdown(socket.SHUT_RDWR)


class _Reaper:
    """One daemon thread firing deadlines in time order (a heap; cancelled ones are skipped)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, deadline: Deadline) -> None:
        with self._cond:
            heapq.heappush(self._heap, (deadline.at, next(self._counter), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="django-axme-deadlines", daemon=True
                )
                self._thread.start()
            # The thread sleeps until the earliest deadline: wake it only when this one is the
            # new earliest (with one timeout per request, rarely: not once per request).
            if self._heap[0][2] is deadline:
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][2].cancelled:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait(timeout=60.0)
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(timeout=wait)
                    continue
                deadline = heapq.heappop(self._heap)[2]
            deadline.fire()


_reaper = _Reaper()


def _reset_after_fork() -> None:
    # A forked child (Celery prefork) has no reaper thread, and the parent's could have held
    # the condition's lock at the fork: start from a fresh one.
    global _reaper
    _reaper = _Reaper()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def current_deadline() -> Deadline | None:
    """The deadline the calling thread (or context) is running under, if any."""
    return _current.get()


def start_deadline(seconds: float) -> Deadline:
    """A new armed :class:`Deadline` of ``seconds`` from now; the owner must
    :meth:`~Deadline.cancel` it when the exchange is over (fired deadlines are harmless)."""
    deadline = Deadline(seconds)
    _reaper.add(deadline)
    return deadline


@contextmanager
def deadline_scope(deadline: Deadline) -> Iterator[Deadline]:
    """Make ``deadline`` current inside the block: sockets that the client's connections open
    or reuse there are registered with it (and stay registered after the block, so a streamed
    body read later is cut too). Does not cancel it."""
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)


def _watch(sock: Any) -> None:
    deadline = _current.get()
    if deadline is not None:
        deadline.watch(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _watch(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        # Connect before http.client joins the headers into one bytes message, so a failed
        # connect is not raised from a frame holding that message (and the key) in a local.
        if self.sock is None:
            self.connect()
        else:
            _watch(self.sock)  # a reused connection
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _watch(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        # Connect before http.client joins the headers into one bytes message, so a failed
        # connect is not raised from a frame holding that message (and the key) in a local.
        if self.sock is None:
            self.connect()
        else:
            _watch(self.sock)  # a reused connection
        super().request(*args, **kwargs)


class _WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _WatchedHTTPConnectionPool, "https": _WatchedHTTPSConnectionPool}


class DeadlineAdapter(HTTPAdapter):
    """An :class:`~requests.adapters.HTTPAdapter` whose connections obey
    :func:`deadline_scope` (direct and HTTP(S)-proxied connections; SOCKS proxies are not
    covered). Mount it on a session you pass to the client to get the same guarantee."""

    #: Direct (unproxied) pools remembered per origin and TLS settings; bounded.
    _MAX_REMEMBERED_POOLS = 16

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)
        self._direct_pools: dict[tuple[Any, ...], Any] = {}

    def get_connection_with_tls_context(
        self, request: Any, verify: Any, proxies: Any = None, cert: Any = None
    ) -> Any:
        """The pool for ``request``; a direct pool is looked up once per origin and TLS
        settings instead of on every request (requests re-parses the URL and stats the CA
        bundle each time). A pool the pool manager has since closed is looked up again;
        proxied requests always take requests' own path."""
        if proxies and select_proxy(request.url, proxies):
            return super().get_connection_with_tls_context(request, verify, proxies, cert)
        origin = "/".join(str(request.url).split("/", 3)[:3])
        key = (origin, verify, tuple(cert) if isinstance(cert, list) else cert)
        pool = self._direct_pools.get(key)
        if pool is None or pool.pool is None:
            pool = super().get_connection_with_tls_context(request, verify, proxies, cert)
            if len(self._direct_pools) >= self._MAX_REMEMBERED_POOLS:
                self._direct_pools.clear()
            self._direct_pools[key] = pool
        return pool

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if hasattr(manager, "pool_classes_by_scheme"):
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


# An absolute time.monotonic() limit set by a caller around several calls (observe's
# timeout_seconds): every attempt inside ends by then.
_outer: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "django_axme_outer", default=None
)


@contextmanager
def calls_end_by(monotonic_at: float | None) -> Iterator[None]:
    """Inside the block, every HTTP attempt of this thread ends by ``monotonic_at``
    (``time.monotonic()`` based; an earlier limit already in force wins). ``None``: no-op."""
    if monotonic_at is None:
        yield
        return
    current = _outer.get()
    token = _outer.set(monotonic_at if current is None else min(current, monotonic_at))
    try:
        yield
    finally:
        _outer.reset(token)


def outer_deadline() -> float | None:
    """The ``time.monotonic()`` limit set by the innermost :func:`calls_end_by`, if any."""
    return _outer.get()
