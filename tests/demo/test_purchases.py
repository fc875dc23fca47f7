"""The purchases example app: outbox submission and the receivers' reactions to signals."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from purchases import services
from purchases.models import PurchaseEvent, PurchaseRequest, PurchaseStatus
from purchases.receivers import purchase_for_intent

import django_axme
from django_axme import signals
from django_axme.models import Approval, ApprovalDecision, Intent, SendState

pytestmark = pytest.mark.django_db


def _purchase(status: str = PurchaseStatus.DRAFT, **kwargs: Any) -> PurchaseRequest:
    intent = Intent.objects.create(
        intent_type="purchase.request.v1", intent_id=kwargs.pop("rid", "r-1")
    )
    return PurchaseRequest.objects.create(
        item=kwargs.get("item", "Laptop"),
        amount=Decimal(kwargs.get("amount", "2400")),
        requester="alice",
        status=status,
        intent=intent,
        needs_approval=kwargs.get("needs_approval", False),
    )


def _set_intent_status(intent: Intent, status: str) -> Intent:
    Intent.objects.filter(pk=intent.pk).update(status=status)
    intent.refresh_from_db()
    return intent


# --- submission through the outbox ---------------------------------------------------------


def test_submit_writes_outbox_row_in_the_callers_transaction(
    django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.PURCHASES = {"APPROVAL_THRESHOLD": Decimal("1000")}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        big = services.create_purchase_request(item="Laptop", amount="2400", requester="alice")
        small = services.create_purchase_request(item="Cable", amount="19.90", requester="bob")
    assert len(callbacks) == 2  # one send per request, only after commit
    big.refresh_from_db()
    small.refresh_from_db()
    assert big.needs_approval is True and small.needs_approval is False
    assert big.intent is not None and small.intent is not None
    assert big.intent.send_state == SendState.PENDING and big.intent.intent_id is None
    assert big.intent.to_agent == "agent://demo/purchase-approvals"
    assert small.intent.to_agent == "agent://demo/purchasing"
    # This project is the fulfilment agent: a small request's one intent is its fulfilment.
    assert small.intent.intent_type == "intent.purchase.fulfil.v1"
    assert small.fulfilment_intent == small.intent and big.fulfilment_intent is None
    assert big.intent.payload["purchase_request_id"] == big.pk
    assert big.intent.payload["amount"] == "2400.00"
    # The approver sees which request it is; small requests need no human task.
    assert big.intent.human_task == {
        "title": "Approve Laptop: 2,400.00 EUR for alice",
        "task_type": "approval",
    }
    assert not small.intent.human_task


@pytest.mark.django_db(transaction=True)
def test_outbox_helper_is_called_inside_an_atomic_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """Really committed (no test transaction): the send is enqueued only after the commit."""
    from django_axme import outbox

    seen: list[tuple[str, Any]] = []
    real = django_axme.send_intent_on_commit

    def spy(*args: Any, **kwargs: Any) -> Intent:
        seen.append(("helper", connection.in_atomic_block))
        assert PurchaseRequest.objects.filter(item="Desk").exists()  # request saved first
        return real(*args, **kwargs)

    def enqueue(pk: int, *, observe: bool = True) -> None:
        seen.append(("enqueue", PurchaseRequest.objects.get(item="Desk").intent_id == pk))

    monkeypatch.setattr(django_axme, "send_intent_on_commit", spy)
    monkeypatch.setattr(outbox, "enqueue_send", enqueue)
    services.create_purchase_request(item="Desk", amount="450", requester="carol")
    # The helper ran inside the transaction; the send was enqueued after the commit, when the
    # request was already linked to its outbox row.
    assert seen == [("helper", True), ("enqueue", True)]


def test_rollback_leaves_no_request_no_intent_and_sends_nothing(
    django_capture_on_commit_callbacks: Any,
) -> None:
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.create_purchase_request(item="Chair", amount="80", requester="dave")
        raise RuntimeError("the caller's transaction fails later")
    assert callbacks == []
    assert not PurchaseRequest.objects.exists()
    assert not Intent.objects.exists()


def test_bad_amount_is_refused_before_anything_is_written() -> None:
    with pytest.raises(ValueError, match=r"amount must be a decimal number.*'eighty'"):
        services.create_purchase_request(item="Chair", amount="eighty", requester="dave")
    with pytest.raises(ValueError, match="amount must be a positive number"):
        services.create_purchase_request(item="Chair", amount="-3", requester="dave")
    assert not Intent.objects.exists()


# --- receivers -------------------------------------------------------------------------------


def test_approval_path_moves_forward_and_records_a_transcript(caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="purchases")
    purchase = _purchase(needs_approval=True)
    intent = purchase.intent
    assert intent is not None
    signals.intent_created.send(sender=Intent, intent=intent)
    approval = Approval.objects.create(thread_id="t-1", intent=intent, title="Approve laptop")
    signals.approval_requested.send(sender=Approval, approval=approval)
    decision = ApprovalDecision.objects.create(
        approval=approval, decision="approve", idempotency_key="k-1", note="ok"
    )
    signals.approval_decided.send(sender=Approval, approval=approval, decision=decision, user=None)
    signals.intent_completed.send(
        sender=Intent, intent=_set_intent_status(intent, "COMPLETED"), event=None
    )
    # The approval intent completed: approved, and the order is asked of this project's own
    # agent (a second intent, in the outbox), once however often the signal comes.
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.APPROVED
    fulfilment = purchase.fulfilment_intent
    assert fulfilment is not None and fulfilment.pk != intent.pk
    assert (fulfilment.intent_type, fulfilment.to_agent) == (
        "intent.purchase.fulfil.v1",
        "agent://demo/purchasing",
    )
    assert services.request_fulfilment(purchase) is None
    Intent.objects.filter(pk=fulfilment.pk).update(result={"order": "PO-00001"})
    signals.intent_completed.send(
        sender=Intent, intent=_set_intent_status(fulfilment, "COMPLETED"), event=None
    )

    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.FULFILLED
    moves = list(
        PurchaseEvent.objects.filter(purchase=purchase).values_list(
            "signal", "from_status", "to_status"
        )
    )
    assert moves == [
        ("intent_created", "draft", "submitted"),
        ("approval_requested", "submitted", "pending_approval"),
        ("approval_decided", "pending_approval", "approved"),
        ("intent_completed", "approved", "approved"),
        ("intent_completed", "approved", "fulfilled"),
    ]
    assert PurchaseEvent.objects.last().message == "order PO-00001 placed"
    assert "approve by someone: ok" in PurchaseEvent.objects.get(signal="approval_decided").message
    assert "pending_approval -> approved" in caplog.text


def test_rejection_then_failed_intent_stays_rejected() -> None:
    purchase = _purchase(PurchaseStatus.PENDING_APPROVAL)
    assert purchase.intent is not None
    approval = Approval.objects.create(thread_id="t-2", intent=purchase.intent)
    decision = ApprovalDecision.objects.create(
        approval=approval, decision="reject", idempotency_key="k-2"
    )
    signals.approval_decided.send(sender=Approval, approval=approval, decision=decision, user=None)
    signals.intent_failed.send(
        sender=Intent, intent=_set_intent_status(purchase.intent, "FAILED"), event=None
    )
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.REJECTED
    last = PurchaseEvent.objects.filter(purchase=purchase).last()
    assert last is not None and (last.signal, last.from_status, last.to_status) == (
        "intent_failed",
        "rejected",
        "rejected",
    )


@pytest.mark.parametrize(
    ("signal_name", "expected"),
    [
        ("intent_failed", PurchaseStatus.FAILED),
        ("intent_canceled", PurchaseStatus.REJECTED),
        ("intent_timed_out", PurchaseStatus.FAILED),
        ("intent_completed", PurchaseStatus.FULFILLED),
    ],
)
def test_terminal_signals(signal_name: str, expected: str) -> None:
    purchase = _purchase(PurchaseStatus.SUBMITTED)
    getattr(signals, signal_name).send(sender=Intent, intent=purchase.intent, event=None)
    purchase.refresh_from_db()
    assert purchase.status == expected


def test_late_signals_never_move_a_final_request_backwards() -> None:
    purchase = _purchase(PurchaseStatus.FULFILLED)
    assert purchase.intent is not None
    signals.intent_created.send(sender=Intent, intent=purchase.intent)
    approval = Approval.objects.create(thread_id="t-3", intent=purchase.intent)
    signals.approval_requested.send(sender=Approval, approval=approval)
    signals.intent_failed.send(sender=Intent, intent=purchase.intent, event=None)
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.FULFILLED
    assert PurchaseEvent.objects.filter(purchase=purchase).count() == 3
    assert all(not e.changed_status for e in PurchaseEvent.objects.filter(purchase=purchase))


def test_status_changes_are_transcribed_without_moving_the_request() -> None:
    purchase = _purchase(PurchaseStatus.SUBMITTED)
    signals.intent_status_changed.send(
        sender=Intent,
        intent=purchase.intent,
        previous_status="SUBMITTED",
        status="IN_PROGRESS",
        event=None,
    )
    event = PurchaseEvent.objects.get(purchase=purchase)
    assert (event.signal, event.message, event.to_status) == (
        "intent_status_changed",
        "r-1 SUBMITTED -> IN_PROGRESS",
        "submitted",
    )


def test_signals_for_intents_of_other_apps_are_ignored() -> None:
    other = Intent.objects.create(intent_type="other.v1", intent_id="r-other")
    signals.intent_completed.send(sender=Intent, intent=other, event=None)
    assert not PurchaseEvent.objects.exists()


def test_a_retried_intent_still_finds_its_purchase() -> None:
    purchase = _purchase(PurchaseStatus.SUBMITTED)
    retry = Intent.objects.create(
        intent_type="purchase.request.v1", intent_id="r-2", retry_of=purchase.intent
    )
    assert purchase_for_intent(retry) == purchase
    signals.intent_completed.send(sender=Intent, intent=retry, event=None)
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.FULFILLED


def test_rejection_whose_failed_event_arrives_before_the_confirmation_is_rejected() -> None:
    """The gateway's FAILED event can beat the admin's decision confirmation: still rejected."""
    purchase = _purchase(PurchaseStatus.PENDING_APPROVAL)
    assert purchase.intent is not None
    approval = Approval.objects.create(thread_id="t-4", intent=purchase.intent)
    decision = ApprovalDecision.objects.create(
        approval=approval, decision="reject", idempotency_key="k-4", state="sent"
    )
    intent = _set_intent_status(purchase.intent, "FAILED")
    signals.intent_failed.send(sender=Intent, intent=intent, event=None)
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.REJECTED
    signals.approval_decided.send(sender=Approval, approval=approval, decision=decision, user=None)
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.REJECTED


def test_a_failed_reject_decision_does_not_count_as_a_rejection() -> None:
    purchase = _purchase(PurchaseStatus.PENDING_APPROVAL)
    assert purchase.intent is not None
    approval = Approval.objects.create(thread_id="t-5", intent=purchase.intent)
    ApprovalDecision.objects.create(
        approval=approval, decision="reject", idempotency_key="k-5", state="failed"
    )
    signals.intent_failed.send(sender=Intent, intent=purchase.intent, event=None)
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.FAILED


# --- this project as the fulfilment agent ---------------------------------------------------


def test_the_fulfilment_handler_is_discovered_for_the_fulfilment_agent() -> None:
    from django_axme.agent import autodiscover, registry

    autodiscover(force=True)
    found = registry.lookup("intent.purchase.fulfil.v1", "agent://demo/purchasing")
    assert found is not None and found.name == "purchases.axme_handlers.fulfil"
    assert registry.lookup("intent.purchase.fulfil.v1", "agent://demo/elsewhere") is None


def test_place_order_once_per_key_and_request() -> None:
    from purchases.models import PurchaseOrder

    from django_axme.agent import HandlerFailed

    purchase = _purchase(PurchaseStatus.APPROVED)
    payload = {"purchase_request_id": purchase.pk}
    first = services.place_order(payload, key="axme-agent:i-1", placed_by="agent://demo/p")
    again = services.place_order(payload, key="axme-agent:i-1", placed_by="agent://demo/p")
    assert first == again == {"order": f"PO-{purchase.pk:05d}", "purchase_request_id": purchase.pk}
    assert PurchaseOrder.objects.filter(purchase=purchase).count() == 1
    rejected = _purchase(PurchaseStatus.REJECTED, rid="r-2")
    with pytest.raises(HandlerFailed) as refused:
        services.place_order(
            {"purchase_request_id": rejected.pk}, key="axme-agent:i-2", placed_by="x"
        )
    assert refused.value.code == "not_orderable"
    with pytest.raises(HandlerFailed):
        services.place_order({"purchase_request_id": "nope"}, key="axme-agent:i-3", placed_by="x")
    assert PurchaseOrder.objects.count() == 1
