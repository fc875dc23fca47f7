"""Lifecycle rules, event log guarantees and listener hooks of the gateway core."""

from __future__ import annotations

import threading

import pytest

from django_axme.emulator.core import EmulatorConflict, EmulatorNotFound, EmulatorValidationError
from django_axme.emulator.state_lifecycle import TRANSITIONS

from .conftest import assert_schema, call, intent_body


def _create(gw, **overrides):
    return gw.create_intent(intent_body(**overrides))["intent_id"]


def test_create_emits_created_then_submitted(gw):
    answer = call(gw, "POST", "/v1/intents", intent_body())
    assert answer.status == 200
    assert answer.body["status"] == "SUBMITTED"
    events = gw.events(answer.body["intent_id"])
    assert [(e["seq"], e["event_type"], e["status"]) for e in events] == [
        (1, "intent.created", "CREATED"),
        (2, "intent.submitted", "SUBMITTED"),
    ]
    assert events[0]["actor"] == "agent://tests/sender"
    assert events[0]["details"] == {"intent_type": "notify.message.v1"}
    assert events[1]["actor"] == "gateway"


def test_from_agent_is_optional(gw):
    body = intent_body()
    del body["from_agent"]
    intent = gw.get_intent(gw.create_intent(body)["intent_id"])
    assert intent["from_agent"].startswith("agent://")


def test_happy_path_and_gap_free_seq(gw):
    iid = _create(gw)
    gw.transition(iid, "DELIVERED")
    gw.transition(iid, "ACKNOWLEDGED")
    gw.transition(iid, "IN_PROGRESS")
    gw.transition(iid, "WAITING", waiting_reason="WAITING_FOR_TOOL")
    gw.transition(iid, "WAITING", waiting_reason="WAITING_FOR_TIME")
    gw.transition(iid, "IN_PROGRESS")
    gw.transition(iid, "COMPLETED")
    events = gw.events(iid)
    assert [e["seq"] for e in events] == list(range(1, 10))
    assert events[-1]["event_type"] == "intent.completed"
    assert gw.get_intent(iid)["status"] == "COMPLETED"
    assert gw.events(iid, since=7) == events[7:]
    assert_schema("api.intents.events.list.response", {"ok": True, "events": events})


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (c, t)
        for c in ("SUBMITTED", "DELIVERED", "ACKNOWLEDGED", "IN_PROGRESS", "WAITING")
        for t in (
            "DELIVERED",
            "ACKNOWLEDGED",
            "IN_PROGRESS",
            "WAITING",
            "COMPLETED",
            "FAILED",
            "CANCELED",
        )
    ],
)
def test_transition_table(gw, current, target):
    iid = _create(gw)
    path = {
        "SUBMITTED": [],
        "DELIVERED": ["DELIVERED"],
        "ACKNOWLEDGED": ["DELIVERED", "ACKNOWLEDGED"],
        "IN_PROGRESS": ["IN_PROGRESS"],
        "WAITING": ["WAITING"],
    }[current]
    for step in path:
        gw.transition(iid, step, waiting_reason="WAITING_FOR_AGENT" if step == "WAITING" else None)
    reason = "WAITING_FOR_HUMAN" if target == "WAITING" else None
    if target in TRANSITIONS[current]:
        event = gw.transition(iid, target, waiting_reason=reason)
        assert event["status"] == target
        assert gw.get_intent(iid)["status"] == target
    else:
        before = len(gw.events(iid))
        with pytest.raises(EmulatorConflict):
            gw.transition(iid, target, waiting_reason=reason)
        assert len(gw.events(iid)) == before


def test_terminal_is_final(gw):
    iid = _create(gw)
    gw.resolve(iid, "CANCELED", reason="no longer needed")
    for status in ("IN_PROGRESS", "COMPLETED", "TIMED_OUT"):
        with pytest.raises(ValueError, match="terminal"):
            gw.transition(iid, status)
    with pytest.raises(EmulatorConflict):
        gw.resolve(iid, "COMPLETED")
    answer = call(gw, "POST", f"/v1/intents/{iid}/resolve", {"status": "FAILED", "error": {}})
    assert answer.status == 409
    assert answer.body["error"]["code"] == "intent_terminal"
    assert "terminal" in answer.body["detail"]


