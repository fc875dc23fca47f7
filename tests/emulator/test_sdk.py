"""The official SDK (``axme`` 0.2.0 from PyPI) drives the emulator over real HTTP, unchanged."""

from __future__ import annotations

import time

import pytest

from django_axme.emulator import ApprovalScript, WorkerScript

from .helpers import APPROVER, BOSS, SENDER, WORKER

axme_sdk = pytest.importorskip("axme_sdk", reason="the official SDK needs Python >= 3.11")


@pytest.fixture
def sdk(axme_emulator):
    client = axme_sdk.AxmeClient(
        axme_sdk.AxmeClientConfig(
            base_url=axme_emulator.url, api_key=axme_emulator.api_key, max_retries=2
        )
    )
    yield client
    client.close()


def payload(to_agent=WORKER):
    return {
        "intent_type": "tests.work.v1",
        "from_agent": SENDER,
        "to_agent": to_agent,
        "payload": {"hello": "world"},
    }


def test_send_intent_observe_until_terminal(axme_emulator, sdk):
    axme_emulator.attach_agent(WORKER, WorkerScript(delay=0.1))
    intent_id = sdk.send_intent(payload())
    assert isinstance(intent_id, str)
    events = list(sdk.observe(intent_id, wait_seconds=5, timeout_seconds=20))
    assert [e["status"] for e in events] == [
        "CREATED",
        "SUBMITTED",
        "DELIVERED",
        "IN_PROGRESS",
        "COMPLETED",
    ]
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    assert sdk.get_intent(intent_id)["intent"]["status"] == "COMPLETED"


def test_wait_for_returns_terminal_event(axme_emulator, sdk):
    axme_emulator.attach_agent(WORKER, WorkerScript(delay=0.05, result={"answer": 42}))
    intent_id = sdk.send_intent(payload())
    event = sdk.wait_for(intent_id, wait_seconds=5, timeout_seconds=20)
    assert event["event_type"] == "intent.completed"
    assert event["status"] == "COMPLETED"


def test_list_inbox_and_approve_inbox_thread(axme_emulator, sdk):
    axme_emulator.attach_agent(APPROVER, ApprovalScript(owner_agent=BOSS, title="Approve?"))
    intent_id = sdk.send_intent(payload(APPROVER))
    axme_emulator.wait_for_status(intent_id, "WAITING", timeout=5)
    deadline = time.monotonic() + 5
    while True:
        threads = sdk.list_inbox(owner_agent=BOSS)["threads"]
        if any(t["thread_id"] == intent_id for t in threads):
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    answer = sdk.approve_inbox_thread(intent_id, {"comment": "approved"}, owner_agent=BOSS)
    assert answer["ok"] is True and answer["thread"]["thread_id"] == intent_id
    event = sdk.wait_for(intent_id, wait_seconds=5, timeout_seconds=20)
    assert event["status"] == "COMPLETED"


def test_update_intent_controls_with_stale_generation(axme_emulator, sdk):
    intent_id = sdk.send_intent(payload())
    owner = {"owner_agent": WORKER}
    first = sdk.update_intent_controls(
        intent_id,
        {"controls_patch": {"timeout_seconds": 60}, "expected_policy_generation": 0},
        **owner,
    )
    assert first["applied"] is True and first["policy_generation"] == 1
    with pytest.raises(axme_sdk.AxmeValidationError) as info:
        sdk.update_intent_controls(
            intent_id,
            {"controls_patch": {"timeout_seconds": 90}, "expected_policy_generation": 0},
            **owner,
        )
    assert info.value.status_code == 409


def test_resolve_intent_twice_conflicts(sdk):
    intent_id = sdk.send_intent(payload())
    done = sdk.resolve_intent(intent_id, {"status": "COMPLETED", "result": {"ok": True}})
    assert done["event"]["event_type"] == "intent.completed"
    with pytest.raises(axme_sdk.AxmeValidationError) as info:
        sdk.resolve_intent(intent_id, {"status": "CANCELED", "reason": "too late"})
    assert info.value.status_code == 409


def test_sdk_retries_through_injected_5xx(axme_emulator, sdk):
    axme_emulator.faults.error_sequence("GET", "/v1/intents/*", [503, 502])
    intent_id = sdk.send_intent(payload())
    assert sdk.get_intent(intent_id)["intent"]["intent_id"] == intent_id
    assert len(axme_emulator.faults.injected("status")) == 2
