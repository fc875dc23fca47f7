"""Shared helpers of the mirror tests: remote-shaped histories and a signal recorder."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from django_axme import signals

SIGNAL_NAMES = list(signals.__all__)
TERMINAL_EVENT = {
    "COMPLETED": "intent.completed",
    "FAILED": "intent.failed",
    "CANCELED": "intent.canceled",
    "TIMED_OUT": "intent.timed_out",
}
_BASE = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def event(intent_id: str, seq: Any, status: str, waiting_reason: str | None = None, **extra: Any):
    """A remote event the way the gateway sends it."""
    event_type = TERMINAL_EVENT.get(status) or f"intent.{status.lower()}"
    body = {
        "intent_id": intent_id,
        "seq": seq,
        "event_type": event_type,
        "status": status,
        "waiting_reason": waiting_reason,
        "actor": "agent://test/worker",
        "at": (
            _BASE + dt.timedelta(seconds=seq if isinstance(seq, int) and seq < 10**6 else 0)
        ).isoformat(),
        "details": {},
    }
    body.update(extra)
    return body


def long_history(intent_id: str, n: int = 200, final: str = "COMPLETED") -> list[dict]:
    """``n`` events: the opening statuses, then IN_PROGRESS/WAITING cycles with repeated
    statuses and reminders in between (which are not transitions), then ``final``."""
    states: list[tuple[str, str | None]] = [
        ("CREATED", None),
        ("SUBMITTED", None),
        ("DELIVERED", None),
        ("ACKNOWLEDGED", None),
        ("IN_PROGRESS", None),
    ]
    reasons = ["WAITING_FOR_TOOL", "WAITING_FOR_AGENT", "WAITING_FOR_HUMAN", "WAITING_FOR_TIME"]
    i = 0
    while len(states) < n - 1:
        k = i % 5
        if k == 0:
            states.append(("WAITING", reasons[(i // 5) % 4]))
        elif k == 1:
            states.append(states[-1])  # e.g. a reminder: same state, not a transition
        elif k == 2:
            states.append(("WAITING", reasons[(i // 5 + 1) % 4]))  # reason change while waiting
        else:
            states.append(("IN_PROGRESS", None))
        i += 1
    states.append((final, None))
    events = [event(intent_id, seq, s, r) for seq, (s, r) in enumerate(states[:n], start=1)]
    for e in events[5:-1]:
        if e["status"] == "IN_PROGRESS":
            e["event_type"] = "intent.in_progress"
    events[-1]["details"] = {"result": {"ok": True}} if final == "COMPLETED" else {}
    return events


def expected_transitions(events: list[dict], start=("CREATED", "")) -> list[tuple]:
    """(seq, previous_status, status, waiting_reason) of each transition, the reference way."""
    current = start
    out = []
    for e in sorted(events, key=lambda e: e["seq"]):
        state = (e["status"], e.get("waiting_reason") or "")
        if current[0] in TERMINAL_EVENT:
            break
        if state != current:
            out.append((e["seq"], current[0], state[0], state[1]))
            current = state
    return out


def new_intent_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Received:
    name: str
    kwargs: dict[str, Any]
    thread: str


@dataclass
class SignalRecorder:
    """Connects to every public signal and records what was delivered (thread-safe)."""

    calls: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _receivers: list = field(default_factory=list)

    def connect(self) -> SignalRecorder:
        for name in SIGNAL_NAMES:

            def receiver(sender, _name=name, **kwargs):
                kwargs.pop("signal", None)
                with self._lock:
                    self.calls.append(Received(_name, kwargs, threading.current_thread().name))

            getattr(signals, name).connect(receiver, weak=False)
            self._receivers.append((name, receiver))
        return self

    def disconnect(self) -> None:
        for name, receiver in self._receivers:
            getattr(signals, name).disconnect(receiver)

    def named(self, name: str) -> list[Received]:
        with self._lock:
            return [c for c in self.calls if c.name == name]

    def names(self) -> list[str]:
        with self._lock:
            return [c.name for c in self.calls]

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()
