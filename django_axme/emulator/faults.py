"""Fault injection for the emulator, deterministic from a seed.

A :class:`FaultPlan` sits in front of the gateway (``Emulator.handle`` calls
:meth:`FaultPlan.apply`) and, per route (method + path pattern), can answer with error
statuses (a fixed sequence or a rate), add latency, take the gateway down for a while (a
restart: the HTTP server closes every connection and comes back on the same port with its
state), and tamper with SSE streams: cut a stream after N event frames, duplicate event
frames, or swap adjacent event frames.

Path patterns are :mod:`fnmatch` globs on the path without the query string (``*`` also matches
``/``), e.g. ``"/v1/intents/*/events/stream"``; method ``"*"`` matches any method.
Every decision drawn at random comes from a per-rule ``random.Random`` seeded from the plan's seed
and the rule's position, so the same seed and the same request order give the same faults.
Every injected fault is appended to :attr:`FaultPlan.log`.
"""

from __future__ import annotations

import fnmatch
import json
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django_axme.emulator.http_types import EmulatorRequest, EmulatorResponse

__all__ = [
    "FaultPlan",
    "FaultRecord",
    "GatewayUnavailable",
    "StreamCut",
    "error_response",
    "is_event_frame",
]

STREAM_PATTERN = "*/stream"

_ERROR_CODES = {
    429: "rate_limit_exceeded",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


class GatewayUnavailable(ConnectionError):
    """The gateway is down (an injected restart): front doors drop the connection unanswered."""


class StreamCut(ConnectionResetError):
    """Raised by a stream iterator cut by a fault: front doors abort the response mid-body."""


@dataclass(frozen=True)
class FaultRecord:
    """One injected fault: which rule, what it did, to which request."""

    rule: str
    action: str
    method: str
    path: str
    at: float


def error_response(
    status: int, message: str | None = None, retry_after: float | None = None
) -> EmulatorResponse:
    """An error answer in the gateway's shape: ``{"error": {"code", "message"}, "detail"}``."""
    code = _ERROR_CODES.get(status, "injected_error" if status >= 500 else "request_error")
    message = message or f"injected fault: HTTP {status}"
    headers: dict[str, str] = {"x-axme-fault": code}
    if retry_after is not None:
        headers["retry-after"] = (
            str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
        )
    return EmulatorResponse.json(
        status, {"error": {"code": code, "message": message}, "detail": message}, headers
    )


def is_event_frame(frame: bytes) -> bool:
    """True for an SSE frame carrying an event (not a comment, not ``stream.timeout``)."""
    for line in frame.split(b"\n"):
        if line.startswith(b"event:"):
            return line[6:].strip() != b"stream.timeout"
    return False


@dataclass
class _Rule:
    name: str
    method: str
    pattern: str
    rng: random.Random
    times: int | None = None  # how many times the rule may fire (None: unlimited)
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method == "*" or self.method == method.upper()) and fnmatch.fnmatchcase(
            path, self.pattern
        )

    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times


@dataclass
class _ErrorRule(_Rule):
    sequence: list[int | None] = field(default_factory=list)  # None/2xx = pass through
    position: int = 0
    rate: float = 0.0
    statuses: Sequence[int] = (503,)
    retry_after: float | None = None

    def draw(self) -> int | None:
        """The status to inject for this request, or None to let it through."""
        if self.sequence:
            if self.position >= len(self.sequence):
                return None
            status = self.sequence[self.position]
            self.position += 1
            return status if status is not None and status >= 400 else None
        if self.exhausted() or self.rng.random() >= self.rate:
            return None
        return self.statuses[self.rng.randrange(len(self.statuses))]


@dataclass
class _LatencyRule(_Rule):
    seconds: float = 0.0
    jitter: float = 0.0


@dataclass
class _RestartRule(_Rule):
    after_requests: int = 1
    downtime: float = 0.5
    seen: int = 0


@dataclass
class _StreamRule(_Rule):
    kind: str = "cut"  # cut | duplicate | reorder
    after_events: int = 0
    rate: float = 1.0


