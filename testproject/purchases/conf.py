"""Settings of the example app: ``settings.PURCHASES`` over :data:`DEFAULTS`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Requests of this amount or more wait for a human approval before they are fulfilled.
    "APPROVAL_THRESHOLD": Decimal("1000"),
    # The agent that asks a human (the demo attaches the emulator's approval script to it).
    "APPROVAL_AGENT": "agent://demo/purchase-approvals",
    # The agent that places orders: this project itself (purchases/axme_handlers.py), for
    # small requests at once and for large ones once approved.
    "FULFILMENT_AGENT": "agent://demo/purchasing",
    "INTENT_TYPE": "purchase.request.v1",
    # The type of the intents the fulfilment agent handles.
    "FULFIL_INTENT_TYPE": "intent.purchase.fulfil.v1",
    "CURRENCY": "EUR",
}


def purchases_setting(name: str) -> Any:
    """Return ``settings.PURCHASES[name]`` or its default (KeyError for an unknown name)."""
    if name not in DEFAULTS:
        raise KeyError(f"unknown purchases setting {name!r}")
    return (getattr(settings, "PURCHASES", None) or {}).get(name, DEFAULTS[name])
