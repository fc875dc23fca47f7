"""An approval decision can never be stuck for good (issue 12, medium 2).

Before: any error that is not an ``AxmeError`` between recording a decision and sending it
(for example a thread id of ``""`` or ``"   "``, which the writer accepted) left the decision
``recorded``: the admin POST answered 500, every new decision was refused as "already
decided", and the approval stayed pending even after its intent completed. Now the writer
refuses such ids, an unexpected error fails the decision (a new one may follow), and the
reconcile sweep resends a decision a crash left ``recorded`` with its own idempotency key.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from django_axme.admin.decisions import Outcome, decide
from django_axme.client import AxmeConflictError, AxmeServerError
from django_axme.models import Approval, ApprovalDecision, ApprovalStatus, DecisionState, Intent
from django_axme.sync import ingest_events, ingest_intent, ingest_thread, record_decision
from django_axme.tasks import reconcile_open_intents, resend_unsent_decisions
from tests.mirror.helpers import event, new_intent_id

pytestmark = pytest.mark.django_db


class FakeInbox:
    """The two inbox calls a decision makes; each answer is taken from ``answers`` in turn (an
    exception is raised, anything else returned)."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str, str | None]] = []

    def _answer(self, verb: str, thread_id: str, idempotency_key: str | None) -> Any:
        self.calls.append((verb, thread_id, idempotency_key))
        answer = self.answers.pop(0) if self.answers else {"ok": True}
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def approve_inbox_thread(self, thread_id, payload=None, *, idempotency_key=None, **kw):
        return self._answer("approve", thread_id, idempotency_key)

    def reject_inbox_thread(self, thread_id, payload=None, *, idempotency_key=None, **kw):
        return self._answer("reject", thread_id, idempotency_key)


@pytest.fixture
def inbox(monkeypatch):
    fake = FakeInbox()
    monkeypatch.setattr("django_axme.get_client", lambda: fake)
    return fake


@pytest.fixture
def approval(django_capture_on_commit_callbacks) -> Approval:
    """A mirrored intent waiting for a human and its pending approval."""
    intent_id = new_intent_id()
    with django_capture_on_commit_callbacks(execute=True):
        ingest_intent({"intent_id": intent_id, "intent_type": "intent.purchase.approve.v1"})
        ingest_events(
            intent_id,
            [
                event(intent_id, 1, "IN_PROGRESS"),
                event(intent_id, 2, "WAITING", "WAITING_FOR_HUMAN"),
            ],
        )
        found = ingest_thread(
            {"thread_id": f"t-{intent_id}", "intent_id": intent_id, "status": "pending"}
        )
    assert found is not None and found.status == ApprovalStatus.PENDING
    return found


def _complete(approval: Approval, capture) -> None:
    intent_id = approval.intent.intent_id
    with capture(execute=True):
        ingest_events(intent_id, [event(intent_id, 3, "COMPLETED")])


def test_an_unexpected_error_while_sending_fails_the_decision_instead_of_blocking(
    approval, inbox, admin_user
):
    inbox.answers = [RuntimeError("a bug between recording and sending")]
    result = decide(approval, user=admin_user, decision="approve")
    assert result.outcome is Outcome.FAILED
    assert result.decision is not None
    assert result.decision.state == DecisionState.FAILED
    approval.refresh_from_db()
    assert approval.status == ApprovalStatus.PENDING
    again = decide(approval, user=admin_user, decision="approve")
    assert again.outcome is Outcome.SENT
    assert [c[0] for c in inbox.calls] == ["approve", "approve"]


def test_the_admin_post_answers_a_redirect_not_500(approval, inbox, admin_client):
    inbox.answers = [ValueError("thread_id must be a non-empty string")]
    url = reverse("admin:django_axme_approval_decide", args=[approval.pk])
    answer = admin_client.post(url, {"decision": "approve", "note": ""})
    assert answer.status_code == 302
    decision = ApprovalDecision.objects.get(approval=approval)
    assert decision.state == DecisionState.FAILED
    assert decide(approval, user=None, decision="reject").outcome is Outcome.SENT


