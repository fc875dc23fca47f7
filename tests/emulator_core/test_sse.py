"""SSE streams: framing, backlog, live events, keep-alives, the closing frame, prompt close,
the agent feed and the lock never being held while a stream waits."""

from __future__ import annotations

import json
import threading
import time

from django_axme.emulator.http_types import KEEPALIVE_FRAME

from .conftest import call, intent_body


def parse_frame(frame: bytes) -> dict:
    assert frame.endswith(b"\n\n") and frame.count(b"\n\n") == 1, frame
    fields: dict = {}
    for line in frame.decode("ascii").rstrip("\n").split("\n"):
        if line.startswith(":"):
            fields["comment"] = line[1:].strip()
            continue
        name, _, value = line.partition(": ")
        assert name not in fields, f"repeated field {name} in {frame!r}"
        fields[name] = value
    if "data" in fields:
        fields["data"] = json.loads(fields["data"])
    return fields


def _stream(gw, iid, **query):
    answer = call(gw, "GET", f"/v1/intents/{iid}/events/stream", query=query)
    assert answer.status == 200, answer.body
    assert answer.response.headers["content-type"].startswith("text/event-stream")
    return answer.response.stream


def test_backlog_live_events_and_close_after_terminal(gw):
    iid = gw.create_intent(intent_body())["intent_id"]
    stream = _stream(gw, iid, since=0, wait_seconds=10)
    first, second = parse_frame(next(stream)), parse_frame(next(stream))
    assert (first["id"], first["event"]) == ("1", "intent.created")
    assert (second["id"], second["event"]) == ("2", "intent.submitted")
    assert second["data"] == gw.events(iid)[1]

    def later():
        time.sleep(0.1)
        gw.transition(iid, "IN_PROGRESS")
        gw.resolve(iid, "COMPLETED", result={"done": True})

    threading.Thread(target=later).start()
    started = time.monotonic()
    rest = [parse_frame(f) for f in stream]
    elapsed = time.monotonic() - started
    events = [f for f in rest if "event" in f]
    assert [e["event"] for e in events] == [
        "intent.in_progress",
        "intent.completed",
        "stream.timeout",
    ]
    assert [e["data"]["seq"] for e in events[:2]] == [3, 4]
    assert events[-1]["data"] == {"ok": True, "next_seq": 5}
    assert "id" not in events[-1]
    assert elapsed < 5, "the stream must end right after the terminal event"


def test_since_and_window_end(gw):
    iid = gw.create_intent(intent_body())["intent_id"]
    started = time.monotonic()
    frames = [parse_frame(f) for f in _stream(gw, iid, since=1, wait_seconds=1)]
    elapsed = time.monotonic() - started
    events = [f for f in frames if "event" in f]
    assert [e["event"] for e in events] == ["intent.submitted", "stream.timeout"]
    assert events[-1]["data"]["next_seq"] == 3
    assert 0.9 <= elapsed < 3
    # keep-alives every keepalive_seconds (0.2 s in these tests) while idle
    assert sum(1 for f in frames if f.get("comment") == "keep-alive") >= 3


def test_terminal_intent_stream_closes_at_once(gw):
    iid = gw.create_intent(intent_body())["intent_id"]
    gw.resolve(iid, "FAILED", error={"code": "x"})
    started = time.monotonic()
    frames = [parse_frame(f) for f in _stream(gw, iid, since=3, wait_seconds=30)]
    assert [f["event"] for f in frames] == ["stream.timeout"]
    assert time.monotonic() - started < 1


def test_parameter_validation_before_streaming(gw):
    iid = gw.create_intent(intent_body())["intent_id"]
    for query, field in [
        ({"wait_seconds": 0}, "wait_seconds"),
        ({"wait_seconds": 61}, "wait_seconds"),
        ({"since": -1}, "since"),
        ({"since": "x"}, "since"),
    ]:
        answer = call(gw, "GET", f"/v1/intents/{iid}/events/stream", query=query)
        assert answer.status == 422 and answer.body["error"]["field"] == field
    missing = call(gw, "GET", "/v1/intents/unknown/events/stream")
    assert missing.status == 404 and missing.response.stream is None
    unauthorized = call(gw, "GET", f"/v1/intents/{iid}/events/stream", api_key=None)
    assert unauthorized.status == 401


