"""The example app's adapter: how a purchase request reads in the AXME admin."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import formats
from django.utils.translation import gettext as _

from django_axme.adapter import DefaultAxmeAdapter
from purchases.conf import purchases_setting


def money(amount: Any, currency: Any) -> str:
    """``"1800.00", "EUR"`` -> ``"1,800.00 EUR"`` (grouping of the active locale)."""
    try:
        value = Decimal(str(amount)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return f"{amount} {currency}".strip()
    return f"{formats.number_format(value, 2, force_grouping=True)} {currency}".strip()


class PurchasesAdapter(DefaultAxmeAdapter):
    """Purchase requests summarised as "item, amount currency, requested by someone"."""

    def intent_summary(self, intent: Any) -> str:
        payload = intent.payload if isinstance(intent.payload, dict) else {}
        if intent.intent_type != purchases_setting("INTENT_TYPE") or "item" not in payload:
            return super().intent_summary(intent)
        parts = [str(payload["item"])[:120]]
        if "amount" in payload:
            parts.append(money(payload["amount"], str(payload.get("currency") or "")[:8]))
        if payload.get("requester"):
            parts.append(_("requested by %(name)s") % {"name": str(payload["requester"])[:60]})
        return ", ".join(parts)