def test_resolve_from_any_non_terminal_status(gw):
    for path in ([], ["DELIVERED"], ["IN_PROGRESS", "WAITING"]):
        iid = _create(gw)
        for step in path:
            gw.transition(
                iid, step, waiting_reason="WAITING_FOR_TIME" if step == "WAITING" else None
            )
        answer = gw.resolve(iid, "COMPLETED", result={"n": 1})
        assert answer["event"]["details"] == {"result": {"n": 1}}
        assert answer["intent"]["status"] == "COMPLETED"
        assert answer["intent"]["legacy_status"] == "done"


def test_resolve_defaults_and_details(gw):
    iid = _create(gw)
    assert gw.resolve(iid, "CANCELED")["event"]["details"] == {"reason": "canceled"}
    iid = _create(gw)
    failed = gw.resolve(iid, "FAILED", error={"code": "boom", "message": "x"})
    assert failed["event"]["details"] == {"error": {"code": "boom", "message": "x"}}
    assert gw.get_intent(iid)["error"] == {"code": "boom", "message": "x"}


def test_bad_transition_arguments(gw):
    iid = _create(gw)
    with pytest.raises(EmulatorValidationError, match="waiting_reason"):
        gw.transition(iid, "WAITING")
    with pytest.raises(EmulatorValidationError, match="waiting_reason"):
        gw.transition(iid, "IN_PROGRESS", waiting_reason="WAITING_FOR_HUMAN")
    with pytest.raises(EmulatorValidationError, match="status"):
        gw.transition(iid, "RESOLVED")
    with pytest.raises(EmulatorValidationError, match="event_type"):
        gw.transition(iid, "DELIVERED", event_type="delivered!")
    with pytest.raises(EmulatorNotFound):
        gw.transition("00000000-0000-0000-0000-000000000000", "DELIVERED")
    custom = gw.transition(iid, "DELIVERED", event_type="intent.handed_over", details={"x": 1})
    assert custom["event_type"] == "intent.handed_over" and custom["details"] == {"x": 1}


def test_deadline_times_out_with_injected_clock(gw, clock):
    iid = _create(gw, deadline_at="2026-01-15T12:00:30Z")
    clock.advance(seconds=29)
    assert call(gw, "GET", f"/v1/intents/{iid}").body["intent"]["status"] == "SUBMITTED"
    clock.advance(seconds=2)
    intent = call(gw, "GET", f"/v1/intents/{iid}").body["intent"]
    assert intent["status"] == "TIMED_OUT"
    last = gw.events(iid)[-1]
    assert (last["event_type"], last["status"], last["actor"]) == (
        "intent.timed_out",
        "TIMED_OUT",
        "gateway",
    )
    assert intent["error"]["code"] == "intent_timeout"


def test_unknown_intent_is_404(gw):
    for path in ("/v1/intents/nope", "/v1/intents/nope/events", "/v1/intents/nope/events/stream"):
        answer = call(gw, "GET", path)
        assert answer.status == 404
        assert answer.body["error"]["code"] == "not_found"
    answer = call(gw, "POST", "/v1/intents/nope/resolve", {"status": "COMPLETED"})
    assert answer.status == 404


def test_listeners_run_after_the_lock_is_released(gw):
    seen = []
    probe_results = []

    def listener(kind, data):
        seen.append((kind, data))
        # another thread must be able to take the state lock right now
        got = []

        def probe():
            if gw.lock.acquire(timeout=1):
                got.append(True)
                gw.lock.release()

        t = threading.Thread(target=probe)
        t.start()
        t.join()
        probe_results.append(bool(got and got[0]))

    gw.add_listener(listener)
    iid = _create(gw)
    gw.transition(iid, "IN_PROGRESS")
    kinds = [k for k, _ in seen]
    assert kinds == ["intent.created", "intent.event", "intent.event", "intent.event"]
    assert seen[0][1]["intent"]["intent_id"] == iid
    assert [d["event"]["seq"] for k, d in seen[1:]] == [1, 2, 3]
    assert all(probe_results)


