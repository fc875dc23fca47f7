"""Every injected fault is observable, over real HTTP and through the responses adapter."""

from __future__ import annotations

import time

import pytest
import requests

from django_axme.emulator import Emulator, FaultPlan
from django_axme.emulator.faults import is_event_frame
from django_axme.emulator.http_types import EmulatorRequest, EmulatorResponse

from .helpers import create, event_seqs, headers, intent_body, parse_frames


def health(front):
    return requests.get(f"{front.url}/health", headers=headers(front.api_key), timeout=5)


def test_error_sequence_then_pass(front):
    front.faults.error_sequence("GET", "/health", [503, 500, 200, 502])
    codes = [health(front).status_code for _ in range(5)]
    assert codes == [503, 500, 200, 502, 200]
    assert [r.action for r in front.faults.injected("status")] == [
        "status 503",
        "status 500",
        "status 502",
    ]


def test_error_body_shape(front):
    front.faults.error_sequence("POST", "/v1/intents", [503])
    r = requests.post(f"{front.url}/v1/intents", json=intent_body(), headers=headers(front.api_key))
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "service_unavailable"
    assert r.json()["detail"]
    # the failed attempt created nothing; the retry does
    r2 = requests.post(
        f"{front.url}/v1/intents", json=intent_body(), headers=headers(front.api_key)
    )
    assert r2.status_code == 200


def test_rate_limit_carries_retry_after(front):
    front.faults.rate_limit("*", "/v1/intents/*", count=2, retry_after=3)
    intent_id = create(front.url, front.api_key)
    url = f"{front.url}/v1/intents/{intent_id}"
    first = requests.get(url, headers=headers(front.api_key))
    second = requests.get(url, headers=headers(front.api_key))
    third = requests.get(url, headers=headers(front.api_key))
    assert [first.status_code, second.status_code, third.status_code] == [429, 429, 200]
    assert first.headers["Retry-After"] == "3"
    assert first.json()["error"]["code"] == "rate_limit_exceeded"


def _rate_outcomes(seed: int) -> list[int]:
    with Emulator(seed=seed) as emulator:
        emulator.faults.error_rate("GET", "/health", 0.5, statuses=(500, 503))
        req = EmulatorRequest("GET", "/health", headers={"x-api-key": emulator.api_key})
        return [emulator.handle(req).status for _ in range(40)]


def test_error_rate_is_deterministic_per_seed():
    a, b, c = _rate_outcomes(7), _rate_outcomes(7), _rate_outcomes(8)
    assert a == b
    assert a != c
    assert {500, 503, 200} <= set(a)
    assert 8 <= sum(1 for s in a if s != 200) <= 32


def test_error_rate_over_http(front):
    front.faults.error_rate("GET", "/health", 1.0, statuses=(502,), times=2)
    assert [health(front).status_code for _ in range(3)] == [502, 502, 200]


def test_latency(front):
    front.faults.latency("GET", "/health", 0.3)
    started = time.monotonic()
    assert health(front).status_code == 200
    assert time.monotonic() - started >= 0.3
    assert front.faults.injected("latency")


def _stream(front, intent_id, since=0, wait_seconds=1):
    return requests.get(
        f"{front.url}/v1/intents/{intent_id}/events/stream",
        params={"since": since, "wait_seconds": wait_seconds},
        headers=headers(front.api_key),
        stream=True,
        timeout=10,
    )


def _completed_intent(front):
    intent_id = create(front.url, front.api_key)
    for _ in range(3):
        front.advance(intent_id)
    assert front.get_intent(intent_id)["status"] == "COMPLETED"
    return intent_id


def test_stream_cut_after_n_events_then_resume(front):
    intent_id = _completed_intent(front)
    front.faults.cut_stream(after_events=2)
    received = b""
    with _stream(front, intent_id) as r, pytest.raises(requests.exceptions.ChunkedEncodingError):
        for chunk in r.iter_content(chunk_size=None):
            received += chunk
    frames = parse_frames(received)
    assert event_seqs(frames) == [1, 2]
    assert "stream.timeout" not in [name for name, _ in frames]
    # only one stream is cut (times=1): resuming from the last seq gets the rest
    with _stream(front, intent_id, since=2) as r:
        rest = parse_frames(r.content)
    assert event_seqs(rest) == [3, 4, 5]
    assert rest[-1][0] in ("stream.timeout", "intent.completed")


