"""django-axme's own client drives the emulator over HTTP and through the responses adapter,
with faults: every injected fault is survived or reported as documented."""

from __future__ import annotations

import time

import pytest

from django_axme.client import (
    AxmeClient,
    AxmeClientConfig,
    AxmeConflictError,
    AxmeRateLimitError,
    AxmeServerError,
    AxmeTransportError,
)
from django_axme.emulator import ApprovalScript, WorkerScript

from .helpers import APPROVER, BOSS, SENDER, WORKER


def body(to_agent=WORKER):
    return {
        "intent_type": "tests.work.v1",
        "from_agent": SENDER,
        "to_agent": to_agent,
        "payload": {"n": 1},
    }


def make_client(front, **config):
    config.setdefault("retry_backoff_seconds", 0.01)
    config.setdefault("retry_backoff_max_seconds", 0.05)
    return AxmeClient(AxmeClientConfig(base_url=front.url, api_key=front.api_key, **config))


def test_round_trip_with_a_worker(front):
    front.attach_agent(WORKER, WorkerScript(delay=0.05))
    client = make_client(front)
    intent_id = client.send_intent(body())
    events = list(client.observe(intent_id, wait_seconds=5, timeout_seconds=20))
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    assert events[-1]["status"] == "COMPLETED"


def test_approval_through_the_inbox(front):
    front.attach_agent(APPROVER, ApprovalScript(owner_agent=BOSS))
    client = make_client(front)
    intent_id = client.send_intent(body(APPROVER))
    front.wait_for_status(intent_id, "WAITING", timeout=5)
    threads = client.list_inbox(owner_agent=BOSS)["threads"]
    assert intent_id in [t["thread_id"] for t in threads]
    client.approve_inbox_thread(intent_id, {"comment": "ok"}, owner_agent=BOSS)
    assert client.wait_for(intent_id, wait_seconds=5, timeout_seconds=20)["status"] == "COMPLETED"


def test_read_survives_5xx_sequence(front):
    client = make_client(front, max_retries=2)
    intent_id = client.send_intent(body())
    front.faults.error_sequence("GET", f"/v1/intents/{intent_id}", [503, 500])
    assert client.get_intent(intent_id)["intent"]["intent_id"] == intent_id
    assert [r.action for r in front.faults.injected("status")] == ["status 503", "status 500"]


def test_keyed_write_survives_5xx_and_creates_one_intent(front):
    client = make_client(front, max_retries=2)
    front.faults.error_sequence("POST", "/v1/intents", [502, 503])
    before = len(front.gateway.list_intents())
    intent_id = client.send_intent(body(), idempotency_key="order-42-attempt")
    assert len(front.gateway.list_intents()) == before + 1
    assert front.get_intent(intent_id)["intent_id"] == intent_id


def test_exhausted_retries_are_reported_as_server_error(front):
    client = make_client(front, max_retries=2)
    front.faults.error_sequence("GET", "/health", [503, 503, 503])
    with pytest.raises(AxmeServerError) as info:
        client.health()
    assert info.value.status_code == 503
    assert len(front.faults.injected("status")) == 3
    assert client.health()["ok"] is True


def test_rate_limit_honours_retry_after(front):
    client = make_client(front, max_retries=1, retry_backoff_max_seconds=2)
    front.faults.rate_limit("GET", "/health", count=1, retry_after=1)
    started = time.monotonic()
    assert client.health()["ok"] is True
    assert time.monotonic() - started >= 1.0  # waited Retry-After
    front.faults.rate_limit("GET", "/health", count=2, retry_after=1)
    with pytest.raises(AxmeRateLimitError) as info:  # retries exhausted
        client.health()
    assert info.value.retry_after == 1


def test_rate_limit_longer_than_backoff_cap_is_reported_at_once(front):
    client = make_client(front, max_retries=3, retry_backoff_max_seconds=0.5)
    front.faults.rate_limit("GET", "/health", count=1, retry_after=30)
    started = time.monotonic()
    with pytest.raises(AxmeRateLimitError) as info:
        client.health()
    assert info.value.retry_after == 30
    assert time.monotonic() - started < 5
    assert len(front.faults.injected("status 429")) == 1


