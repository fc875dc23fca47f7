"""Creating and submitting purchase requests, and placing their orders (the one place the app
talks to django-axme).

Both sides of the protocol: :func:`submit` sends an intent (to the approval agent, or straight
to the fulfilment agent); :func:`request_fulfilment` sends the fulfilment intent once a request
is approved; :func:`place_order` is what this project does when it receives a fulfilment intent
as the AXME agent ``PURCHASES["FULFILMENT_AGENT"]`` (see ``purchases/axme_handlers.py``).
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction

import django_axme
from purchases.conf import purchases_setting
from purchases.models import PurchaseOrder, PurchaseRequest, PurchaseStatus

logger = logging.getLogger("purchases")


def route_for(amount: Decimal) -> tuple[str, bool]:
    """Return ``(to_agent, needs_approval)`` for an amount (threshold from settings)."""
    if amount >= Decimal(purchases_setting("APPROVAL_THRESHOLD")):
        return purchases_setting("APPROVAL_AGENT"), True
    return purchases_setting("FULFILMENT_AGENT"), False


def intent_payload(purchase: PurchaseRequest) -> dict[str, Any]:
    """The JSON payload of the intent sent for ``purchase``."""
    return {
        "purchase_request_id": purchase.pk,
        "item": purchase.item,
        "amount": str(purchase.amount),
        "currency": purchases_setting("CURRENCY"),
        "requester": purchase.requester,
        "note": purchase.note,
    }


def human_task_for(purchase: PurchaseRequest) -> dict[str, Any]:
    """The human task an approver sees for ``purchase`` (AXME ``human_task`` object)."""
    from purchases.adapter import money

    amount = money(purchase.amount, purchases_setting("CURRENCY"))
    title = f"Approve {purchase.item}: {amount} for {purchase.requester}"
    task: dict[str, Any] = {"title": title[:255], "task_type": "approval"}
    if purchase.note:
        task["description"] = purchase.note[:2000]
    return task


def submit(purchase: PurchaseRequest, *, user: Any = None) -> PurchaseRequest:
    """Save ``purchase`` and put its AXME intent in the outbox, atomically.

    Runs in one transaction (joining the caller's, if any): the request row, the outbox
    intent row and the link between them are committed together, and the intent is sent to
    AXME only after that commit. If the transaction rolls back, nothing is sent.
    """
    with transaction.atomic():
        to_agent, needs_approval = route_for(Decimal(purchase.amount))
        purchase.needs_approval = needs_approval
        purchase.save()
        intent_type = purchases_setting("INTENT_TYPE" if needs_approval else "FULFIL_INTENT_TYPE")
        intent = django_axme.send_intent_on_commit(
            intent_type,
            intent_payload(purchase),
            to_agent=to_agent,
            human_task=human_task_for(purchase) if needs_approval else None,
            user=user,
        )
        purchase.intent = intent
        if not needs_approval:
            purchase.fulfilment_intent = intent
        purchase.save(update_fields=["intent", "fulfilment_intent", "needs_approval", "updated_at"])
    logger.info(
        "purchase #%s (%s, %s %s) queued for %s%s",
        purchase.pk,
        purchase.item,
        purchase.amount,
        purchases_setting("CURRENCY"),
        to_agent,
        " (needs approval)" if needs_approval else "",
    )
    return purchase


def create_purchase_request(
    *, item: str, amount: Decimal | str | int, requester: str, note: str = "", user: Any = None
) -> PurchaseRequest:
    """Create a purchase request and submit it (see :func:`submit`)."""
    purchase = PurchaseRequest(
        item=item, amount=parse_amount(amount), requester=requester, note=note
    )
    return submit(purchase, user=user)


def parse_amount(value: Decimal | str | int) -> Decimal:
    """``value`` as a positive Decimal with two places; ValueError naming a bad value."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(
            f"amount must be a decimal number such as '19.90', got {value!r}"
        ) from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"amount must be a positive number, got {value!r}")
    return amount.quantize(Decimal("0.01"))


def request_fulfilment(purchase: PurchaseRequest) -> Any:
    """Ask the fulfilment agent (this project) to place the order of an approved request: put
    the fulfilment intent in the outbox and link it, atomically. Idempotent: a request that
    already has one, or that was rejected or failed, gets none; returns the new intent row or
    ``None``."""
    with transaction.atomic():
        locked = PurchaseRequest.objects.select_for_update().get(pk=purchase.pk)
        if locked.fulfilment_intent_id is not None or locked.status in (
            PurchaseStatus.REJECTED,
            PurchaseStatus.FAILED,
        ):
            return None
        intent = django_axme.send_intent_on_commit(
            purchases_setting("FULFIL_INTENT_TYPE"),
            intent_payload(locked),
            to_agent=purchases_setting("FULFILMENT_AGENT"),
        )
        locked.fulfilment_intent = intent
        locked.save(update_fields=["fulfilment_intent", "updated_at"])
    purchase.fulfilment_intent = intent
    logger.info("purchase #%s %s: fulfilment asked of %s", locked.pk, locked.item, intent.to_agent)
    return intent


def place_order(payload: Any, *, key: str, placed_by: str) -> dict[str, Any]:
    """Place the order a fulfilment intent asks for, once per ``key`` (the agent handler's
    idempotency key) and once per request; returns the result sent back to AXME. Raises
    :class:`django_axme.agent.HandlerFailed` for an unknown, rejected or failed request."""
    from django_axme.agent import HandlerFailed

    pk = payload.get("purchase_request_id") if isinstance(payload, dict) else None
    purchase = PurchaseRequest.objects.filter(pk=pk).first() if isinstance(pk, int) else None
    if purchase is None:
        raise HandlerFailed(f"no purchase request {pk!r}", code="unknown_purchase")
    if purchase.status in (PurchaseStatus.REJECTED, PurchaseStatus.FAILED):
        raise HandlerFailed(f"purchase request #{pk} is {purchase.status}", code="not_orderable")
    order, created = PurchaseOrder.objects.get_or_create(
        purchase=purchase,
        defaults={
            "reference": f"PO-{purchase.pk:05d}",
            "idempotency_key": key,
            "placed_by": placed_by,
        },
    )
    if created:
        logger.info("purchase #%s %s: order %s placed", purchase.pk, purchase.item, order.reference)
    return {"order": order.reference, "purchase_request_id": purchase.pk}
