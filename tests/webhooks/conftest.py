"""Fixtures of the webhook tests: secrets, signed deliveries, a signal recorder."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from django_axme.services.webhooks import sign
from tests.mirror.helpers import SignalRecorder

SECRET = "whsec-test-0123456789abcdef"
OLD_SECRET = "whsec-old-0123456789abcdef"
OWNER = "agent://test/approvers"


@pytest.fixture
def recorder():
    rec = SignalRecorder().connect()
    yield rec
    rec.disconnect()


@pytest.fixture
def webhook_settings(settings):
    """AXME settings with webhook secrets (newest first) and inline processing."""
    settings.AXME = {
        **settings.AXME,
        "WEBHOOK_SECRETS": [SECRET, OLD_SECRET],
        "WEBHOOK_PROCESSING": "inline",
        "DEFAULT_OWNER_AGENT": OWNER,
    }
    return settings


def delivery_body(**fields: Any) -> bytes:
    body: dict[str, Any] = {
        "delivery_id": str(uuid.uuid4()),
        "event_id": str(uuid.uuid4()),
        "event_type": "inbox.thread_created",
        "owner_agent": OWNER,
        "payload": {"thread_id": "t-1", "intent_id": "i-1", "owner_agent": OWNER},
    }
    body.update(fields)
    return json.dumps(body).encode()


def signed_headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"HTTP_X_AXME_SIGNATURE": sign(body, secret)}
