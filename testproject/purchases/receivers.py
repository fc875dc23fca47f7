"""How the example app reacts to django-axme signals.

django-axme sends each signal once per transition, after the mirror is committed; these
receivers only touch the app's own tables. Each receiver records one :class:`PurchaseEvent`
(the transcript the demo prints) and moves the request forward when the move is allowed, so a
late or repeated signal never moves a request backwards.

=========================  =================================================
signal                     effect on the purchase request
=========================  =================================================
``intent_created``         draft -> submitted
``approval_requested``     -> pending_approval
``approval_decided``       approve -> approved; reject -> rejected
``intent_completed``       approval intent: -> approved, and the fulfilment intent is sent
                           (to this project's own agent); else -> fulfilled
``intent_received``        transcript only (this project, as the agent, got the order)
``intent_failed``          -> rejected after an approver's reject, else failed
``intent_canceled``        -> rejected
``intent_timed_out``       -> failed
``intent_status_changed``  transcript only
=========================  =================================================
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models import Q

from django_axme import signals
from django_axme.models import ApprovalDecision, DecisionChoice, DecisionState
from purchases import services
from purchases.conf import purchases_setting
from purchases.models import PurchaseEvent, PurchaseRequest, PurchaseStatus

logger = logging.getLogger("purchases")

DISPATCH_PREFIX = "purchases."


def purchase_for_intent(intent: Any) -> PurchaseRequest | None:
    """The purchase request an intent belongs to (as its first intent or its fulfilment
    intent), following retries back to the original. An intent of a type this app never sends
    (the receivers see every intent of the project) is not looked up."""
    kind = getattr(intent, "intent_type", "")
    if kind and kind not in _purchase_types():
        return None
    seen: set[int] = set()
    while intent is not None and intent.pk not in seen:
        seen.add(intent.pk)
        purchase = PurchaseRequest.objects.filter(
            Q(intent_id=intent.pk) | Q(fulfilment_intent_id=intent.pk)
        ).first()
        if purchase is not None:
            return purchase
        intent = intent.retry_of
    return None


def _purchase_types() -> set[str]:
    return {str(purchases_setting("INTENT_TYPE")), str(purchases_setting("FULFIL_INTENT_TYPE"))}


def is_fulfilment_intent(purchase: PurchaseRequest, intent: Any) -> bool:
    """Whether ``intent`` (or the original it retries) is the request's fulfilment intent."""
    seen: set[int] = set()
    while intent is not None and intent.pk not in seen:
        seen.add(intent.pk)
        if intent.pk == purchase.fulfilment_intent_id:
            return True
        intent = intent.retry_of
    return False


def record(
    purchase: PurchaseRequest,
    signal_name: str,
    *,
    to_status: str | None = None,
    intent_status: str = "",
    message: str = "",
) -> PurchaseEvent:
    """Record ``signal_name`` in the transcript and apply ``to_status`` if the move is allowed.

    Atomic: the status change and its transcript line are committed together; the row is
    locked (``select_for_update``) so two workers delivering signals for the same request
    apply them one after the other.
    """
    with transaction.atomic():
        locked = PurchaseRequest.objects.select_for_update().get(pk=purchase.pk)
        before = locked.status
        after = before
        if to_status and to_status != before and locked.can_move_to(to_status):
            after = to_status
            locked.status = to_status
            locked.save(update_fields=["status", "updated_at"])
        event = PurchaseEvent.objects.create(
            purchase=locked,
            signal=signal_name,
            intent_status=intent_status or "",
            from_status=before,
            to_status=after,
            message=message[:500],
        )
    purchase.status = after
    if after != before:
        logger.info(
            "purchase #%s %s: %s -> %s (%s%s)",
            locked.pk,
            locked.item,
            before,
            after,
            signal_name,
            f": {message}" if message else "",
        )
    else:
        logger.info(
            "purchase #%s %s: stays %s (%s%s)",
            locked.pk,
            locked.item,
            before,
            signal_name,
            f": {message}" if message else "",
        )
    return event


def _for_intent(intent: Any, signal_name: str, to_status: str | None, message: str = "") -> None:
    purchase = purchase_for_intent(intent)
    if purchase is None:
        return
    record(
        purchase,
        signal_name,
        to_status=to_status,
        intent_status=str(intent.status or ""),
        message=message,
    )


def on_intent_created(sender: Any, intent: Any, **kwargs: Any) -> None:
    _for_intent(intent, "intent_created", PurchaseStatus.SUBMITTED, f"AXME id {intent.intent_id}")