def test_failing_listener_does_not_break_the_gateway(gw):
    calls = []
    gw.add_listener(lambda kind, data: 1 / 0)
    gw.add_listener(lambda kind, data: calls.append(kind))
    iid = _create(gw)
    assert gw.get_intent(iid)["status"] == "SUBMITTED"
    assert "intent.created" in calls


def test_listener_may_call_back_into_the_gateway(gw):
    def advance(kind, data):
        if kind == "intent.created":
            gw.transition(data["intent"]["intent_id"], "DELIVERED", actor="tests")

    gw.add_listener(advance)
    iid = _create(gw)
    assert gw.get_intent(iid)["status"] == "DELIVERED"


def test_wait_for_events_blocks_until_an_event(gw):
    iid = _create(gw)
    assert gw.wait_for_events(iid, since=2, timeout=0.05) == []
    timer = threading.Timer(0.1, lambda: gw.transition(iid, "IN_PROGRESS"))
    timer.start()
    events = gw.wait_for_events(iid, since=2, timeout=5)
    timer.join()
    assert [e["seq"] for e in events] == [3]


def test_concurrent_transitions_keep_seq_gap_free(gw):
    ids = [_create(gw) for _ in range(20)]

    def worker(iid):
        gw.transition(iid, "IN_PROGRESS")
        gw.transition(iid, "COMPLETED")

    threads = [threading.Thread(target=worker, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for iid in ids:
        assert [e["seq"] for e in gw.events(iid)] == [1, 2, 3, 4]


def test_human_task_and_resume(gw):
    seen = []
    gw.add_listener(lambda kind, data: seen.append((kind, data)))
    iid = _create(gw)
    gw.transition(iid, "IN_PROGRESS")
    thread = gw.open_human_task(
        iid,
        owner_agent="agent://tests/boss",
        title="Approve spend",
        allowed_outcomes=["approve", "reject"],
        required_comment=True,
    )
    assert thread["thread_id"] == iid and thread["owner_agent"] == "agent://tests/boss"
    assert thread["status"] == "pending" and thread["human_task"]["title"] == "Approve spend"
    intent = gw.get_intent(iid)
    assert (intent["status"], intent["waiting_reason"]) == ("WAITING", "WAITING_FOR_HUMAN")
    assert intent["pending_with"] == {
        "type": "human",
        "ref": "agent://tests/boss",
        "name": "Approve spend",
    }
    bad = call(gw, "POST", f"/v1/intents/{iid}/resume", {"task_result": {"outcome": "maybe"}})
    assert bad.status == 422 and "task_result.outcome" in bad.body["error"]["message"]
    assert bad.body["detail"][0]["loc"] == ["body", "task_result", "outcome"]
    bad = call(gw, "POST", f"/v1/intents/{iid}/resume", {"task_result": {"outcome": "approve"}})
    assert bad.status == 422 and "task_result.comment" in bad.body["error"]["message"]
    ok = call(
        gw,
        "POST",
        f"/v1/intents/{iid}/resume",
        {"task_result": {"outcome": "approve", "comment": "go"}, "custom": 1},
    )
    assert ok.status == 200 and ok.body["applied"] is True
    assert ok.body["intent"]["status"] == "IN_PROGRESS"
    assert (
        "intent.resumed",
        {
            "intent_id": iid,
            "body": {"task_result": {"outcome": "approve", "comment": "go"}, "custom": 1},
        },
    ) in seen


def test_resume_variants(gw):
    iid = _create(gw)
    gw.transition(iid, "IN_PROGRESS")
    gw.transition(iid, "WAITING", waiting_reason="WAITING_FOR_HUMAN")
    held = call(gw, "POST", f"/v1/intents/{iid}/resume", {"approve_current_step": False})
    assert held.body["applied"] is False and held.body["intent"]["status"] == "WAITING"
    released = call(gw, "POST", f"/v1/intents/{iid}/resume", {})
    assert released.body["applied"] is True and released.body["intent"]["status"] == "IN_PROGRESS"
    again = call(gw, "POST", f"/v1/intents/{iid}/resume", {})
    assert again.body["applied"] is False and again.body["reason"] == "already_in_progress"
    gw.resolve(iid, "COMPLETED")
    assert call(gw, "POST", f"/v1/intents/{iid}/resume", {}).status == 409
