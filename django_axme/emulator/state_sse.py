"""Server-sent event streams of the emulator (reference section 4).

Each generator yields exactly one complete SSE frame (bytes ending in ``b"\\n\\n"``) per item:
event frames ``id/event/data``, keep-alive comments, and a final ``stream.timeout`` frame.
They collect new events under the gateway lock, then yield with the lock released, and wait on a
condition (never polling). The window is ``wait_seconds`` of wall time from the first read;
the intent stream ends right after a terminal event (still sending ``stream.timeout``).
Closing a generator (``GeneratorExit``) stops it at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .http_types import KEEPALIVE_FRAME
from .state_lifecycle import TERMINAL_STATUSES

if TYPE_CHECKING:
    from .core import Gateway

__all__ = ["SSE_HEADERS", "agent_stream", "event_frame", "intent_stream", "timeout_frame"]

SSE_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
}

#: With pending deadlines, idle streams re-check at least this often (seconds).
_DEADLINE_CHECK_SECONDS = 1.0


def event_frame(seq: int, event_type: str, data: dict[str, Any]) -> bytes:
    """One event frame; ``data`` is one line of ASCII JSON."""
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=True)
    return f"id: {seq}\nevent: {event_type}\ndata: {payload}\n\n".encode("ascii")


def timeout_frame(next_seq: int) -> bytes:
    """The frame that ends every window."""
    payload = json.dumps({"ok": True, "next_seq": next_seq}, separators=(",", ":"))
    return f"event: stream.timeout\ndata: {payload}\n\n".encode("ascii")


def _slice(gw: Gateway, remaining: float, last_output: float) -> float:
    until_keepalive = gw.keepalive_seconds - (time.monotonic() - last_output)
    wait = min(remaining, max(until_keepalive, 0.0))
    if gw.deadlines:
        wait = min(wait, _DEADLINE_CHECK_SECONDS)
    return max(wait, 0.0)


def intent_stream(gw: Gateway, intent_id: str, since: int, wait_seconds: float) -> Iterator[bytes]:
    """Frames for events with ``seq > since``: backlog, then live ones until the window ends."""
    deadline = time.monotonic() + wait_seconds
    last_sent = max(since, 0)
    last_output = time.monotonic()
    try:
        while True:
            gw.expire_deadlines()
            with gw.lock:
                log = gw.intent_events[intent_id]
                condition = gw.intent_conditions[intent_id]
                if len(log) <= last_sent and gw.intents[intent_id]["status"] not in (
                    TERMINAL_STATUSES
                ):
                    remaining = deadline - time.monotonic()
                    if remaining > 0:
                        condition.wait(_slice(gw, remaining, last_output))
                batch = [dict(e) for e in log[last_sent:]]
                terminal_now = gw.intents[intent_id]["status"] in TERMINAL_STATUSES
                next_seq = len(log) + 1
            for event in batch:
                yield event_frame(event["seq"], event["event_type"], event)
                last_sent = event["seq"]
                last_output = time.monotonic()
                if event["status"] in TERMINAL_STATUSES:
                    yield timeout_frame(next_seq)
                    return
            if terminal_now and not batch:
                yield timeout_frame(next_seq)
                return
            now = time.monotonic()
            if now >= deadline:
                yield timeout_frame(next_seq)
                return
            if not batch and now - last_output >= gw.keepalive_seconds:
                yield KEEPALIVE_FRAME
                last_output = now
    except GeneratorExit:
        return


def agent_stream(
    gw: Gateway,
    address: str,
    since: int,
    wait_seconds: float,
    statuses: frozenset[str] | None,
) -> Iterator[bytes]:
    """Frames of the agent's feed (per-agent ``seq``) with ``seq > since``.

    Without ``statuses`` entries with terminal statuses are skipped. A SUBMITTED intent that is
    handed out here moves to DELIVERED (the listener picked it up).
    """
    from . import routes_agents, routes_intents

    deadline = time.monotonic() + wait_seconds
    last_sent = max(since, 0)
    last_output = time.monotonic()
    try:
        while True:
            gw.expire_deadlines()
            with gw.lock:
                feed = gw.agent_feeds[address]
                condition = gw.agent_conditions[address]
                if len(feed) <= last_sent:
                    remaining = deadline - time.monotonic()
                    if remaining > 0:
                        condition.wait(_slice(gw, remaining, last_output))
                batch = []
                for entry in feed[last_sent:]:
                    wanted = (
                        entry["status"] in statuses
                        if statuses is not None
                        else entry["status"] not in TERMINAL_STATUSES
                    )
                    if wanted:
                        item = dict(entry)
                        item["intent"] = routes_intents.intent_view(
                            gw, gw.intents[entry["intent_id"]]
                        )
                        batch.append(item)
                    last_sent = entry["seq"]
                next_seq = len(feed) + 1
            for item in batch:
                if item["status"] == "SUBMITTED":
                    # at-least-once: handed to the transport counts as picked up
                    routes_agents.mark_delivered(gw, item["intent_id"], address)
                yield event_frame(item["seq"], item["event_type"], item)
                last_output = time.monotonic()
            now = time.monotonic()
            if now >= deadline:
                yield timeout_frame(next_seq)
                return
            if not batch and now - last_output >= gw.keepalive_seconds:
                yield KEEPALIVE_FRAME
                last_output = now
    except GeneratorExit:
        return