def test_closing_the_generator_stops_it(gw):
    iid = gw.create_intent(intent_body())["intent_id"]
    stream = _stream(gw, iid, wait_seconds=60)
    next(stream)
    stream.close()
    assert list(stream) == []


def test_waiting_streams_do_not_hold_the_lock(gw):
    iid = gw.create_intent(intent_body())["intent_id"]
    streams = [_stream(gw, iid, since=2, wait_seconds=5) for _ in range(20)]
    received: list[list[bytes]] = [[] for _ in streams]

    def consume(index):
        for frame in streams[index]:
            if frame != KEEPALIVE_FRAME:
                received[index].append(frame)

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(len(streams))]
    for t in threads:
        t.start()
    time.sleep(0.2)
    started = time.monotonic()
    for _ in range(50):
        gw.create_intent(intent_body())
    assert time.monotonic() - started < 2
    gw.resolve(iid, "COMPLETED")
    for t in threads:
        t.join(5)
    for frames in received:
        names = [parse_frame(f)["event"] for f in frames]
        assert names == ["intent.completed", "stream.timeout"]


def test_agent_stream_delivers_and_filters(gw):
    first = gw.create_intent(intent_body(to_agent="agent://acme/ops/worker"))["intent_id"]
    answer = call(gw, "GET", "/v1/agents/acme/ops/worker/intents/stream", query={"wait_seconds": 1})
    assert answer.status == 200
    frames = [parse_frame(f) for f in answer.response.stream if f != KEEPALIVE_FRAME]
    names = [f["event"] for f in frames]
    assert names[:2] == ["intent.created", "intent.submitted"]
    assert names[-1] == "stream.timeout"
    seqs = [f["data"]["seq"] for f in frames[:-1]]
    assert seqs == sorted(seqs) and seqs[0] == 1
    assert frames[1]["data"]["intent"]["intent_id"] == first
    # handing the SUBMITTED intent to a listener delivered it
    assert gw.get_intent(first)["status"] == "DELIVERED"
    assert "intent.delivered" in names
    # resume from the cursor: only new entries; terminal ones are filtered by default
    cursor = seqs[-1]
    gw.resolve(first, "COMPLETED")
    second = gw.create_intent(intent_body(to_agent="agent://acme/ops/worker"))["intent_id"]
    again = call(
        gw,
        "GET",
        "/v1/agents/acme/ops/worker/intents/stream",
        query={"since": cursor, "wait_seconds": 1},
    )
    frames = [parse_frame(f) for f in again.response.stream if "event" in parse_frame(f)]
    ids = {f["data"]["intent_id"] for f in frames[:-1]}
    assert ids == {second}
    assert all(f["data"]["seq"] > cursor for f in frames[:-1])
    # an explicit status filter overrides the default
    only_done = call(
        gw,
        "GET",
        "/v1/agents/acme/ops/worker/intents/stream",
        query={"status": "COMPLETED", "wait_seconds": 1},
    )
    frames = [parse_frame(f) for f in only_done.response.stream if f != KEEPALIVE_FRAME]
    assert [f["event"] for f in frames] == ["intent.completed", "stream.timeout"]
    bad = call(gw, "GET", "/v1/agents/acme/ops/worker/intents/stream", query={"status": "DONE"})
    assert bad.status == 422


def test_agent_stream_wakes_on_new_intent(gw):
    answer = call(
        gw,
        "GET",
        "/v1/agents/acme/ops/late/intents/stream",
        query={"wait_seconds": 5, "status": "SUBMITTED"},
    )
    stream = answer.response.stream
    holder = {}

    def consume():
        for frame in stream:
            if frame != KEEPALIVE_FRAME:
                holder["frame"] = parse_frame(frame)
                stream.close()
                return

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.2)
    iid = gw.create_intent(intent_body(to_agent="agent://acme/ops/late"))["intent_id"]
    t.join(5)
    assert holder["frame"]["data"]["intent_id"] == iid
    assert holder["frame"]["event"] == "intent.submitted"
