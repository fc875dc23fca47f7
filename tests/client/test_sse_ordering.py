"""observe() and observe_window() yield each event once, in seq order, without gaps, even when
the stream swaps, repeats or loses frames (responses-based, plus EventOrderer on its own)."""

from __future__ import annotations

import io
import json
import logging
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses

from django_axme.client import AxmeTransportError
from django_axme.client.ordering import EventOrderer

from .conftest import BASE, TIMEOUT_FRAME, event_frame, sse
from .test_sse import cut_body, ev

IID = "it-1"
STREAM = f"{BASE}/v1/intents/{IID}/events/stream"
EVENTS = f"{BASE}/v1/intents/{IID}/events"
DONE = ("intent.completed", "COMPLETED")


def seqs(events) -> list[int]:
    return [e["seq"] for e in events]


def list_calls(rsps) -> list[dict[str, str]]:
    """The query of every ``GET /events`` (not the stream) call, in order."""
    return [
        dict(parse_qsl(urlsplit(c.request.url).query))
        for c in rsps.calls
        if urlsplit(c.request.url).path.endswith("/events")
    ]


SWAPPED = sse(
    event_frame(2),
    event_frame(1),
    event_frame(4),
    event_frame(3),
    event_frame(5, *DONE),
    TIMEOUT_FRAME,
)


def test_window_puts_swapped_frames_back_in_order(client, rsps) -> None:
    rsps.get(STREAM, body=SWAPPED)
    assert seqs(client.observe_window(IID)) == [1, 2, 3, 4, 5]
    assert list_calls(rsps) == []  # the stream itself closed both holes


def test_observe_puts_swapped_frames_back_in_order(client, rsps) -> None:
    rsps.get(STREAM, body=SWAPPED)
    events = list(client.observe(IID, poll_interval_seconds=0))
    assert seqs(events) == [1, 2, 3, 4, 5]
    assert events[-1]["status"] == "COMPLETED"
    assert list_calls(rsps) == []


def test_swaps_and_duplicates_together(client, rsps) -> None:
    body = sse(
        event_frame(1),
        event_frame(1),
        event_frame(3),
        event_frame(3),  # a duplicate of a held event
        event_frame(2),
        event_frame(2),
        event_frame(1),
        event_frame(5, *DONE),
        event_frame(4),
        event_frame(4),
        TIMEOUT_FRAME,
    )
    rsps.get(STREAM, body=body)
    assert seqs(client.observe_window(IID)) == [1, 2, 3, 4, 5]
    assert list_calls(rsps) == []


def test_window_fills_a_hole_lost_on_the_stream_from_the_events_list(client, rsps) -> None:
    # seq 3 never comes on the stream; the window ends with 4 and 5 held behind the hole.
    body = sse(event_frame(1), event_frame(2), event_frame(4), event_frame(5, *DONE))
    rsps.get(STREAM, body=body)
    rsps.get(EVENTS, json={"ok": True, "events": [ev(3), ev(4), ev(5, "COMPLETED", DONE[0])]})
    events = list(client.observe_window(IID))
    assert seqs(events) == [1, 2, 3, 4, 5]
    assert list_calls(rsps) == [{"since": "2"}]
    assert events[-1]["status"] == "COMPLETED"


def test_observe_fills_a_hole_then_keeps_following(client, rsps) -> None:
    rsps.get(STREAM, body=sse(event_frame(1), event_frame(3), TIMEOUT_FRAME))
    rsps.get(EVENTS, json={"ok": True, "events": [ev(2), ev(3)]})  # the fill
    rsps.get(EVENTS, json={"ok": True, "events": []})  # the round's poll
    rsps.get(STREAM, body=sse(event_frame(3), event_frame(4, *DONE)))
    events = list(client.observe(IID, poll_interval_seconds=0))
    assert seqs(events) == [1, 2, 3, 4]
    assert list_calls(rsps) == [{"since": "1"}, {"since": "3"}]
    stream_sinces = [
        dict(parse_qsl(urlsplit(c.request.url).query))["since"]
        for c in rsps.calls
        if "/stream" in c.request.url
    ]
    assert stream_sinces == ["0", "3"]


def test_a_held_terminal_event_is_not_yielded_before_the_missing_ones(client, rsps) -> None:
    rsps.get(STREAM, body=sse(event_frame(1), event_frame(3, *DONE), TIMEOUT_FRAME))
    rsps.get(EVENTS, json={"ok": True, "events": [ev(2), ev(3, "COMPLETED", DONE[0])]})
    assert client.wait_for(IID, poll_interval_seconds=0)["seq"] == 3
    assert list_calls(rsps) == [{"since": "1"}]


def test_a_hole_at_a_cut_is_filled_before_the_window_ends(client, rsps) -> None:
    rsps.get(STREAM, body=cut_body(sse(event_frame(1), event_frame(3)) + b"event: intent.x\nda"))
    rsps.get(EVENTS, json={"ok": True, "events": [ev(2), ev(3)]})
    assert seqs(client.observe_window(IID)) == [1, 2, 3]
    assert list_calls(rsps) == [{"since": "1"}]


