"""Simulated agents driven over real HTTP and through the responses adapter."""

from __future__ import annotations

import time

import pytest
import requests

from django_axme.emulator import (
    ApprovalScript,
    DeadlineScript,
    FailingScript,
    WorkerScript,
    parse_script,
)
from django_axme.emulator.agents import parse_agent_spec

from .helpers import APPROVER, BOSS, WORKER, create, headers, stream_events


def statuses(front, intent_id):
    return [e["status"] for e in front.events(intent_id)]


def test_without_agent_intent_is_submitted_and_waits(front):
    intent_id = create(front.url, front.api_key, payload={"script": "worker", "approve": True})
    time.sleep(0.3)
    assert statuses(front, intent_id) == ["CREATED", "SUBMITTED"]
    r = requests.get(f"{front.url}/v1/intents/{intent_id}", headers=headers(front.api_key))
    assert r.json()["intent"]["status"] == "SUBMITTED"


def test_worker_script_completes_in_order(front):
    front.attach_agent(WORKER, WorkerScript(delay=0.02, result={"done": 1}))
    intent_id = create(front.url, front.api_key)
    intent = front.wait_for_status(intent_id, "COMPLETED", timeout=5)
    assert intent["status"] == "COMPLETED"
    assert statuses(front, intent_id) == [
        "CREATED",
        "SUBMITTED",
        "DELIVERED",
        "IN_PROGRESS",
        "COMPLETED",
    ]
    frames = stream_events(front.url, front.api_key, intent_id)
    names = [name for name, _ in frames if name.startswith("intent.")]
    assert names[-1] == "intent.completed"
    assert [d["seq"] for n, d in frames if n.startswith("intent.")] == [1, 2, 3, 4, 5]
    assert front.events(intent_id)[-1]["details"]["result"] == {"done": 1}


def test_script_matched_by_intent_type(front):
    front.attach_agent("tests.work.v1", "worker")
    intent_id = create(front.url, front.api_key, to_agent="agent://tests/someone-else")
    assert front.wait_for_status(intent_id, timeout=5)["status"] == "COMPLETED"


def test_to_agent_match_wins_over_intent_type(front):
    front.attach_agent("tests.work.v1", "worker")
    front.attach_agent(WORKER, "failing")
    intent_id = create(front.url, front.api_key, to_agent=WORKER)
    assert front.wait_for_status(intent_id, timeout=5)["status"] == "FAILED"


