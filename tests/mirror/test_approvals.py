"""Approvals from inbox threads, and the life of a decision up to its confirmation."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from django_axme.exceptions import DecisionConflict, InvalidDecision
from django_axme.models import Approval, ApprovalDecision
from django_axme.sync import (
    decision_failed,
    decision_sent,
    decision_superseded,
    ingest_events,
    ingest_intent,
    ingest_thread,
    record_decision,
)
from tests.mirror.helpers import event, new_intent_id

HUMAN_TASK = {
    "title": "Refund 120 EUR?",
    "description": "Customer asks for a refund",
    "task_type": "approval",
    "allowed_outcomes": ["approved", "rejected"],
    "required_comment": True,
}


def thread_for(intent_id, *, status="active", timeline=None, **extra):
    return {
        "thread_id": intent_id,
        "intent_id": intent_id,
        "status": status,
        "owner_agent": "agent://demo/approvers",
        "from_agent": "agent://demo/shop",
        "to_agent": "agent://demo/approvers",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:01Z",
        "timeline": timeline
        or [
            {
                "event_id": "e1",
                "event_type": "intent_received",
                "actor": "system",
                "at": "2026-01-01T00:00:00Z",
                "details": {},
            }
        ],
        **extra,
    }


def waiting_intent(intent_id=None):
    intent_id = intent_id or new_intent_id()
    ingest_intent(
        {"intent_id": intent_id, "intent_type": "shop.refund.v1", "human_task": HUMAN_TASK}
    )
    ingest_events(
        intent_id,
        [event(intent_id, 1, "IN_PROGRESS"), event(intent_id, 2, "WAITING", "WAITING_FOR_HUMAN")],
    )
    return intent_id


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("alice")


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    def run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return run


@pytest.mark.django_db
def test_waiting_thread_becomes_an_approval_once(recorder, capture):
    intent_id = capture(waiting_intent)
    approval = capture(ingest_thread, thread_for(intent_id))
    again = capture(ingest_thread, thread_for(intent_id, timeline=[{"event_type": "message.sent"}]))
    assert approval.pk == again.pk
    approval.refresh_from_db()
    assert (approval.title, approval.description, approval.task_type) == (
        "Refund 120 EUR?",
        "Customer asks for a refund",
        "approval",
    )
    assert approval.allowed_outcomes == ["approved", "rejected"]
    assert approval.comment_required is True
    assert approval.intent.intent_id == intent_id
    assert (approval.owner_agent, approval.thread_status, approval.status) == (
        "agent://demo/approvers",
        "active",
        "pending",
    )
    assert approval.timeline == [{"event_type": "message.sent"}]
    requested = recorder.named("approval_requested")
    assert [r.kwargs["approval"].pk for r in requested] == [approval.pk]


@pytest.mark.django_db
def test_thread_of_an_intent_not_waiting_for_a_human_is_ignored(capture):
    intent_id = new_intent_id()
    capture(ingest_events, intent_id, [event(intent_id, 1, "IN_PROGRESS")])
    assert capture(ingest_thread, thread_for(intent_id, human_task=HUMAN_TASK)) is None
    assert not Approval.objects.exists()


@pytest.mark.django_db
def test_malformed_thread_is_skipped(capture, caplog):
    assert capture(ingest_thread, {"no": "thread id"}) is None
    assert capture(ingest_thread, "garbage") is None
    assert "malformed inbox thread" in caplog.text


@pytest.mark.django_db
def test_thread_of_an_unmirrored_intent_uses_its_own_hints(capture):
    intent_id = new_intent_id()
    approval = capture(ingest_thread, thread_for(intent_id, human_task=HUMAN_TASK))
    assert approval.intent is None and approval.title == "Refund 120 EUR?"
    assert capture(ingest_thread, thread_for(new_intent_id())) is None  # no hint: not an approval
    capture(ingest_intent, {"intent_id": intent_id, "intent_type": "shop.refund.v1"})
    approval.refresh_from_db()
    assert approval.intent.intent_id == intent_id


@pytest.mark.django_db
def test_second_live_decision_is_a_conflict(capture, user):
    approval = capture(ingest_thread, thread_for(capture(waiting_intent)))
    first = record_decision(approval, user=user, decision="approve", note="ok", outcome="approved")
    with pytest.raises(DecisionConflict) as info:
        record_decision(approval, user=None, decision="reject", note="no")
    assert info.value.existing.pk == first.pk
    assert "alice" in str(info.value)
    decision_failed(first, "HTTP 503: down")
    second = record_decision(approval, user=None, decision="reject", note="no")
    assert second.idempotency_key != first.idempotency_key
    assert ApprovalDecision.objects.filter(approval=approval).count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"decision": "maybe", "note": "x"}, "decision must be one of"),
        ({"decision": "approve", "note": "x", "outcome": "perhaps"}, "not one of the allowed"),
        ({"decision": "approve", "note": "  "}, "requires a note"),
    ],
)
def test_invalid_decisions_name_the_problem(capture, user, kwargs, message):
    approval = capture(ingest_thread, thread_for(capture(waiting_intent)))
    with pytest.raises(InvalidDecision, match=message):
        record_decision(approval, user=user, **kwargs)
    assert not ApprovalDecision.objects.exists()


@pytest.mark.django_db
def test_decision_confirmed_when_the_intent_leaves_the_human_step(capture, user, recorder):
    intent_id = capture(waiting_intent)
    approval = capture(ingest_thread, thread_for(intent_id))
    decision = record_decision(approval, user=user, decision="approve", note="fine")
    capture(decision_sent, decision, {"ok": True, "thread": {"thread_id": intent_id}})
    approval.refresh_from_db()
    assert approval.status == "sent"
    assert recorder.named("approval_decided") == []
    capture(ingest_events, intent_id, [event(intent_id, 3, "IN_PROGRESS")])
    capture(ingest_events, intent_id, [event(intent_id, 4, "COMPLETED")])
    approval.refresh_from_db()
    decision.refresh_from_db()
    assert (approval.status, decision.state) == ("approved", "confirmed")
    assert decision.confirmed_at is not None and approval.decided_at is not None
    decided = recorder.named("approval_decided")
    assert len(decided) == 1
    assert decided[0].kwargs["user"] == user and decided[0].kwargs["decision"].pk == decision.pk


@pytest.mark.django_db
def test_decision_confirmed_when_news_came_before_the_send_answer(capture, user, recorder):
    intent_id = capture(waiting_intent)
    approval = capture(ingest_thread, thread_for(intent_id))
    decision = record_decision(approval, user=user, decision="reject", note="no")
    capture(ingest_events, intent_id, [event(intent_id, 3, "CANCELED")])
    approval.refresh_from_db()
    assert approval.status == "pending"  # decision still in flight: not closed
    capture(decision_sent, decision, {"ok": True})
    capture(decision_sent, decision, {"ok": True})  # idempotent
    approval.refresh_from_db()
    assert approval.status == "rejected"
    assert len(recorder.named("approval_decided")) == 1


@pytest.mark.django_db
def test_decision_confirmed_by_the_thread_timeline(capture, user, recorder):
    intent_id = new_intent_id()
    approval = capture(ingest_thread, thread_for(intent_id, human_task=HUMAN_TASK))
    decision = record_decision(approval, user=user, decision="approve", note="ok")
    capture(decision_sent, decision, {"ok": True})
    timeline = [
        {"event_type": "intent_received", "details": {}},
        {
            "event_type": "thread.approved",
            "actor": "agent://demo/approvers",
            "details": {"comment": "ok"},
        },
    ]
    capture(ingest_thread, thread_for(intent_id, human_task=HUMAN_TASK, timeline=timeline))
    approval.refresh_from_db()
    assert approval.status == "approved"
    assert len(recorder.named("approval_decided")) == 1


@pytest.mark.django_db
def test_opposite_decision_in_the_timeline_supersedes_ours(capture, user, recorder):
    intent_id = new_intent_id()
    approval = capture(ingest_thread, thread_for(intent_id, human_task=HUMAN_TASK))
    decision = record_decision(approval, user=user, decision="approve", note="ok")
    capture(decision_sent, decision, {"ok": True})
    timeline = [{"event_type": "approval.decided", "details": {"decision": "reject"}}]
    capture(ingest_thread, thread_for(intent_id, human_task=HUMAN_TASK, timeline=timeline))
    approval.refresh_from_db()
    decision.refresh_from_db()
    assert (approval.status, decision.state) == ("closed", "superseded")
    assert recorder.named("approval_decided") == []


@pytest.mark.django_db
def test_superseded_decision_closes_the_approval(capture, user, recorder):
    approval = capture(ingest_thread, thread_for(capture(waiting_intent)))
    decision = record_decision(approval, user=user, decision="approve", note="ok")
    capture(decision_superseded, decision, "HTTP 409: already decided")
    approval.refresh_from_db()
    decision.refresh_from_db()
    assert (approval.status, decision.state, decision.error) == (
        "closed",
        "superseded",
        "HTTP 409: already decided",
    )
    with pytest.raises(DecisionConflict) as info:
        record_decision(approval, user=user, decision="reject", note="x")
    assert info.value.existing is None
    assert recorder.named("approval_decided") == []


@pytest.mark.django_db
def test_open_approval_closes_when_decided_elsewhere(capture, recorder):
    intent_id = capture(waiting_intent)
    approval = capture(ingest_thread, thread_for(intent_id))
    capture(ingest_events, intent_id, [event(intent_id, 3, "IN_PROGRESS")])
    approval.refresh_from_db()
    assert approval.status == "closed"
    assert recorder.named("approval_decided") == []


@pytest.mark.django_db(transaction=True)
def test_racing_deciders_end_with_one_decision(user):
    intent_id = waiting_intent()
    approval = ingest_thread(thread_for(intent_id))
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def decide(i):
        try:
            barrier.wait(timeout=30)
            record_decision(approval, user=None, decision="approve", note=f"n{i}")
            outcomes.append("won")
        except DecisionConflict:
            outcomes.append("conflict")
        except Exception as exc:
            outcomes.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "won"]
    assert ApprovalDecision.objects.filter(approval=approval).count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(6))
def test_send_answer_racing_the_confirming_event_confirms_once(recorder, round_):
    """decision_sent and the event that ends the human step arrive at the same time."""
    intent_id = waiting_intent()
    approval = ingest_thread(thread_for(intent_id))
    decision = record_decision(approval, user=None, decision="approve", note="go")
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def send():
        try:
            barrier.wait(timeout=30)
            decision_sent(decision, {"ok": True})
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def events():
        try:
            barrier.wait(timeout=30)
            ingest_events(intent_id, [event(intent_id, 3, "IN_PROGRESS")])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send), threading.Thread(target=events)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    approval.refresh_from_db()
    decision.refresh_from_db()
    assert (approval.status, decision.state) == ("approved", "confirmed")
    assert len(recorder.named("approval_decided")) == 1