@pytest.mark.parametrize("thread_id", ["", "   "])
def test_a_blank_thread_id_is_refused_by_the_writer_and_no_decision_is_recorded(
    thread_id, inbox, admin_user
):
    assert ingest_thread({"thread_id": thread_id, "status": "pending", "human_task": {}}) is None
    # A row written before the writer refused such ids:
    legacy = Approval.objects.create(thread_id=thread_id, status=ApprovalStatus.PENDING)
    result = decide(legacy, user=admin_user, decision="approve")
    assert result.outcome is Outcome.INVALID
    assert not ApprovalDecision.objects.exists()
    assert inbox.calls == []


def test_reconcile_resends_a_decision_left_recorded_and_it_is_confirmed(
    approval, inbox, admin_user, recorder, django_capture_on_commit_callbacks
):
    record = record_decision(approval, user=admin_user, decision="approve")  # then a crash
    _complete(approval, django_capture_on_commit_callbacks)
    approval.refresh_from_db()
    assert approval.status == ApprovalStatus.PENDING  # stuck until the sweep

    assert resend_unsent_decisions(older_than_seconds=3600) == 0  # too young: left alone
    assert inbox.calls == []
    with django_capture_on_commit_callbacks(execute=True):
        assert resend_unsent_decisions(older_than_seconds=0) == 1
    assert inbox.calls == [("approve", approval.thread_id, record.idempotency_key)]
    record.refresh_from_db()
    approval.refresh_from_db()
    assert record.state == DecisionState.CONFIRMED
    assert approval.status == ApprovalStatus.APPROVED
    assert len(recorder.named("approval_decided")) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert resend_unsent_decisions(older_than_seconds=0) == 0  # nothing left to resend
    assert len(inbox.calls) == 1


def test_reconcile_supersedes_a_recorded_decision_the_gateway_says_was_decided_elsewhere(
    approval, inbox, admin_user, recorder, django_capture_on_commit_callbacks
):
    record = record_decision(approval, user=admin_user, decision="reject")
    _complete(approval, django_capture_on_commit_callbacks)
    inbox.answers = [AxmeConflictError(409, "thread already decided")]
    assert resend_unsent_decisions(older_than_seconds=0) == 1
    record.refresh_from_db()
    approval.refresh_from_db()
    assert record.state == DecisionState.SUPERSEDED
    assert approval.status == ApprovalStatus.CLOSED
    assert not recorder.named("approval_decided")


def test_a_transient_error_keeps_the_decision_for_the_next_sweep(
    approval, inbox, admin_user, django_capture_on_commit_callbacks
):
    record = record_decision(approval, user=admin_user, decision="approve")
    inbox.answers = [AxmeServerError(503, "busy"), {"ok": True}]
    result = reconcile_open_intents(decisions_after_seconds=0)
    assert result["decisions"] == 0
    record.refresh_from_db()
    assert record.state == DecisionState.RECORDED
    result = reconcile_open_intents(decisions_after_seconds=0)
    assert result["decisions"] == 1
    record.refresh_from_db()
    assert record.state == DecisionState.SENT
    assert {c[2] for c in inbox.calls} == {record.idempotency_key}
    assert Intent.objects.get(pk=approval.intent_id).status == "WAITING"


def test_a_late_acceptance_of_a_failed_decision_does_not_resurrect_it_over_a_newer_one(
    approval, admin_user
):
    """A resend that lands after the decision was failed and a new one recorded leaves the
    old one failed (one live decision per approval) instead of raising IntegrityError."""
    from django_axme.sync import decision_failed, decision_sent

    first = record_decision(approval, user=admin_user, decision="approve")
    decision_failed(first, "timed out")
    second = record_decision(approval, user=admin_user, decision="reject")
    assert decision_sent(first, {"ok": True}).state == DecisionState.FAILED
    second.refresh_from_db()
    assert second.state == DecisionState.RECORDED