def test_a_failed_fill_yields_nothing_past_the_hole(client, rsps) -> None:
    """The held event is not yielded, so the caller's cursor (the last yielded seq) stays
    before the hole and the next window reads both again."""
    rsps.get(STREAM, body=sse(event_frame(1), event_frame(3), TIMEOUT_FRAME))
    rsps.get(EVENTS, body=requests.ConnectionError("refused"))
    got = []
    with pytest.raises(AxmeTransportError):
        for event in client.observe_window(IID):
            got.append(event["seq"])
    assert got == [1]


def test_a_hole_the_server_cannot_fill_is_released_with_a_warning(client, rsps, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="django_axme.client")
    rsps.get(STREAM, body=sse(event_frame(1), event_frame(3), TIMEOUT_FRAME))
    rsps.get(EVENTS, json={"ok": True, "events": [ev(3)]})
    assert seqs(client.observe_window(IID)) == [1, 3]
    assert any("no event with seq 2" in r.getMessage() for r in caplog.records)


class _FrameRaw(io.RawIOBase):
    """A body that hands out one frame per read and counts how many it has handed out."""

    def __init__(self, frames: list[bytes]) -> None:
        self._frames = list(frames)
        self._pending = b""
        self.delivered = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if not self._pending:
            if not self._frames:
                return 0
            self._pending = self._frames.pop(0)
            self.delivered += 1
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def test_many_frames_behind_a_hole_trigger_the_fill_mid_window(client, rsps) -> None:
    """The fill happens as soon as 16 events are held behind the hole (not at the end of
    the window), and the frames after it still come from the stream."""
    frames = [event_frame(1)] + [event_frame(s) for s in range(3, 22)] + [TIMEOUT_FRAME]
    raw = _FrameRaw([sse(f) for f in frames])
    rsps.get(STREAM, body=io.BufferedReader(raw, buffer_size=64))
    frames_read_at_fill = []

    def events_list(request):
        frames_read_at_fill.append(raw.delivered)
        body = {"ok": True, "events": [ev(s) for s in range(2, 18)]}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    rsps.add_callback(responses.GET, EVENTS, callback=events_list)
    assert seqs(client.observe_window(IID)) == list(range(1, 22))
    assert list_calls(rsps) == [{"since": "1"}]
    assert frames_read_at_fill and frames_read_at_fill[0] < len(frames)


def test_polling_fallback_orders_the_list_too(client, rsps) -> None:
    rsps.get(STREAM, json={"error": "no sse"}, status=501)
    rsps.get(EVENTS, json={"ok": True, "events": [ev(2), ev(1), ev(2), ev(3)]})
    assert seqs(client.observe_window(IID)) == [1, 2, 3]


def test_events_without_seq_pass_through(client, rsps) -> None:
    odd = 'event: intent.note\ndata: {"intent_id": "it-1", "event_type": "intent.note"}'
    rsps.get(STREAM, body=sse(event_frame(2), odd, event_frame(1), TIMEOUT_FRAME))
    events = list(client.observe_window(IID))
    assert [e.get("seq") for e in events] == [None, 1, 2]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_orderer_releases_runs_and_tracks_the_cursor() -> None:
    order = EventOrderer(0)
    assert order.offer({"seq": 3}) == []
    assert order.offer({"seq": 2}) == []
    assert order.missing() == [1]
    assert seqs(order.offer({"seq": 1})) == [1, 2, 3]
    assert order.last == 3 and not order.has_gap
    assert order.offer({"seq": 3}) == [] and order.offer({"seq": True}) == [{"seq": True}]


def test_orderer_hole_is_overdue_after_max_held_or_max_seconds() -> None:
    clock = FakeClock()
    order = EventOrderer(0, max_held=3, max_hold_seconds=1.0, clock=clock)
    assert not order.gap_overdue()
    order.offer({"seq": 2})
    order.offer({"seq": 3})
    assert not order.gap_overdue()
    order.offer({"seq": 4})
    assert order.gap_overdue()  # three held

    order = EventOrderer(0, max_held=3, max_hold_seconds=1.0, clock=clock)
    order.offer({"seq": 2})
    clock.now += 0.9
    assert not order.gap_overdue()
    clock.now += 0.2
    assert order.gap_overdue()
    # closing the hole and opening a new one restarts the wait
    order.offer({"seq": 4})
    assert seqs(order.offer({"seq": 1})) == [1, 2]
    assert order.missing() == [3] and not order.gap_overdue()


def test_orderer_fill_merges_the_list() -> None:
    order = EventOrderer(1)
    order.offer({"seq": 4})
    released = order.fill([{"seq": 2}, {"seq": 3}, {"seq": 4}, {"seq": 5}])
    assert seqs(released) == [2, 3, 4, 5]
    assert order.last == 5 and not order.has_gap