def on_intent_status_changed(
    sender: Any, intent: Any, previous_status: str = "", status: str = "", **kwargs: Any
) -> None:
    which = f"{(intent.intent_id or '')[:8]} " if intent.intent_id else ""
    _for_intent(
        intent, "intent_status_changed", None, f"{which}{previous_status or '-'} -> {status}"
    )


def on_intent_completed(sender: Any, intent: Any, **kwargs: Any) -> None:
    purchase = purchase_for_intent(intent)
    if purchase is None:
        return
    status = str(intent.status or "")
    if purchase.needs_approval and not is_fulfilment_intent(purchase, intent):
        # The approval intent: approved; now this project, as the agent, places the order.
        record(
            purchase,
            "intent_completed",
            to_status=PurchaseStatus.APPROVED,
            intent_status=status,
            message="approval completed; fulfilment sent to "
            + str(purchases_setting("FULFILMENT_AGENT")),
        )
        services.request_fulfilment(purchase)
        return
    result = intent.result if isinstance(intent.result, dict) else {}
    order = result.get("order") if isinstance(result.get("order"), str) else ""
    record(
        purchase,
        "intent_completed",
        to_status=PurchaseStatus.FULFILLED,
        intent_status=status,
        message=f"order {order} placed" if order else "order placed",
    )


def on_intent_received(sender: Any, intent: Any, **kwargs: Any) -> None:
    _for_intent(intent, "intent_received", None, f"this project received it as {intent.to_agent}")


def on_intent_failed(sender: Any, intent: Any, **kwargs: Any) -> None:
    # An approver's rejection ends the intent FAILED, and the gateway's event may well arrive
    # before the admin's decision is confirmed: a live "reject" decision tells them apart.
    rejected = ApprovalDecision.objects.filter(
        approval__intent=intent, decision=DecisionChoice.REJECT
    ).exclude(state__in=[DecisionState.FAILED, DecisionState.SUPERSEDED])
    to_status = PurchaseStatus.REJECTED if rejected.exists() else PurchaseStatus.FAILED
    _for_intent(intent, "intent_failed", to_status, _error_text(intent))


def on_intent_canceled(sender: Any, intent: Any, **kwargs: Any) -> None:
    _for_intent(intent, "intent_canceled", PurchaseStatus.REJECTED, _error_text(intent))


def on_intent_timed_out(sender: Any, intent: Any, **kwargs: Any) -> None:
    _for_intent(intent, "intent_timed_out", PurchaseStatus.FAILED, "deadline passed")


def on_approval_requested(sender: Any, approval: Any, **kwargs: Any) -> None:
    if approval.intent is None:
        return
    _for_intent(
        approval.intent,
        "approval_requested",
        PurchaseStatus.PENDING_APPROVAL,
        approval.title or "waiting for a human",
    )


def on_approval_decided(
    sender: Any, approval: Any, decision: Any = None, user: Any = None, **kwargs: Any
) -> None:
    if approval.intent is None:
        return
    choice = str(getattr(decision, "decision", decision) or "")
    to_status = {"approve": PurchaseStatus.APPROVED, "reject": PurchaseStatus.REJECTED}.get(choice)
    who = getattr(user, "get_username", lambda: "")() if user is not None else ""
    note = str(getattr(decision, "note", "") or "")
    message = f"{choice} by {who or 'someone'}" + (f": {note}" if note else "")
    _for_intent(approval.intent, "approval_decided", to_status, message)


def _error_text(intent: Any) -> str:
    error = intent.error or intent.last_error or {}
    if isinstance(error, dict):
        return str(error.get("message") or error.get("reason") or error.get("code") or "")[:200]
    return str(error)[:200]


RECEIVERS = {
    "intent_created": on_intent_created,
    "intent_status_changed": on_intent_status_changed,
    "intent_completed": on_intent_completed,
    "intent_failed": on_intent_failed,
    "intent_canceled": on_intent_canceled,
    "intent_timed_out": on_intent_timed_out,
    "approval_requested": on_approval_requested,
    "approval_decided": on_approval_decided,
    "intent_received": on_intent_received,
}


def connect() -> None:
    """Connect every receiver to its django-axme signal (idempotent: fixed dispatch uids)."""
    for name, receiver in RECEIVERS.items():
        getattr(signals, name).connect(receiver, dispatch_uid=DISPATCH_PREFIX + name, weak=False)
