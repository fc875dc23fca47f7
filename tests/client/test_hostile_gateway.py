"""The client against gateways that misbehave on purpose (issue 12): every call ends within its
deadline, memory stays within the caps, streams end on time, wrong shapes raise typed errors.

Real sockets on 127.0.0.1 (see ``hostile.py``), short configured timeouts, every call run
under :func:`hostile.run_bounded` so a regression fails instead of hanging.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import subprocess
import sys
import time
import zlib

import pytest
import requests

from django_axme.client import (
    AxmeClient,
    AxmeClientConfig,
    AxmeError,
    AxmeServerError,
    AxmeTransportError,
)
from django_axme.client.errors import AxmeInvalidResponseError, AxmeResponseTooLargeError
from django_axme.client.sse import MAX_LINES_PER_EVENT, EventFramer, SSELimitError
from django_axme.client.streams import SSEEventTooLargeError

from . import hostile
from .conftest import API_KEY

MiB = 1024 * 1024


def client_for(url: str, **overrides) -> AxmeClient:
    options = {
        "base_url": url,
        "api_key": API_KEY,
        "timeout_seconds": 0.5,
        "connect_timeout_seconds": 0.5,
        "max_retries": 0,
        "retry_backoff_seconds": 0.0,
        "retry_backoff_max_seconds": 0.2,
    }
    options.update(overrides)
    return AxmeClient(AxmeClientConfig(**options))


# -- High 1: a total deadline per call --------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "overrides"),
    [
        # the reproduction; a cap above the declared length so only time can stop it
        (hostile.trickle_body(content_length=2_000_000_000), {"max_response_bytes": 2**32}),
        (hostile.trickle_body(content_length=5000), {}),
        (hostile.trickle_headers(), {}),
    ],
    ids=["huge-length-trickle", "small-length-trickle", "header-trickle"],
)
def test_a_trickling_answer_ends_at_the_attempt_deadline(behaviour, overrides) -> None:
    with hostile.hostile_server(behaviour) as server:
        client = client_for(server.url, **overrides)
        assert client.config.attempt_deadline_seconds == 1.0
        _, error, elapsed = hostile.run_bounded(lambda: client.get_intent("it_1"), 6)
    assert isinstance(error, AxmeTransportError), error
    assert "deadline of 1.0s exceeded" in str(error)
    assert 0.9 <= elapsed < 2.5


def test_a_trickle_with_a_declared_length_over_the_cap_fails_at_once() -> None:
    with hostile.hostile_server(hostile.trickle_body(content_length=2_000_000_000)) as server:
        client = client_for(server.url)
        _, error, elapsed = hostile.run_bounded(lambda: client.get_intent("it_1"), 6)
    assert isinstance(error, AxmeResponseTooLargeError)
    assert elapsed < 0.5


def test_retries_stay_within_the_call_deadline() -> None:
    with hostile.hostile_server(hostile.trickle_headers()) as server:
        client = client_for(server.url, max_retries=2)
        budget = client.config.call_deadline_seconds  # 3 * 1.0 + 2 * 0.2
        assert budget == pytest.approx(3.4)
        _, error, elapsed = hostile.run_bounded(lambda: client.get_intent("it_1"), 10)
    assert isinstance(error, AxmeTransportError)
    assert len(server.requests) == 3
    assert elapsed <= budget + 0.5


def test_the_call_deadline_is_derived_from_the_configured_timeouts() -> None:
    config = AxmeClientConfig(api_key="k")  # defaults: 15 s read, 5 s connect, 2 retries
    assert config.attempt_deadline_seconds == 20.0
    assert config.call_deadline_seconds == 3 * 20.0 + 2 * 10.0


# -- High 2: a cap on decoded bodies ----------------------------------------------------------


def test_a_declared_length_over_the_cap_fails_before_reading() -> None:
    with hostile.hostile_server(hostile.flood(content_length=2_000_000_000)) as server:
        client = client_for(server.url, timeout_seconds=5)
        _, error, elapsed = hostile.run_bounded(lambda: client.get_intent("it_1"), 5)
    assert isinstance(error, AxmeResponseTooLargeError)
    assert error.limit == 16 * MiB
    assert "max_response_bytes=16777216" in str(error)
    assert elapsed < 1


def test_an_endless_chunked_body_stops_at_the_cap() -> None:
    with hostile.hostile_server(hostile.flood()) as server:
        client = client_for(server.url, timeout_seconds=5, max_response_bytes=MiB)
        _, error, elapsed = hostile.run_bounded(lambda: client.get_intent("it_1"), 5)
    assert isinstance(error, AxmeResponseTooLargeError)
    assert "max_response_bytes=1048576" in str(error)
    assert elapsed < 2


def test_a_gzip_bomb_is_not_inflated_past_the_cap() -> None:
    bomb = hostile.gzip_bomb_bytes(64 * MiB)
    assert len(bomb) < 200_000
    behaviour = hostile.fixed(200, bomb, headers=b"Content-Encoding: gzip\r\n")
    with hostile.hostile_server(behaviour) as server:
        client = client_for(server.url, timeout_seconds=5, max_response_bytes=MiB)
        _, error, elapsed = hostile.run_bounded(lambda: client.get_intent("it_1"), 5)
    assert isinstance(error, AxmeResponseTooLargeError)
    assert error.limit == MiB
    assert elapsed < 2


def test_a_gzip_body_under_the_cap_is_decoded() -> None:
    body = zlib.compress(json.dumps({"ok": True, "intent": {"intent_id": "it_1"}}).encode())
    behaviour = hostile.fixed(200, body, headers=b"Content-Encoding: deflate\r\n")
    with hostile.hostile_server(behaviour) as server:
        answer, error, _ = hostile.run_bounded(lambda: client_for(server.url).get_intent("it_1"), 5)
    assert error is None
    assert answer["intent"] == {"intent_id": "it_1"}


def test_an_unasked_content_encoding_is_a_transport_error() -> None:
    behaviour = hostile.fixed(200, b"\x00\x01", headers=b"Content-Encoding: br\r\n")
    with hostile.hostile_server(behaviour) as server:
        _, error, _ = hostile.run_bounded(lambda: client_for(server.url).get_intent("it_1"), 5)
    assert isinstance(error, AxmeTransportError)
    assert "ContentDecodingError" in str(error)


def test_a_huge_error_body_is_not_read() -> None:
    behaviour = hostile.flood(status=500, content_length=200 * MiB)
    with hostile.hostile_server(behaviour) as server:
        client = client_for(server.url, timeout_seconds=5)
        _, error, elapsed = hostile.run_bounded(lambda: client.get_intent("it_1"), 5)
    assert isinstance(error, AxmeServerError)
    assert error.status_code == 500
    assert "max_response_bytes=16777216" in str(error)
    assert error.body is None
    assert elapsed < 1


def test_a_chunked_error_body_stops_at_the_cap() -> None:
    with hostile.hostile_server(hostile.flood(status=502)) as server:
        client = client_for(server.url, timeout_seconds=5, max_response_bytes=MiB)
        _, error, elapsed = hostile.run_bounded(lambda: client.get_intent("it_1"), 5)
    assert isinstance(error, AxmeServerError)
    assert "max_response_bytes=1048576" in str(error)
    assert elapsed < 2


def test_max_response_bytes_is_validated() -> None:
    with pytest.raises(ValueError, match=r"^max_response_bytes"):
        AxmeClientConfig(api_key="k", max_response_bytes=1000)
    with pytest.raises(ValueError, match=r"^max_response_bytes"):
        AxmeClientConfig(api_key="k", max_response_bytes=True)
    with pytest.raises(ValueError, match=r"^max_sse_event_bytes"):
        AxmeClientConfig(api_key="k", max_sse_event_bytes="1")
    assert AxmeClientConfig(api_key="k").max_response_bytes == 16 * MiB


# -- High 3: SSE windows with a wall-clock limit, capped and linear ----------------------------


def _data(event: bytes) -> dict:
    return json.loads(event.split(b"data: ")[1])


def _stream_and_list(stream_writer, events: list[bytes] | None = None) -> hostile.Behaviour:
    listed = json.dumps({"ok": True, "events": [_data(e) for e in events or []]})
    return hostile.routes(
        {
            "/events/stream": hostile.sse(stream_writer),
            "/events": hostile.fixed(200, listed.encode()),
        }
    )


def test_a_window_of_endless_keepalives_ends_at_its_deadline() -> None:
    behaviour = _stream_and_list(hostile.keepalives_forever())
    with hostile.hostile_server(behaviour) as server:
        client = client_for(server.url)
        result, error, elapsed = hostile.run_bounded(
            lambda: list(client.observe_window("it_1", wait_seconds=2)), 8
        )
    assert error is None
    assert result == []
    # wait_seconds + timeout_seconds + connect_timeout_seconds = 3 s
    assert 2.9 <= elapsed < 4


def test_an_endless_line_ends_the_stream_and_the_window_reads_the_list() -> None:
    def writer(conn, going) -> None:
        conn.sendall(hostile.event_bytes(1))
        hostile.endless_line()(conn, going)

    behaviour = _stream_and_list(writer, [hostile.event_bytes(1), hostile.event_bytes(2)])
    with hostile.hostile_server(behaviour) as server:
        client = client_for(server.url, timeout_seconds=5, max_sse_event_bytes=MiB)
        result, error, elapsed = hostile.run_bounded(
            lambda: [e["seq"] for e in client.observe_window("it_1", wait_seconds=2)], 8
        )
    assert error is None
    assert result == [1, 2]  # seq 1 from the stream, then the list after seq 1
    assert elapsed < 2
    assert any("since=1" in line for line in server.requests if "/events?" in line)


def test_the_stream_reader_raises_a_typed_error_for_an_oversized_event() -> None:
    def writer(conn, going) -> None:
        conn.sendall(hostile.event_bytes(1, pad=2 * MiB))

    with hostile.hostile_server(hostile.sse(writer)) as server:
        client = client_for(server.url, timeout_seconds=5, max_sse_event_bytes=MiB)
        window = client._intent_window("it_1", 0, 2, None)
        _, error, _ = hostile.run_bounded(lambda: list(window), 5)
    assert isinstance(error, SSEEventTooLargeError)
    assert isinstance(error, AxmeResponseTooLargeError) and error.limit == MiB
    assert "max_sse_event_bytes=1048576" in str(error)


def test_long_lines_are_framed_in_linear_time() -> None:
    framer = EventFramer(64 * MiB)
    timings = []
    for size in (4 * MiB, 16 * MiB):
        line = b"data: " + b"x" * size
        started = time.perf_counter()
        out: list[bytes] = []
        for i in range(0, len(line), 1024):  # 1 KiB chunks: the quadratic worst case
            out += framer.feed(line[i : i + 1024])
        out += framer.feed(b"\n\n")
        timings.append(time.perf_counter() - started)
        assert len(out) == 1 and len(out[0]) == len(line) + 2
    # Quadratic work would make the 4x longer line take ~16x as long (seconds).
    assert timings[1] < 1.5
    assert timings[1] < 8 * timings[0] + 0.2


def test_the_framer_caps_lines_events_and_line_counts() -> None:
    with pytest.raises(SSELimitError, match="line is longer"):
        EventFramer(1024).feed(b"data: " + b"x" * 2000)
    framer = EventFramer(1024)
    with pytest.raises(SSELimitError, match="event is larger"):
        for _ in range(10):
            framer.feed(b"data: " + b"x" * 200 + b"\n")
    framer = EventFramer(1 << 20)
    with pytest.raises(SSELimitError, match=f"more than {MAX_LINES_PER_EVENT} lines"):
        framer.feed(b"data: x\n" * (MAX_LINES_PER_EVENT + 1))
    # CRLF split across chunks, comments dropped, blank line ends the event
    framer = EventFramer(1024)
    assert framer.feed(b": ping\r") == []
    assert framer.feed(b"\nevent: a\r") == []
    assert framer.feed(b"\ndata: 1\r\n\r\n") == [b"event: a\ndata: 1\n\n"]


def test_undecodable_bytes_in_an_event_do_not_break_the_stream() -> None:
    def writer(conn, going) -> None:
        conn.sendall(b"event: intent.x\ndata: \xff\xfe\n\n")
        conn.sendall(hostile.event_bytes(1))

    with hostile.hostile_server(hostile.sse(writer)) as server:
        client = client_for(server.url)
        result, error, _ = hostile.run_bounded(
            lambda: [e["seq"] for e in client._intent_window("it_1", 0, 1, None)], 5
        )
    assert error is None and result == [1]


# -- Medium: observe(timeout_seconds=...) against a silent gateway -----------------------------


def test_observe_raises_timeout_error_on_time_against_a_silent_gateway() -> None:
    with hostile.hostile_server(hostile.silent()) as server:
        client = client_for(server.url, timeout_seconds=60, max_retries=2)
        _, error, elapsed = hostile.run_bounded(
            lambda: list(client.observe("it_1", timeout_seconds=2, wait_seconds=15)), 10
        )
    assert isinstance(error, TimeoutError), error
    assert 1.9 <= elapsed < 3


# -- Low: wrong shapes and echoed keys ----------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"[1, 2]", b"not json", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000, b'"text"'],
    ids=["list", "not-json", "bad-utf8", "deep", "string"],
)
def test_wrong_shaped_answers_raise_an_axme_error(body: bytes) -> None:
    with hostile.hostile_server(hostile.fixed(200, body)) as server:
        _, error, _ = hostile.run_bounded(lambda: client_for(server.url).get_intent("it_1"), 5)
    assert isinstance(error, AxmeInvalidResponseError), repr(error)
    assert isinstance(error, AxmeError) and error.status_code == 502


@pytest.mark.parametrize(
    ("path", "body", "call"),
    [
        ("/v1/intents", b'{"ok": true}', lambda c: c.send_intent({"intent_type": "t"})),
        ("/v1/intents", b'{"intent_id": 5}', lambda c: c.send_intent({"intent_type": "t"})),
        ("/events", b'{"events": {"a": 1}}', lambda c: list(c.observe("it_1", timeout_seconds=3))),
    ],
    ids=["missing-intent-id", "intent-id-not-string", "events-not-a-list"],
)
def test_missing_or_mistyped_fields_raise_an_axme_error(path, body, call) -> None:
    behaviour = hostile.routes(
        {"/stream": hostile.fixed(404, b"{}"), path: hostile.fixed(200, body)}
    )
    with hostile.hostile_server(behaviour) as server:
        _, error, _ = hostile.run_bounded(lambda: call(client_for(server.url)), 6)
    assert isinstance(error, AxmeError), repr(error)


def test_an_echoed_key_is_redacted_everywhere(caplog: pytest.LogCaptureFixture) -> None:
    body = json.dumps({"error": {"message": f"bad key {API_KEY}", "key": API_KEY}}).encode()
    headers = b"X-Request-Id: req-%s\r\nX-Trace-Id: %s\r\n" % (API_KEY.encode(), API_KEY.encode())
    behaviour = hostile.fixed(401, body, headers=headers)
    with hostile.hostile_server(behaviour) as server, caplog.at_level(logging.DEBUG):
        _, error, _ = hostile.run_bounded(lambda: client_for(server.url).get_intent("it_1"), 5)
    assert error is not None
    assert API_KEY not in str(error)
    assert API_KEY not in repr(error.body) and "[redacted]" in json.dumps(error.body)
    assert error.request_id == "req-[redacted]"
    assert error.trace_id == "[redacted]"
    assert caplog.records and API_KEY not in caplog.text
    assert "req-[redacted]" in caplog.text


def test_a_session_without_the_watchdog_still_stops_a_trickling_body() -> None:
    session = requests.Session()  # plain adapters: only the between-reads check applies
    with hostile.hostile_server(hostile.trickle_body(content_length=5000)) as server:
        client = AxmeClient(
            AxmeClientConfig(
                base_url=server.url,
                api_key=API_KEY,
                timeout_seconds=0.5,
                connect_timeout_seconds=0.5,
                max_retries=0,
            ),
            session=session,
        )
        _, error, elapsed = hostile.run_bounded(lambda: client.get_intent("it_1"), 6)
    assert isinstance(error, AxmeTransportError)
    assert "deadline of 1.0s exceeded" in str(error)
    assert elapsed < 1.5


def _trickle_call_in_child(url: str, queue) -> None:
    client = client_for(url)
    started = time.monotonic()
    try:
        client.get_intent("it_1")
        queue.put(("returned", time.monotonic() - started))
    except AxmeTransportError:
        queue.put(("AxmeTransportError", time.monotonic() - started))


def test_the_deadline_watchdog_works_in_a_forked_child() -> None:
    ctx = multiprocessing.get_context("fork")
    with hostile.hostile_server(hostile.trickle_headers()) as server:
        client_for(server.url)  # the parent has used the watchdog before the fork
        hostile.run_bounded(lambda: client_for(server.url).get_intent("it_1"), 6)
        queue = ctx.Queue()
        child = ctx.Process(target=_trickle_call_in_child, args=(server.url, queue))
        child.start()
        child.join(8)
        if child.is_alive():
            child.kill()
            raise AssertionError("the forked child's call has no deadline")
    outcome, seconds = queue.get(timeout=1)
    assert outcome == "AxmeTransportError" and seconds < 2.5


_MEMORY_CHILD = r"""
import json, resource, sys
from django_axme.client import AxmeClient, AxmeClientConfig
resource.setrlimit(resource.RLIMIT_AS, (1536 * 1024 * 1024, 1536 * 1024 * 1024))
client = AxmeClient(AxmeClientConfig(base_url=sys.argv[1], api_key="k", timeout_seconds=5,
                                     connect_timeout_seconds=1, max_retries=0))