def test_duplicated_events(front):
    intent_id = _completed_intent(front)
    front.faults.duplicate_events(rate=1.0)
    with _stream(front, intent_id) as r:
        seqs = event_seqs(parse_frames(r.content))
    assert seqs == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_out_of_order_events(front):
    intent_id = _completed_intent(front)
    front.faults.reorder_events(rate=1.0)
    with _stream(front, intent_id) as r:
        seqs = event_seqs(parse_frames(r.content))
    # adjacent pairs swapped, the last frame released before the window ends; our client
    # turns this back into 1..5 (test_our_client.py::*_with_swapped_events_*)
    assert seqs == [2, 1, 4, 3, 5]
    assert len(front.faults.injected("events swapped")) == 2


def test_stream_faults_leave_other_routes_alone(front):
    front.faults.cut_stream(after_events=0, times=None)
    intent_id = create(front.url, front.api_key)
    r = requests.get(f"{front.url}/v1/intents/{intent_id}/events", headers=headers(front.api_key))
    assert r.status_code == 200 and len(r.json()["events"]) == 2


def test_restart_keeps_state_live(axme_emulator):
    front = axme_emulator
    intent_id = create(front.url, front.api_key)
    port = front.server.port
    front.faults.restart(after_requests=1, downtime=0.5, path="/health")
    with pytest.raises(requests.exceptions.ConnectionError):
        health(front)
    with pytest.raises(requests.exceptions.ConnectionError):
        health(front)  # still down
    deadline = time.monotonic() + 5
    while True:
        try:
            ok = health(front)
            break
        except requests.exceptions.ConnectionError:
            assert time.monotonic() < deadline, "emulator did not come back"
            time.sleep(0.05)
    assert ok.status_code == 200
    assert front.server.port == port
    assert front.server.restarts == 1
    r = requests.get(f"{front.url}/v1/intents/{intent_id}", headers=headers(front.api_key))
    assert r.status_code == 200 and r.json()["intent"]["intent_id"] == intent_id


def test_restart_in_mock_is_a_connection_error_then_state_is_kept(axme_mock):
    intent_id = create(axme_mock.url, axme_mock.api_key)
    axme_mock.faults.restart(after_requests=2, downtime=0.2, method="GET")
    assert health(axme_mock).status_code == 200
    with pytest.raises(requests.exceptions.ConnectionError):
        health(axme_mock)
    time.sleep(0.25)
    r = requests.get(f"{axme_mock.url}/v1/intents/{intent_id}", headers=headers(axme_mock.api_key))
    assert r.status_code == 200


def test_server_restart_closes_open_streams_and_keeps_state(axme_emulator):
    front = axme_emulator
    intent_id = create(front.url, front.api_key)
    r = _stream(front, intent_id, wait_seconds=30)
    chunks = r.iter_content(chunk_size=None)
    first = next(chunks)
    assert b"intent.created" in first
    started = time.monotonic()
    front.restart()
    with pytest.raises(requests.exceptions.RequestException):
        for _ in chunks:
            pass
    assert time.monotonic() - started < 3
    assert front.get_intent(intent_id)["intent_id"] == intent_id
    assert health(front).status_code == 200


def test_fault_specs_and_bad_input():
    plan = FaultPlan(seed=1)
    plan.configure(
        [
            {"fault": "error_sequence", "method": "POST", "path": "/v1/intents", "statuses": [503]},
            {"fault": "cut_stream", "after_events": 3},
        ]
    )
    ok = EmulatorResponse.json(200, {"ok": True})
    resp = plan.apply(EmulatorRequest("POST", "/v1/intents"), lambda req: ok)
    assert resp.status == 503
    with pytest.raises(ValueError, match="unknown fault 'explode'"):
        plan.configure({"fault": "explode"})
    with pytest.raises(ValueError, match="rate"):
        plan.error_rate("GET", "/x", 2.0)
    with pytest.raises(ValueError, match="status"):
        plan.error_sequence("GET", "/x", [42])
    assert is_event_frame(b"id: 1\nevent: intent.created\ndata: {}\n\n")
    assert not is_event_frame(b": keep-alive\n\n")
    assert not is_event_frame(b"event: stream.timeout\ndata: {}\n\n")


@pytest.mark.axme(
    seed=3,
    faults=[{"fault": "error_sequence", "method": "GET", "path": "/health", "statuses": [500]}],
)
def test_marker_configures_faults(front):
    assert front.emulator.seed == 3
    assert health(front).status_code == 500
    assert health(front).status_code == 200
