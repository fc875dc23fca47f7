"""SSE parsing, observe(), wait_for(), observe_window() and listen() (responses-based)."""

from __future__ import annotations

import io
import json
import logging
from urllib.parse import parse_qsl, urlsplit

import pytest

from django_axme.client import AxmeAPIError, AxmeNotFoundError, AxmeServerError

from .conftest import BASE, TIMEOUT_FRAME, event_frame, sse

IID = "it-1"
STREAM = f"{BASE}/v1/intents/{IID}/events/stream"
EVENTS = f"{BASE}/v1/intents/{IID}/events"


class _CutRaw(io.RawIOBase):
    """A body that delivers ``data`` and then fails like a reset connection."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self._data:
            n = min(len(buffer), len(self._data))
            buffer[:n] = self._data[:n]
            self._data = self._data[n:]
            return n
        raise ConnectionResetError("connection reset by peer")


def cut_body(data: bytes) -> io.BufferedReader:
    return io.BufferedReader(_CutRaw(data))


def ev(seq: int, status: str = "IN_PROGRESS", event_type: str = "intent.in_progress") -> dict:
    return {
        "intent_id": IID,
        "seq": seq,
        "event_type": event_type,
        "status": status,
        "at": "2026-01-01T00:00:00Z",
    }


def query(call) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(call.request.url).query))


def test_multiline_data_and_comments(client, rsps) -> None:
    payload = json.dumps(ev(1), indent=2)  # several lines
    frame = "\n".join(
        [": keep-alive", "id: 1", "event: intent.in_progress"]
        + [f"data: {line}" for line in payload.splitlines()]
    )
    body = sse(": hello", frame, ": keep-alive", TIMEOUT_FRAME)
    rsps.get(STREAM, body=body, content_type="text/event-stream")
    events = list(client.observe_window(IID, wait_seconds=5))
    assert events == [ev(1)]
    request = rsps.calls[0].request
    assert query(rsps.calls[0]) == {"since": "0", "wait_seconds": "5"}
    assert request.headers["Accept"] == "text/event-stream"


def test_stream_timeout_ends_the_window(client, rsps) -> None:
    body = sse(event_frame(1), TIMEOUT_FRAME, event_frame(2))
    rsps.get(STREAM, body=body)
    assert [e["seq"] for e in client.observe_window(IID)] == [1]
    assert len(rsps.calls) == 1


def test_window_drops_duplicates_and_old_seq(client, rsps) -> None:
    body = sse(
        event_frame(3),
        event_frame(4),
        event_frame(4),
        event_frame(2),
        event_frame(5),
        TIMEOUT_FRAME,
    )
    rsps.get(STREAM, body=body)
    assert [e["seq"] for e in client.observe_window(IID, since=2)] == [3, 4, 5]
    assert query(rsps.calls[0])["since"] == "2"


def test_window_returns_after_terminal_event(client, rsps) -> None:
    body = sse(event_frame(1), event_frame(2, "intent.completed", "COMPLETED"), event_frame(3))
    rsps.get(STREAM, body=body)
    assert [e["seq"] for e in client.observe_window(IID)] == [1, 2]


def test_malformed_frames_are_logged_and_skipped(client, rsps, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="django_axme.client.sse")
    body = sse(
        "event: intent.x\ndata: {not json",
        "event: intent.y\ndata: [1, 2]",
        "event: other.kind\ndata: {}",
        event_frame(1),
        TIMEOUT_FRAME,
    )
    rsps.get(STREAM, body=body)
    assert [e["seq"] for e in client.observe_window(IID)] == [1]
    messages = [r.getMessage() for r in caplog.records]
    assert any("not JSON" in m for m in messages)
    assert any("not an object" in m for m in messages)


def test_window_polls_once_when_stream_unavailable(client, rsps) -> None:
    rsps.get(STREAM, json={"error": "no sse"}, status=405)
    rsps.get(EVENTS, json={"ok": True, "events": [ev(2), ev(3)]})
    assert [e["seq"] for e in client.observe_window(IID, since=1)] == [2, 3]
    assert query(rsps.calls[1]) == {"since": "1"}


def test_window_unknown_intent(client, rsps) -> None:
    rsps.get(STREAM, json={"error": "not_found"}, status=404)
    rsps.get(EVENTS, json={"error": "not_found"}, status=404)
    with pytest.raises(AxmeNotFoundError):
        list(client.observe_window(IID))


def test_window_cut_midway_ends_quietly(client, rsps) -> None:
    rsps.get(STREAM, body=cut_body(sse(event_frame(1)) + b'event: intent.x\ndata: {"se'))
    assert [e["seq"] for e in client.observe_window(IID)] == [1]


def test_window_server_error_raises(client, rsps) -> None:
    rsps.get(STREAM, json={"error": "down"}, status=500)
    with pytest.raises(AxmeServerError):
        list(client.observe_window(IID))


def test_observe_resumes_after_cut_without_repeating_or_losing(client, rsps) -> None:
    # Window 1: seq 1 and 2, then the connection drops in the middle of seq 3.
    partial = event_frame(3).encode()[:30]
    rsps.get(STREAM, body=cut_body(sse(event_frame(1), event_frame(2)) + partial))
    # The poll after the cut repeats seq 2 (at-least-once server) and brings seq 3.
    rsps.get(EVENTS, json={"ok": True, "events": [ev(2), ev(3)]})
    # Window 2 (since=3) repeats 3, brings 4 and the terminal 5.
    rsps.get(
        STREAM,
        body=sse(event_frame(3), event_frame(4), event_frame(5, "intent.completed", "COMPLETED")),
    )
    events = list(client.observe(IID, poll_interval_seconds=0))
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    stream_calls = [c for c in rsps.calls if c.request.url.startswith(STREAM)]
    assert [query(c)["since"] for c in stream_calls] == ["0", "3"]
    poll_calls = [c for c in rsps.calls if urlsplit(c.request.url).path.endswith("/events")]
    assert query(poll_calls[0]) == {"since": "2"}
    traces = {c.request.headers["X-Trace-Id"] for c in rsps.calls}
    assert len(traces) == 1


def test_observe_polling_fallback(client, rsps) -> None:
    rsps.get(STREAM, json={"error": "not implemented"}, status=501)
    rsps.get(EVENTS, json={"ok": True, "events": [ev(1), ev(2)]})
    rsps.get(EVENTS, json={"ok": True, "events": []})
    rsps.get(EVENTS, json={"ok": True, "events": [ev(3, "FAILED", "intent.failed")]})
    events = list(client.observe(IID, poll_interval_seconds=0))
    assert [e["seq"] for e in events] == [1, 2, 3]
    stream_calls = [c for c in rsps.calls if "/stream" in c.request.url]
    assert len(stream_calls) == 1  # the stream is not retried once it said 501
    polls = [query(c) for c in rsps.calls if "/stream" not in c.request.url]
    assert polls == [{}, {"since": "2"}, {"since": "2"}]


def test_observe_timeout(client, rsps) -> None:
    rsps.get(STREAM, body=sse(TIMEOUT_FRAME))
    rsps.get(EVENTS, json={"ok": True, "events": []})
    with pytest.raises(TimeoutError, match=IID):
        for _ in client.observe(IID, poll_interval_seconds=0.05, timeout_seconds=0.3):
            pass


def test_observe_caps_window_to_timeout(client, rsps) -> None:
    rsps.get(STREAM, body=sse(event_frame(1, "intent.completed", "COMPLETED")))
    list(client.observe(IID, wait_seconds=30, timeout_seconds=5))
    assert query(rsps.calls[0])["wait_seconds"] in {"4", "5"}


def test_wait_for_returns_the_terminal_event(client, rsps) -> None:
    rsps.get(STREAM, body=sse(event_frame(1), event_frame(2, "intent.canceled", "CANCELED")))
    event = client.wait_for(IID)
    assert event["status"] == "CANCELED" and event["seq"] == 2


def test_wait_for_terminal_states_aliases(client, rsps) -> None:
    rsps.get(STREAM, body=sse(event_frame(1), event_frame(2, "intent.completed", "COMPLETED")))
    event = client.wait_for(IID, terminal_states={"RESOLVED", "CANCELLED", "EXPIRED"})
    assert event["status"] == "COMPLETED"


def test_wait_for_custom_state_stops_early(client, rsps) -> None:
    rsps.get(
        STREAM,
        body=sse(
            event_frame(1),
            event_frame(2, "intent.waiting", "WAITING"),
            event_frame(3, "intent.completed", "COMPLETED"),
        ),
    )
    assert client.wait_for(IID, terminal_states=["waiting"])["seq"] == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"since": -1}, "since"),
        ({"wait_seconds": 0}, "wait_seconds"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"terminal_states": []}, "terminal_states"),
        ({"since": "3"}, "since"),
    ],
)
def test_observe_bad_arguments(client, rsps, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        client.observe(IID, **kwargs)  # raised at call time, before iterating
    assert len(rsps.calls) == 0


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"since": -1}, "since"), ({"wait_seconds": 0}, "wait_seconds")]
)
def test_window_and_listen_bad_arguments(client, rsps, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        list(client.observe_window(IID, **kwargs))
    with pytest.raises(ValueError, match=match):
        client.listen("agent://o/w/n", **kwargs)
    assert len(rsps.calls) == 0


def test_poll_payload_without_list_is_an_error(client, rsps) -> None:
    rsps.get(STREAM, json={}, status=404)
    rsps.get(EVENTS, json={"ok": True, "events": "nope"})
    with pytest.raises(AxmeAPIError, match="events must be a list"):
        list(client.observe(IID))


def test_listen_reconnects_with_highest_seq(client, rsps) -> None:
    url = f"{BASE}/v1/agents/org/ws/bot/intents/stream"
    rsps.get(url, body=sse(event_frame(1), event_frame(2), TIMEOUT_FRAME))
    rsps.get(url, body=cut_body(sse(event_frame(2), event_frame(3))))
    rsps.get(url, body=sse(event_frame(4)))
    seen = []
    for event in client.listen("agent://org/ws/bot", status="CREATED,DELIVERED"):
        seen.append(event["seq"])
        if len(seen) == 4:
            break
    assert seen == [1, 2, 3, 4]
    sinces = [query(c)["since"] for c in rsps.calls]
    assert sinces == ["0", "2", "3"]
    assert all(query(c)["status"] == "CREATED,DELIVERED" for c in rsps.calls)
