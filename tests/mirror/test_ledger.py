"""The idempotency ledger: replay without a network call, mismatch warn/raise, expiry."""

from __future__ import annotations

import datetime as dt
import warnings

import pytest
from django.utils import timezone

import django_axme
from django_axme.exceptions import (
    AxmeConflictError,
    AxmeIdempotencyError,
    AxmeIdempotencyWarning,
)
from django_axme.ledger import DatabaseIdempotencyStore
from django_axme.models import IdempotencyRecord

pytestmark = pytest.mark.django_db

OP = "POST /v1/intents"


def test_unknown_key_returns_none():
    assert DatabaseIdempotencyStore().check("k-new", OP, "f" * 64) is None


def test_exact_replay_returns_the_stored_answer():
    store = DatabaseIdempotencyStore()
    store.record("k1", OP, "a" * 64, {"ok": True, "intent_id": "i-1"})
    assert store.check("k1", OP, "a" * 64) == {"ok": True, "intent_id": "i-1"}
    row = IdempotencyRecord.objects.get(key="k1")
    ttl = (row.expires_at - row.created_at).total_seconds()
    assert ttl == pytest.approx(24 * 3600, abs=5)


def test_mismatch_warns_in_warn_mode(settings):
    settings.AXME = {**settings.AXME, "IDEMPOTENCY_MISMATCH": "warn"}
    store = DatabaseIdempotencyStore()
    store.record("k2", OP, "a" * 64, {"ok": True})
    with pytest.warns(AxmeIdempotencyWarning, match="k2"):
        assert store.check("k2", OP, "b" * 64) is None


def test_mismatch_raises_in_raise_mode(settings):
    settings.AXME = {**settings.AXME, "IDEMPOTENCY_MISMATCH": "raise"}
    store = DatabaseIdempotencyStore()
    store.record("k3", OP, "a" * 64, {"ok": True})
    with pytest.raises(AxmeIdempotencyError, match="different parameters"):
        store.check("k3", OP, "b" * 64)


def test_bad_mismatch_setting_names_the_setting(settings):
    settings.AXME = {**settings.AXME, "IDEMPOTENCY_MISMATCH": "shout"}
    store = DatabaseIdempotencyStore()
    store.record("k4", OP, "a" * 64, {"ok": True})
    with pytest.raises(ValueError, match="IDEMPOTENCY_MISMATCH"):
        store.check("k4", OP, "b" * 64)


def test_expired_rows_are_ignored_and_replaced():
    store = DatabaseIdempotencyStore()
    store.record("k5", OP, "a" * 64, {"ok": True, "old": True})
    IdempotencyRecord.objects.filter(key="k5").update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an expired row is no mismatch either
        assert store.check("k5", OP, "a" * 64) is None
        assert store.check("k5", OP, "b" * 64) is None
    store.record("k5", OP, "b" * 64, {"ok": True, "new": True})
    assert IdempotencyRecord.objects.filter(key="k5").count() == 1
    assert store.check("k5", OP, "b" * 64) == {"ok": True, "new": True}


def test_ttl_setting_is_used(settings):
    settings.AXME = {**settings.AXME, "IDEMPOTENCY_TTL_SECONDS": 60}
    DatabaseIdempotencyStore().record("k6", OP, "a" * 64, {"ok": True})
    row = IdempotencyRecord.objects.get(key="k6")
    assert (row.expires_at - row.created_at).total_seconds() == pytest.approx(60, abs=2)


# --- the ledger in use through the configured client (in-process emulator) ---------------


def _posts(handle):
    return [c for c in handle.rsps.calls if c.request.method == "POST"]


BODY = {
    "intent_type": "shop.order.v1",
    "to_agent": "agent://demo/warehouse",
    "from_agent": "agent://demo/shop",
    "payload": {"order": 1},
}


def test_configured_client_replays_from_the_ledger(axme_mock, axme_settings):
    client = django_axme.get_client()
    first = client.create_intent(dict(BODY), idempotency_key="order-1-create")
    assert len(_posts(axme_mock)) == 1
    again = client.create_intent(dict(BODY), idempotency_key="order-1-create")
    assert again == first
    assert len(_posts(axme_mock)) == 1, "the replay must not reach the gateway"
    assert IdempotencyRecord.objects.get(key="order-1-create").response == first


def test_configured_client_warns_then_sends_on_mismatch(axme_mock, axme_settings, settings):
    settings.AXME = {**settings.AXME, "IDEMPOTENCY_MISMATCH": "warn"}
    client = django_axme.get_client()
    client.create_intent(dict(BODY), idempotency_key="order-2-create")
    # warn mode: the call proceeds, and the gateway answers its own 409
    with pytest.warns(AxmeIdempotencyWarning), pytest.raises(AxmeConflictError):
        client.create_intent({**BODY, "payload": {"order": 2}}, idempotency_key="order-2-create")
    assert len(_posts(axme_mock)) == 2


def test_configured_client_raises_before_sending_on_mismatch(axme_mock, axme_settings, settings):
    settings.AXME = {**settings.AXME, "IDEMPOTENCY_MISMATCH": "raise"}
    client = django_axme.get_client()
    client.create_intent(dict(BODY), idempotency_key="order-3-create")
    with pytest.raises(AxmeIdempotencyError):
        client.create_intent({**BODY, "payload": {"order": 3}}, idempotency_key="order-3-create")
    assert len(_posts(axme_mock)) == 1, "nothing may be sent on a mismatch in raise mode"