class FaultPlan:
    """The faults to inject, in the order they were added. Thread-safe; deterministic per seed.

    Order of effects for one request: an active downtime drops it; a restart rule may start a
    downtime (dropping this request); latency rules sleep; the first error rule that draws a
    status answers with it; otherwise the gateway answers and stream rules wrap its stream.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.log: list[FaultRecord] = []
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._restart_handlers: list[Callable[[float], None]] = []

    # -- building the plan -----------------------------------------------------------------
    def _rng(self) -> random.Random:
        return random.Random(f"{self.seed}:{len(self._rules)}")

    def _add(self, rule: _Rule) -> _Rule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def error_sequence(
        self,
        method: str,
        path: str,
        statuses: Sequence[int | None],
        *,
        retry_after: float | None = None,
    ) -> FaultPlan:
        """Answer the next matching requests with ``statuses`` in order (``200``/``None`` = let
        that one through), then let every later request through. 429s carry ``Retry-After``
        (``retry_after`` seconds, default 1).
        """
        for status in statuses:
            if status is not None and not 100 <= int(status) <= 599:
                raise ValueError(f"statuses must be HTTP status codes, got {status!r}")
        self._add(
            _ErrorRule(
                f"error_sequence({method} {path})",
                method.upper(),
                path,
                self._rng(),
                sequence=list(statuses),
                retry_after=retry_after,
            )
        )
        return self

    def error_rate(
        self,
        method: str,
        path: str,
        rate: float,
        *,
        statuses: Sequence[int] = (500, 502, 503),
        retry_after: float | None = None,
        times: int | None = None,
    ) -> FaultPlan:
        """Answer each matching request, with probability ``rate``, with one of ``statuses``
        (chosen by the seeded generator); at most ``times`` injections when given.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be between 0 and 1, got {rate!r}")
        if not statuses:
            raise ValueError("statuses must name at least one HTTP status")
        self._add(
            _ErrorRule(
                f"error_rate({method} {path}, {rate})",
                method.upper(),
                path,
                self._rng(),
                times=times,
                rate=rate,
                statuses=tuple(statuses),
                retry_after=retry_after,
            )
        )
        return self

    def rate_limit(
        self,
        method: str,
        path: str,
        *,
        count: int = 1,
        rate: float | None = None,
        retry_after: float = 1,
    ) -> FaultPlan:
        """Answer 429 with ``Retry-After: retry_after``: to the next ``count`` matching requests,
        or (with ``rate``) to each matching request with that probability.
        """
        if rate is not None:
            return self.error_rate(method, path, rate, statuses=(429,), retry_after=retry_after)
        return self.error_sequence(method, path, [429] * count, retry_after=retry_after)

    def latency(self, method: str, path: str, seconds: float, *, jitter: float = 0.0) -> FaultPlan:
        """Delay every matching request by ``seconds`` (+ up to ``jitter``, seeded) before it is
        answered (for streams: before the first frame).
        """
        if seconds < 0 or jitter < 0:
            raise ValueError("latency seconds and jitter must be >= 0")
        self._add(
            _LatencyRule(
                f"latency({method} {path}, {seconds})",
                method.upper(),
                path,
                self._rng(),
                seconds=seconds,
                jitter=jitter,
            )
        )
        return self

    def restart(
        self, *, after_requests: int = 1, downtime: float = 0.5, method: str = "*", path: str = "*"
    ) -> FaultPlan:
        """Restart the gateway when the ``after_requests``-th matching request arrives: that
        request and every request for ``downtime`` seconds get no answer (the HTTP server closes
        all connections, open streams included, and listens again on the same port). State is
        kept. Fires once.
        """
        if after_requests < 1:
            raise ValueError("after_requests must be >= 1")
        if downtime < 0:
            raise ValueError("downtime must be >= 0")
        self._add(
            _RestartRule(
                f"restart(after {after_requests} {method} {path})",
                method.upper(),
                path,
                self._rng(),
                times=1,
                after_requests=after_requests,
                downtime=downtime,
            )
        )
        return self

    def cut_stream(
        self, *, after_events: int = 1, path: str = STREAM_PATTERN, times: int | None = 1
    ) -> FaultPlan:
        """Abort matching SSE streams after ``after_events`` event frames (no ``stream.timeout``,
        the connection is reset mid-body); ``times`` streams are cut (None: every one).
        """
        if after_events < 0:
            raise ValueError("after_events must be >= 0")
        self._add(
            _StreamRule(
                f"cut_stream(after {after_events} events)",
                "GET",
                path,
                self._rng(),
                times=times,
                kind="cut",
                after_events=after_events,
            )
        )
        return self

    def duplicate_events(
        self, *, rate: float = 1.0, path: str = STREAM_PATTERN, times: int | None = None
    ) -> FaultPlan:
        """Send each event frame of matching streams twice, with probability ``rate``."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be between 0 and 1, got {rate!r}")
        self._add(
            _StreamRule(
                f"duplicate_events({rate})",
                "GET",
                path,
                self._rng(),
                times=times,
                kind="duplicate",
                rate=rate,
            )
        )
        return self

    def reorder_events(
        self, *, rate: float = 1.0, path: str = STREAM_PATTERN, times: int | None = None
    ) -> FaultPlan:
        """Swap adjacent event frames of matching streams, with probability ``rate`` per pair
        (a held frame is released before any keep-alive, timeout or end of stream).
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be between 0 and 1, got {rate!r}")
        self._add(
            _StreamRule(
                f"reorder_events({rate})",
                "GET",
                path,
                self._rng(),
                times=times,
                kind="reorder",
                rate=rate,
            )
        )
        return self

    def configure(self, spec: Any) -> FaultPlan:
        """Apply a declarative spec: a callable ``spec(plan)``, or a list of dicts like
        ``{"fault": "error_sequence", "method": "POST", "path": "/v1/intents", "statuses": [503]}``
        (``fault`` names a method of this class; the other keys are its arguments).
        """
        if spec is None:
            return self
        if callable(spec):
            spec(self)
            return self
        if isinstance(spec, dict):
            spec = [spec]
        for item in spec:
            if not isinstance(item, dict) or "fault" not in item:
                raise ValueError(f"each fault spec must be a dict with a 'fault' key, got {item!r}")
            kwargs = dict(item)
            name = kwargs.pop("fault")
            method = getattr(self, str(name), None)
            if name.startswith("_") or name in ("configure", "apply", "clear") or method is None:
                raise ValueError(f"unknown fault {name!r}")
            method(**kwargs)
        return self

    def clear(self) -> None:
        """Remove every rule (the log is kept) and end any downtime."""
        with self._lock:
            self._rules.clear()
            self._down_until = 0.0

    # -- restart wiring --------------------------------------------------------------------
    def add_restart_handler(self, handler: Callable[[float], None]) -> None:
        """Called with the downtime (seconds) when a restart fault fires (the HTTP server hooks
        in here to close its connections and re-listen)."""
        with self._lock:
            self._restart_handlers.append(handler)

    def remove_restart_handler(self, handler: Callable[[float], None]) -> None:
        with self._lock:
            if handler in self._restart_handlers:
                self._restart_handlers.remove(handler)

    def is_down(self) -> bool:
        """True during an injected restart's downtime."""
        return time.monotonic() < self._down_until

    # -- applying --------------------------------------------------------------------------
    def _record(self, rule: _Rule, action: str, req: EmulatorRequest) -> None:
        self.log.append(FaultRecord(rule.name, action, req.method, req.path, time.time()))

    def injected(self, action: str | None = None) -> list[FaultRecord]:
        """The log, optionally only entries whose action starts with ``action``."""
        with self._lock:
            return [r for r in self.log if action is None or r.action.startswith(action)]

    def apply(
        self, req: EmulatorRequest, handler: Callable[[EmulatorRequest], EmulatorResponse]
    ) -> EmulatorResponse:
        """Answer ``req`` through ``handler`` with this plan's faults applied.

        Raises :class:`GatewayUnavailable` when the request must go unanswered (downtime).
        """
        sleep = 0.0
        error: tuple[_ErrorRule, int] | None = None
        stream_rules: list[_StreamRule] = []
        restart: _RestartRule | None = None
        with self._lock:
            if time.monotonic() < self._down_until:
                raise GatewayUnavailable("gateway restarting (injected fault)")
            for rule in self._rules:
                if not rule.matches(req.method, req.path):
                    continue
                if isinstance(rule, _RestartRule):
                    if rule.exhausted():
                        continue
                    rule.seen += 1
                    if rule.seen >= rule.after_requests:
                        rule.fired += 1
                        restart = rule
                        self._down_until = time.monotonic() + rule.downtime
                        self._record(rule, f"restart {rule.downtime}s", req)
                        break
                elif isinstance(rule, _LatencyRule):
                    extra = rule.seconds + (
                        rule.rng.uniform(0, rule.jitter) if rule.jitter else 0.0
                    )
                    sleep += extra
                    self._record(rule, f"latency {extra:.3f}s", req)
                elif isinstance(rule, _ErrorRule):
                    if error is None:
                        status = rule.draw()
                        if status is not None:
                            rule.fired += 1
                            error = (rule, status)
                            self._record(rule, f"status {status}", req)
                elif isinstance(rule, _StreamRule) and not rule.exhausted():
                    stream_rules.append(rule)
            handlers = list(self._restart_handlers)
        if restart is not None:
            for restart_handler in handlers:
                restart_handler(restart.downtime)
            raise GatewayUnavailable("gateway restarting (injected fault)")
        if sleep:
            time.sleep(sleep)
        if error is not None:
            rule, status = error
            retry_after = rule.retry_after
            if status == 429 and retry_after is None:
                retry_after = 1
            return error_response(status, retry_after=retry_after)
        response = handler(req)
        if response.stream is not None and response.status == 200 and stream_rules:
            response.stream = self._wrap_stream(response.stream, stream_rules, req)
        return response

    def _claim(self, rule: _StreamRule) -> bool:
        with self._lock:
            if rule.exhausted():
                return False
            rule.fired += 1
            return True

    def _wrap_stream(
        self, frames: Iterator[bytes], rules: list[_StreamRule], req: EmulatorRequest
    ) -> Iterator[bytes]:
        for rule in rules:
            if rule.kind == "cut" and self._claim(rule):
                frames = self._cut(frames, rule, req)
            elif rule.kind == "duplicate" and self._claim(rule):
                frames = self._duplicate(frames, rule, req)
            elif rule.kind == "reorder" and self._claim(rule):
                frames = self._reorder(frames, rule, req)
        return frames

    def _cut(
        self, frames: Iterator[bytes], rule: _StreamRule, req: EmulatorRequest
    ) -> Iterator[bytes]:
        try:
            events = 0
            if rule.after_events == 0:
                self._record(rule, "stream cut after 0 events", req)
                raise StreamCut("stream cut (injected fault)")
            for frame in frames:
                yield frame
                if is_event_frame(frame):
                    events += 1
                    if events >= rule.after_events:
                        self._record(rule, f"stream cut after {events} events", req)
                        raise StreamCut("stream cut (injected fault)")
        finally:
            _close(frames)

    def _duplicate(
        self, frames: Iterator[bytes], rule: _StreamRule, req: EmulatorRequest
    ) -> Iterator[bytes]:
        try:
            for frame in frames:
                yield frame
                if is_event_frame(frame) and rule.rng.random() < rule.rate:
                    self._record(rule, "event duplicated", req)
                    yield frame
        finally:
            _close(frames)

    def _reorder(
        self, frames: Iterator[bytes], rule: _StreamRule, req: EmulatorRequest
    ) -> Iterator[bytes]:
        held: bytes | None = None
        try:
            for frame in frames:
                if not is_event_frame(frame):
                    if held is not None:
                        yield held
                        held = None
                    yield frame
                elif held is not None:
                    self._record(rule, "events swapped", req)
                    yield frame
                    yield held
                    held = None
                elif rule.rng.random() < rule.rate:
                    held = frame
                else:
                    yield frame
            if held is not None:
                yield held
        finally:
            _close(frames)


def _close(frames: Iterator[bytes]) -> None:
    close = getattr(frames, "close", None)
    if close is not None:
        close()


def frame_data(frame: bytes) -> Any:
    """Decode the JSON ``data:`` of an SSE frame (None when there is none)."""
    lines = [line[5:].strip() for line in frame.split(b"\n") if line.startswith(b"data:")]
    if not lines:
        return None
    return json.loads(b"\n".join(lines))