def hwm():  # this process image's peak RSS in KiB (ru_maxrss may carry the parent's)
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmHWM"))
before = hwm()
outcomes = []
for _ in range(2):
    try:
        client.get_intent("it_1")
        outcomes.append("returned")
    except Exception as exc:
        outcomes.append(type(exc).__name__)
peak = hwm()
print(json.dumps({"outcomes": outcomes, "before_kb": before, "peak_kb": peak}))
"""


@pytest.mark.parametrize(
    "make_behaviour",
    [
        lambda: hostile.fixed(
            200, hostile.gzip_bomb_bytes(1024 * MiB), headers=b"Content-Encoding: gzip\r\n"
        ),
        lambda: hostile.flood(budget=2 * 1024 * MiB),
        lambda: hostile.flood(status=500, budget=2 * 1024 * MiB),
    ],
    ids=["gzip-bomb-1GiB", "chunked-2GB", "error-500-chunked-2GB"],
)
def test_peak_memory_stays_near_the_cap(make_behaviour) -> None:
    """Peak RSS (Linux ``VmHWM``) of a fresh process making the call twice: the default
    16 MiB cap plus the interpreter and libraries, not the gigabytes the gateway offers
    (issue 12 measured 2.1 GB for the bomb and 3.1 GB for the 2 GB body)."""
    with hostile.hostile_server(make_behaviour()) as server:
        child = subprocess.run(
            [sys.executable, "-c", _MEMORY_CHILD, server.url],
            capture_output=True,
            timeout=30,
            check=False,
        )
    assert child.returncode == 0, child.stderr.decode()[-2000:]
    figures = json.loads(child.stdout.decode().strip().splitlines()[-1])
    assert figures["outcomes"] != ["returned", "returned"]
    grown_mb = (figures["peak_kb"] - figures["before_kb"]) / 1024
    assert grown_mb < 100, figures


def test_a_head_answer_is_not_read_whatever_its_content_length() -> None:
    def head(line, conn, stop) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2000000000\r\n\r\n")

    with hostile.hostile_server(head) as server:
        result, error, elapsed = hostile.run_bounded(
            lambda: client_for(server.url)._request("HEAD", "/health"), 5
        )
    assert error is None and result == {}
    assert elapsed < 0.5