def _wait_for_thread(front, intent_id, owner=BOSS, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = requests.get(
            f"{front.url}/v1/inbox", params={"owner_agent": owner}, headers=headers(front.api_key)
        )
        assert r.status_code == 200, r.text
        for thread in r.json()["threads"]:
            if thread["thread_id"] == intent_id:
                return thread
        time.sleep(0.02)
    raise AssertionError(f"no inbox thread for {intent_id} in {owner}'s inbox")


def test_approval_script_approve_via_inbox(front):
    front.attach_agent(APPROVER, ApprovalScript(owner_agent=BOSS, title="Buy 3 laptops?"))
    intent_id = create(front.url, front.api_key, to_agent=APPROVER)
    intent = front.wait_for_status(intent_id, "WAITING", timeout=5)
    assert intent["status"] == "WAITING"
    waiting = [e for e in front.events(intent_id) if e["status"] == "WAITING"]
    assert waiting and waiting[-1]["waiting_reason"] == "WAITING_FOR_HUMAN"
    thread = _wait_for_thread(front, intent_id)
    assert thread["owner_agent"] == BOSS
    time.sleep(0.2)
    assert front.get_intent(intent_id)["status"] == "WAITING"  # nobody decided yet
    r = requests.post(
        f"{front.url}/v1/inbox/{intent_id}/approve",
        params={"owner_agent": BOSS},
        json={"comment": "go ahead"},
        headers=headers(front.api_key),
    )
    assert r.status_code == 200, r.text
    assert front.wait_for_status(intent_id, timeout=5)["status"] == "COMPLETED"
    seq = statuses(front, intent_id)
    assert seq[-3:] == ["WAITING", "IN_PROGRESS", "COMPLETED"]


def test_approval_script_reject_via_inbox_fails_intent(front):
    front.attach_agent(APPROVER, ApprovalScript(owner_agent=BOSS))
    intent_id = create(front.url, front.api_key, to_agent=APPROVER)
    front.wait_for_status(intent_id, "WAITING", timeout=5)
    _wait_for_thread(front, intent_id)
    r = requests.post(
        f"{front.url}/v1/inbox/{intent_id}/reject",
        params={"owner_agent": BOSS},
        json={"comment": "too expensive"},
        headers=headers(front.api_key),
    )
    assert r.status_code == 200, r.text
    assert front.wait_for_status(intent_id, timeout=5)["status"] == "FAILED"
    last = front.events(intent_id)[-1]
    assert last["event_type"] == "intent.failed"
    assert last["details"]["error"]["code"] == "approval_rejected"
    assert "too expensive" in last["details"]["error"]["message"]


def test_approval_script_approve_via_approvals_decision(front):
    front.attach_agent(APPROVER, ApprovalScript(owner_agent=BOSS))
    intent_id = create(front.url, front.api_key, to_agent=APPROVER)
    front.wait_for_status(intent_id, "WAITING", timeout=5)
    r = requests.post(
        f"{front.url}/v1/approvals/{intent_id}/decision",
        json={"decision": "approve", "comment": "ok"},
        headers=headers(front.api_key),
    )
    assert r.status_code == 200, r.text
    assert front.wait_for_status(intent_id, timeout=5)["status"] == "COMPLETED"


def test_approval_script_released_by_resume(axme_emulator):
    front = axme_emulator
    front.attach_agent(APPROVER, ApprovalScript(owner_agent=BOSS))
    intent_id = create(front.url, front.api_key, to_agent=APPROVER)
    front.wait_for_status(intent_id, "WAITING", timeout=5)
    r = requests.post(
        f"{front.url}/v1/intents/{intent_id}/resume",
        params={"owner_agent": APPROVER},
        json={"approve_current_step": True, "reason": "looks fine"},
        headers=headers(front.api_key),
    )
    assert r.status_code == 200, r.text
    assert front.wait_for_status(intent_id, timeout=5)["status"] == "COMPLETED"


def test_failing_script(front):
    front.attach_agent(WORKER, FailingScript(code="delivery_failed", message="printer on fire"))
    intent_id = create(front.url, front.api_key)
    assert front.wait_for_status(intent_id, timeout=5)["status"] == "FAILED"
    last = front.events(intent_id)[-1]
    assert last["event_type"] == "intent.failed"
    assert last["details"]["error"]["code"] == "delivery_failed"
    assert last["details"]["error"]["message"] == "printer on fire"


def test_deadline_script_times_out_after_delay(front):
    front.attach_agent(WORKER, DeadlineScript(after=0.3))
    started = time.monotonic()
    intent_id = create(front.url, front.api_key)
    front.wait_for_status(intent_id, "DELIVERED", timeout=5)
    assert front.wait_for_status(intent_id, timeout=5)["status"] == "TIMED_OUT"
    assert time.monotonic() - started >= 0.3
    last = front.events(intent_id)[-1]
    assert last["event_type"] == "intent.timed_out"
    assert last["status"] == "TIMED_OUT"


def test_manual_advance_of_a_waiting_script(axme_mock):
    axme_mock.attach_agent(WORKER, WorkerScript(None, None, None))
    intent_id = create(axme_mock.url, axme_mock.api_key)
    time.sleep(0.1)
    assert axme_mock.get_intent(intent_id)["status"] == "SUBMITTED"
    assert axme_mock.advance(intent_id) == "DELIVERED"
    assert axme_mock.advance(intent_id) == "IN_PROGRESS"
    assert axme_mock.advance(intent_id) == "COMPLETED"
    with pytest.raises(ValueError, match="terminal"):
        axme_mock.advance(intent_id)


def test_manual_advance_without_script(axme_mock):
    intent_id = create(axme_mock.url, axme_mock.api_key)
    assert [axme_mock.advance(intent_id) for _ in range(3)] == [
        "DELIVERED",
        "IN_PROGRESS",
        "COMPLETED",
    ]


def test_advance_approves_a_waiting_approval(axme_mock):
    axme_mock.attach_agent(APPROVER, ApprovalScript(owner_agent=BOSS))
    intent_id = create(axme_mock.url, axme_mock.api_key, to_agent=APPROVER)
    axme_mock.wait_for_status(intent_id, "WAITING", timeout=5)
    axme_mock.advance(intent_id)
    assert axme_mock.wait_for_status(intent_id, timeout=5)["status"] == "COMPLETED"


def test_script_stops_quietly_when_intent_is_resolved_elsewhere(axme_mock):
    axme_mock.attach_agent(WORKER, WorkerScript(delay=0.2))
    intent_id = create(axme_mock.url, axme_mock.api_key)
    axme_mock.resolve(intent_id, "CANCELED", reason="changed my mind")
    time.sleep(0.8)
    events = axme_mock.events(intent_id)
    assert events[-1]["status"] == "CANCELED"
    assert [e["status"] for e in events].count("CANCELED") == 1
    assert not axme_mock.emulator.agents.is_running(intent_id)


def test_fail_and_resolve_from_python(axme_mock):
    a = create(axme_mock.url, axme_mock.api_key)
    b = create(axme_mock.url, axme_mock.api_key)
    axme_mock.fail(a, "boom", code="delivery_failed")
    axme_mock.resolve(b, "COMPLETED", result={"x": 1})
    assert axme_mock.get_intent(a)["status"] == "FAILED"
    assert axme_mock.events(a)[-1]["details"]["error"]["code"] == "delivery_failed"
    assert axme_mock.get_intent(b)["status"] == "COMPLETED"


def test_parse_agent_specs():
    match, script = parse_agent_spec("agent://buyer=approval:owner=agent://boss:title=Buy it?")
    assert match == "agent://buyer"
    assert isinstance(script, ApprovalScript)
    assert script.owner_agent == "agent://boss"
    assert script.title == "Buy it?"
    worker = parse_script("worker:delay=0.5")
    assert isinstance(worker, WorkerScript) and worker.completed == 0.5
    assert isinstance(parse_script("deadline:after=2"), DeadlineScript)
    with pytest.raises(ValueError, match="unknown agent script 'nope'"):
        parse_script("nope")
    with pytest.raises(ValueError, match="unknown option 'colour'"):
        parse_script("worker:colour=red")
    with pytest.raises(ValueError, match="must look like"):
        parse_agent_spec("agent://x")
    with pytest.raises(ValueError, match="owner_agent"):
        parse_script("approval")
    with pytest.raises(ValueError, match="must be >= 0 seconds"):
        parse_script("worker:delay=-1")


@pytest.mark.axme(agents={WORKER: "worker:delay=0"})
def test_marker_configures_agents(front):
    intent_id = create(front.url, front.api_key)
    assert front.wait_for_status(intent_id, timeout=5)["status"] == "COMPLETED"
