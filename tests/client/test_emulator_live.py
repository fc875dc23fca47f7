"""The client against the emulator over real HTTP (``axme_emulator`` fixture of our plugin)."""

from __future__ import annotations

import threading
import time

import pytest

from django_axme.client import (
    AxmeAuthError,
    AxmeConflictError,
    AxmeNotFoundError,
)

BODY = {
    "intent_type": "notify.message.v1",
    "from_agent": "agent://acme/shop/web",
    "to_agent": "agent://acme/shop/worker",
    "payload": {"order": 42},
}


@pytest.fixture
def live(axme_emulator):
    client = axme_emulator.client(retry_backoff_seconds=0.01)
    yield axme_emulator, client
    client.close()


def test_health_and_idempotent_create(live) -> None:
    _, client = live
    assert client.health()["ok"] is True
    first = client.create_intent(BODY, idempotency_key="order-42")
    again = client.create_intent(BODY, idempotency_key="order-42")
    assert first["intent_id"] == again["intent_id"]
    with pytest.raises(AxmeConflictError):
        client.create_intent({**BODY, "payload": {"order": 43}}, idempotency_key="order-42")
    intent = client.get_intent(first["intent_id"])
    assert intent["intent"]["payload"] == {"order": 42}


def test_wait_for_follows_the_stream_to_the_terminal_event(live) -> None:
    emulator, client = live
    intent_id = client.send_intent(BODY)

    def finish() -> None:
        time.sleep(0.3)
        emulator.transition(intent_id, "IN_PROGRESS")
        time.sleep(0.2)
        emulator.resolve(intent_id, "COMPLETED", result={"done": True})

    threading.Thread(target=finish, daemon=True).start()
    seqs = []
    final = None
    for event in client.observe(intent_id, wait_seconds=5, timeout_seconds=20):
        seqs.append(event["seq"])
        final = event
    assert final is not None and final["status"] == "COMPLETED"
    assert seqs == sorted(set(seqs)) and seqs[0] == 1
    assert seqs == [e["seq"] for e in emulator.events(intent_id)]


def test_observe_survives_a_cut_stream(live) -> None:
    emulator, client = live
    emulator.faults.cut_stream(after_events=1, times=1)
    intent_id = client.send_intent(BODY)
    emulator.transition(intent_id, "IN_PROGRESS")
    emulator.resolve(intent_id, "COMPLETED", result={})
    seqs = [e["seq"] for e in client.observe(intent_id, wait_seconds=2, timeout_seconds=20)]
    assert seqs == [e["seq"] for e in emulator.events(intent_id)]
    assert emulator.faults.injected()


def test_retries_through_injected_503(live) -> None:
    emulator, client = live
    intent_id = client.send_intent(BODY)
    emulator.faults.error_sequence("GET", f"/v1/intents/{intent_id}", [503])
    assert client.get_intent(intent_id)["intent"]["intent_id"] == intent_id


def test_error_mapping_over_http(live) -> None:
    emulator, client = live
    with pytest.raises(AxmeNotFoundError):
        client.get_intent("00000000-0000-4000-8000-000000000000")
    with pytest.raises(AxmeNotFoundError):
        list(client.observe_window("00000000-0000-4000-8000-000000000000", wait_seconds=1))
    bad = emulator.client(api_key="axme_sa_wrong_key")
    try:
        with pytest.raises(AxmeAuthError):
            bad.get_intent("00000000-0000-4000-8000-000000000000")
    finally:
        bad.close()