def test_latency_is_survived(front):
    client = make_client(front)
    front.faults.latency("GET", "/health", 0.3)
    started = time.monotonic()
    assert client.health()["ok"] is True
    assert time.monotonic() - started >= 0.3


def test_latency_beyond_timeout_is_a_transport_error(axme_emulator):
    client = make_client(axme_emulator, timeout_seconds=0.2, max_retries=1)
    axme_emulator.faults.latency("GET", "/health", 0.6)
    with pytest.raises(AxmeTransportError):
        client.health()


def test_observe_resumes_after_a_cut_stream_without_loss_or_repeat(front):
    front.attach_agent(WORKER, WorkerScript(delay=0.1))
    front.faults.cut_stream(after_events=2, times=2)
    client = make_client(front)
    intent_id = client.send_intent(body())
    events = list(client.observe(intent_id, wait_seconds=5, timeout_seconds=20))
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    assert len(front.faults.injected("stream cut")) == 2


def test_observe_drops_duplicated_events(front):
    front.attach_agent(WORKER, WorkerScript(delay=0.05))
    front.faults.duplicate_events(rate=1.0)
    client = make_client(front)
    intent_id = client.send_intent(body())
    events = list(client.observe(intent_id, wait_seconds=5, timeout_seconds=20))
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    assert front.faults.injected("event duplicated")


def test_observe_window_with_swapped_events_yields_each_once_in_order(front):
    client = make_client(front)
    intent_id = client.send_intent(body())
    for _ in range(3):
        front.advance(intent_id)
    front.faults.reorder_events(rate=1.0)
    events = list(client.observe_window(intent_id, wait_seconds=2))
    assert len(front.faults.injected("events swapped")) == 2  # the stream sent 2, 1, 4, 3, 5
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    assert events[-1]["status"] == "COMPLETED"


def test_observe_with_swapped_events_yields_each_once_in_order(front):
    client = make_client(front)
    intent_id = client.send_intent(body())
    for _ in range(3):
        front.advance(intent_id)
    front.faults.reorder_events(rate=1.0)
    events = list(client.observe(intent_id, wait_seconds=2, timeout_seconds=20))
    assert len(front.faults.injected("events swapped")) == 2
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    assert events[-1]["status"] == "COMPLETED"


def test_observe_live_events_with_swaps_and_duplicates(front):
    front.attach_agent(WORKER, WorkerScript(delay=0.05))
    front.faults.reorder_events(rate=1.0).duplicate_events(rate=0.5)
    client = make_client(front)
    intent_id = client.send_intent(body())
    events = list(client.observe(intent_id, wait_seconds=5, timeout_seconds=20))
    assert front.faults.injected("events swapped")
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    assert events[-1]["status"] == "COMPLETED"


def test_resolve_twice_is_a_conflict(front):
    client = make_client(front)
    intent_id = client.send_intent(body())
    client.resolve_intent(intent_id, {"status": "COMPLETED", "result": {"ok": True}})
    with pytest.raises(AxmeConflictError):
        client.resolve_intent(intent_id, {"status": "CANCELED", "reason": "late"})


def test_restart_is_survived_and_state_kept(axme_emulator):
    # Full jitter can draw sleeps near zero: with only a few retries, their sum could end
    # before the 0.4 s downtime (plus the rebind, slower on a loaded machine). Twenty retries
    # capped at 0.5 s wait about 4 s on average, far beyond the downtime.
    client = make_client(
        axme_emulator, max_retries=20, retry_backoff_seconds=0.1, retry_backoff_max_seconds=0.5
    )
    intent_id = client.send_intent(body())
    axme_emulator.faults.restart(after_requests=1, downtime=0.4, method="GET")
    assert client.get_intent(intent_id)["intent"]["intent_id"] == intent_id
    assert axme_emulator.server.restarts == 1


def test_restart_without_retries_is_a_transport_error(axme_mock):
    client = make_client(axme_mock, max_retries=0)
    axme_mock.faults.restart(after_requests=1, downtime=0.2)
    with pytest.raises(AxmeTransportError):
        client.health()
    time.sleep(0.25)
    assert client.health()["ok"] is True
