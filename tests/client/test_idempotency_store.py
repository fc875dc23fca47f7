"""The client's idempotency-store hook (an in-memory store implementing the protocol)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from django_axme.client import (
    AxmeIdempotencyError,
    AxmeIdempotencyWarning,
    AxmeServerError,
    IdempotencyStore,
)
from django_axme.client.idempotency import operation_name, request_fingerprint

from .conftest import BASE, make_client


class MemoryStore:
    def __init__(self, mismatch: str = "warn") -> None:
        self.rows: dict[str, tuple[str, str, dict[str, Any]]] = {}
        self.mismatch = mismatch
        self.checks: list[tuple[str, str, str]] = []

    def check(self, key: str, operation: str, fingerprint: str) -> dict[str, Any] | None:
        self.checks.append((key, operation, fingerprint))
        row = self.rows.get(key)
        if row is None:
            return None
        if (row[0], row[1]) == (operation, fingerprint):
            return row[2]
        if self.mismatch == "raise":
            raise AxmeIdempotencyError(f"idempotency key {key!r} reused with other parameters")
        warnings.warn(f"idempotency key {key!r} reused", AxmeIdempotencyWarning, stacklevel=2)
        return None

    def record(self, key: str, operation: str, fingerprint: str, response: dict[str, Any]) -> None:
        self.rows[key] = (operation, fingerprint, response)


BODY = {"intent_type": "a.b.v1", "to_agent": "agent://x/y/z", "payload": {"n": 1}}


def test_memory_store_satisfies_protocol() -> None:
    assert isinstance(MemoryStore(), IdempotencyStore)


def test_replay_is_answered_from_the_store_without_http(sleeps, rsps) -> None:
    store = MemoryStore()
    client = make_client(idempotency_store=store)
    rsps.post(f"{BASE}/v1/intents", json={"ok": True, "intent_id": "i-1"})
    first = client.create_intent(BODY, idempotency_key="order-1")
    again = client.create_intent(dict(BODY), idempotency_key="order-1")
    assert first == again == {"ok": True, "intent_id": "i-1"}
    assert len(rsps.calls) == 1
    key, operation, fingerprint = store.checks[0]
    assert (key, operation) == ("order-1", "POST /v1/intents")
    assert len(fingerprint) == 64


def test_mismatch_warns_and_proceeds(sleeps, rsps) -> None:
    client = make_client(idempotency_store=MemoryStore("warn"))
    rsps.post(f"{BASE}/v1/intents", json={"ok": True, "intent_id": "i-1"})
    client.create_intent(BODY, idempotency_key="order-1")
    with pytest.warns(AxmeIdempotencyWarning):
        client.create_intent({**BODY, "payload": {"n": 2}}, idempotency_key="order-1")
    assert len(rsps.calls) == 2


def test_mismatch_raises_before_sending(sleeps, rsps) -> None:
    client = make_client(idempotency_store=MemoryStore("raise"))
    rsps.post(f"{BASE}/v1/intents", json={"ok": True, "intent_id": "i-1"})
    client.create_intent(BODY, idempotency_key="order-1")
    with pytest.raises(AxmeIdempotencyError) as info:
        client.create_intent({**BODY, "payload": {"n": 2}}, idempotency_key="order-1")
    assert isinstance(info.value, ValueError)
    assert len(rsps.calls) == 1


def test_store_not_used_without_caller_key_or_for_reads(sleeps, rsps) -> None:
    store = MemoryStore()
    client = make_client(idempotency_store=store)
    rsps.post(f"{BASE}/v1/intents", json={"ok": True, "intent_id": "i-1"})
    rsps.get(f"{BASE}/v1/intents/i-1", json={"ok": True})
    client.create_intent(BODY)
    client.get_intent("i-1")
    assert store.checks == [] and store.rows == {}


def test_failed_call_is_not_recorded(sleeps, rsps) -> None:
    store = MemoryStore()
    client = make_client(idempotency_store=store, max_retries=0)
    rsps.post(f"{BASE}/v1/intents", json={"error": "down"}, status=500)
    with pytest.raises(AxmeServerError):
        client.create_intent(BODY, idempotency_key="order-1")
    assert store.rows == {}


def test_fingerprint_is_canonical() -> None:
    a = request_fingerprint("post", "/v1/x", {"b": "1", "a": "2"}, {"y": [1, {"q": 1, "p": 2}]})
    b = request_fingerprint("POST", "/v1/x", {"a": "2", "b": "1"}, {"y": [1, {"p": 2, "q": 1}]})
    assert a == b
    assert a != request_fingerprint("POST", "/v1/x", {"a": "2", "b": "1"}, {"y": [1]})
    assert operation_name("post", "/v1/x") == "POST /v1/x"


def test_store_record_failure_does_not_fail_the_call(sleeps, rsps, caplog) -> None:
    class BrokenStore(MemoryStore):
        def record(self, *args, **kwargs) -> None:
            raise RuntimeError("database is down")

    client = make_client(idempotency_store=BrokenStore())
    rsps.post(f"{BASE}/v1/intents", json={"ok": True, "intent_id": "i-1"})
    assert client.create_intent(BODY, idempotency_key="order-1")["intent_id"] == "i-1"
    assert "could not record" in caplog.text
