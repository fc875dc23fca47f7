"""Creating and submitting purchase requests (the one place the app talks to django-axme)."""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction

import django_axme
from purchases.conf import purchases_setting
from purchases.models import PurchaseRequest

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
        intent = django_axme.send_intent_on_commit(
            purchases_setting("INTENT_TYPE"),
            intent_payload(purchase),
            to_agent=to_agent,
            human_task=human_task_for(purchase) if needs_approval else None,
            user=user,
        )
        purchase.intent = intent
        purchase.save(update_fields=["intent", "needs_approval", "updated_at"])
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
