"""This project as an AXME agent: it places the orders of purchase requests (issue 17).

Discovered by django-axme (``axme_handlers.py`` of an installed app) and listed by
``python manage.py axme_agent --list``. The demo serves ``PURCHASES["FULFILMENT_AGENT"]``
(``AXME["AGENT_ADDRESSES"]``) instead of the emulator's simulated worker: small requests are
sent straight to it, large ones once a human approved them.
"""

from __future__ import annotations

from typing import Any

import django_axme.agent
from purchases import services
from purchases.conf import purchases_setting


@django_axme.agent.handler(
    purchases_setting("FULFIL_INTENT_TYPE"), addresses=[purchases_setting("FULFILMENT_AGENT")]
)
def fulfil(intent: Any, ctx: django_axme.agent.HandlerContext) -> dict[str, Any]:
    """Place the order once (``ctx.idempotency_key``); the intent is resolved COMPLETED with
    the order reference, or FAILED for a request that is unknown, rejected or failed."""
    ctx.progress("placing the order")
    return services.place_order(intent.payload, key=ctx.idempotency_key, placed_by=ctx.address)
