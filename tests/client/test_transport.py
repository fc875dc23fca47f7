"""Headers, retries, backoff, idempotency keys, transport errors, secret hygiene."""

from __future__ import annotations

import logging
import uuid

import pytest
import requests

from django_axme import __version__
from django_axme.client import (
    AxmeRateLimitError,
    AxmeServerError,
    AxmeTransportError,
)
from django_axme.client.retry import RetryPolicy

from .conftest import API_KEY, BASE, body_of, make_client

INTENT = {"intent_type": "notify.message.v1", "to_agent": "agent://a/b/c", "payload": {"x": 1}}


def test_default_headers_on_every_call(client, rsps) -> None:
    rsps.get(f"{BASE}/health", json={"ok": True})
    assert client.health() == {"ok": True}
    headers = rsps.calls[0].request.headers
    assert headers["x-api-key"] == API_KEY
    assert "Authorization" not in headers
    assert headers["X-Axme-Client"] == f"django-axme/{__version__}"
    assert headers["User-Agent"].startswith(f"django-axme/{__version__} ")
    uuid.UUID(headers["X-Trace-Id"])
    assert "Idempotency-Key" not in headers


def test_actor_token_sent_as_bearer(sleeps, rsps) -> None:
    client = make_client(actor_token="actor-jwt")
    rsps.get(f"{BASE}/health", json={"ok": True})
    client.health()
    headers = rsps.calls[0].request.headers
    assert headers["x-api-key"] == API_KEY
    assert headers["Authorization"] == "Bearer actor-jwt"


def test_bearer_auth_style_sdk_010(sleeps, rsps) -> None:
    client = make_client(auth_style="bearer")
    rsps.get(f"{BASE}/health", json={"ok": True})
    client.health()
    headers = rsps.calls[0].request.headers
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert "x-api-key" not in headers


def test_explicit_trace_id_wins_and_auto_trace_can_be_off(sleeps, rsps) -> None:
    rsps.get(f"{BASE}/health", json={"ok": True})
    make_client().health(trace_id="trace-123")
    assert rsps.calls[0].request.headers["X-Trace-Id"] == "trace-123"
    make_client(auto_trace_id=False).health()
    assert "X-Trace-Id" not in rsps.calls[1].request.headers


def test_trace_ids_differ_between_calls(client, rsps) -> None:
    rsps.get(f"{BASE}/health", json={"ok": True})
    client.health()
    client.health()
    assert (
        rsps.calls[0].request.headers["X-Trace-Id"] != rsps.calls[1].request.headers["X-Trace-Id"]
    )


def test_mutating_call_gets_generated_key_and_correlation_id(client, rsps) -> None:
    rsps.post(f"{BASE}/v1/intents", json={"ok": True, "intent_id": "i1"})
    client.create_intent(INTENT)
    request = rsps.calls[0].request
    uuid.UUID(request.headers["Idempotency-Key"])
    uuid.UUID(body_of(rsps.calls[0])["correlation_id"])


def test_503_then_200_is_retried_with_same_trace_id(client, rsps, sleeps) -> None:
    rsps.get(f"{BASE}/v1/intents/i1", json={"error": "down"}, status=503)
    rsps.get(f"{BASE}/v1/intents/i1", json={"ok": True, "intent": {"intent_id": "i1"}})
    assert client.get_intent("i1")["intent"]["intent_id"] == "i1"
    assert len(rsps.calls) == 2
    traces = {c.request.headers["X-Trace-Id"] for c in rsps.calls}
    assert len(traces) == 1
    assert len(sleeps.calls) == 1


def test_retries_stop_after_max_retries(client, rsps, sleeps) -> None:
    rsps.get(f"{BASE}/health", json={"error": "down"}, status=500)
    with pytest.raises(AxmeServerError):
        client.health()
    assert len(rsps.calls) == 3  # 1 + max_retries(2)
    assert len(sleeps.calls) == 2


def test_429_retry_after_is_honoured(client, rsps, sleeps) -> None:
    rsps.get(f"{BASE}/health", json={"error": "slow"}, status=429, headers={"Retry-After": "1"})
    rsps.get(f"{BASE}/health", json={"ok": True})
    assert client.health() == {"ok": True}
    assert sleeps.calls == [1.0]


def test_429_retry_after_really_waits(rsps) -> None:
    """Without patching: measure the wall clock."""
    import time

    client = make_client(retry_backoff_seconds=0.0)
    rsps.get(f"{BASE}/health", json={"error": "slow"}, status=429, headers={"Retry-After": "1"})
    rsps.get(f"{BASE}/health", json={"ok": True})
    started = time.monotonic()
    client.health()
    assert time.monotonic() - started >= 1.0


def test_retry_after_beyond_cap_is_not_slept(client, rsps, sleeps) -> None:
    rsps.get(f"{BASE}/health", json={"error": "slow"}, status=429, headers={"Retry-After": "3600"})
    with pytest.raises(AxmeRateLimitError) as info:
        client.health()
    assert info.value.retry_after == 3600
    assert len(rsps.calls) == 1 and sleeps.calls == []


def test_post_without_key_not_retried_when_auto_key_off(sleeps, rsps) -> None:
    client = make_client(auto_idempotency_key=False)
    rsps.post(f"{BASE}/v1/intents", json={"error": "boom"}, status=500)
    with pytest.raises(AxmeServerError):
        client.create_intent(INTENT)
    assert len(rsps.calls) == 1
    assert "Idempotency-Key" not in rsps.calls[0].request.headers


def test_post_with_generated_key_retried_with_same_key_and_body(client, rsps, sleeps) -> None:
    rsps.post(f"{BASE}/v1/intents", json={"error": "boom"}, status=500)
    rsps.post(f"{BASE}/v1/intents", json={"ok": True, "intent_id": "i1"})
    assert client.create_intent(INTENT)["intent_id"] == "i1"
    assert len(rsps.calls) == 2
    keys = {c.request.headers["Idempotency-Key"] for c in rsps.calls}
    bodies = [body_of(c) for c in rsps.calls]
    assert len(keys) == 1
    assert bodies[0] == bodies[1]


def test_post_with_caller_key_retried(sleeps, rsps) -> None:
    client = make_client(auto_idempotency_key=False)
    rsps.post(f"{BASE}/v1/intents", json={"error": "busy"}, status=503)
    rsps.post(f"{BASE}/v1/intents", json={"ok": True, "intent_id": "i1"})
    client.create_intent(INTENT, idempotency_key="k-1")
    assert [c.request.headers["Idempotency-Key"] for c in rsps.calls] == ["k-1", "k-1"]


def test_4xx_never_retried(client, rsps, sleeps) -> None:
    rsps.get(f"{BASE}/v1/intents/i1", json={"error": "bad"}, status=400)
    with pytest.raises(Exception):
        client.get_intent("i1")
    assert len(rsps.calls) == 1


def test_connection_error_retried_for_reads(client, rsps, sleeps) -> None:
    rsps.get(f"{BASE}/health", body=requests.ConnectionError("refused"))
    rsps.get(f"{BASE}/health", json={"ok": True})
    assert client.health() == {"ok": True}
    assert len(rsps.calls) == 2


def test_transport_error_after_retries(client, rsps, sleeps) -> None:
    rsps.get(f"{BASE}/health", body=requests.ConnectionError("refused"))
    with pytest.raises(AxmeTransportError) as info:
        client.health()
    assert isinstance(info.value.__cause__, requests.ConnectionError)
    assert len(rsps.calls) == 3


def test_read_timeout_on_unkeyed_post_not_retried(sleeps, rsps) -> None:
    client = make_client(auto_idempotency_key=False)
    rsps.post(f"{BASE}/v1/intents", body=requests.ReadTimeout("slow"))
    with pytest.raises(AxmeTransportError):
        client.create_intent(INTENT)
    assert len(rsps.calls) == 1


def test_timeouts_on_every_call(rsps, monkeypatch) -> None:
    client = make_client(connect_timeout_seconds=2.5, timeout_seconds=7.0)
    seen = []
    adapter = client._session.get_adapter(BASE)
    original = adapter.send  # responses' mock while rsps is active

    def spy(request, **kwargs):
        seen.append(kwargs.get("timeout"))
        return original(request, **kwargs)

    monkeypatch.setattr(adapter, "send", spy)  # this adapter only: nothing leaks past the test
    rsps.get(f"{BASE}/health", json={"ok": True})
    client.health()
    assert seen == [(2.5, 7.0)]


def test_pool_size_from_config() -> None:
    client = make_client(pool_maxsize=33)
    adapter = client._session.get_adapter("https://x")
    assert adapter._pool_maxsize == 33


def test_backoff_full_jitter_is_capped() -> None:
    policy = RetryPolicy(max_retries=10, base=1.0, cap=4.0)
    for attempt in range(10):
        for _ in range(50):
            d = policy.delay(attempt)
            assert d is not None and 0.0 <= d <= min(4.0, 2.0**attempt)
    assert policy.delay(0, retry_after=3) == 3.0
    assert policy.delay(0, retry_after=5) is None


def test_api_key_absent_from_logs(client, rsps, sleeps, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    rsps.get(f"{BASE}/health", json={"error": f"bad {API_KEY}"}, status=503)
    rsps.get(f"{BASE}/v1/intents/i1", body=requests.ConnectionError(f"refused {API_KEY}"))
    with pytest.raises(AxmeServerError) as e1:
        client.health()
    with pytest.raises(AxmeTransportError) as e2:
        client.get_intent("i1")
    assert caplog.records, "the client logs retries"
    for record in caplog.records:
        assert API_KEY not in record.getMessage()
    assert API_KEY not in str(e1.value) and API_KEY not in str(e2.value)


def test_per_call_authorization_overrides(client, rsps) -> None:
    rsps.post(f"{BASE}/v1/intents/i1/resume", json={"ok": True, "applied": True})
    client.resume_intent("i1", {}, authorization="Bearer other", x_owner_agent="agent://o")
    headers = rsps.calls[0].request.headers
    assert headers["authorization"] == "Bearer other"
    assert headers["x-owner-agent"] == "agent://o"
    assert headers["x-api-key"] == API_KEY


def test_context_manager_closes(rsps) -> None:
    with make_client() as client:
        rsps.get(f"{BASE}/health", json={"ok": True})
        client.health()


def test_caller_session_gets_the_same_headers(rsps) -> None:
    import requests as rq

    from django_axme.client import AxmeClient, AxmeClientConfig

    session = rq.Session()
    client = AxmeClient(AxmeClientConfig(base_url=BASE, api_key=API_KEY), session=session)
    rsps.get(f"{BASE}/health", json={"ok": True})
    client.health()
    client.close()  # does not close a session it did not create
    headers = rsps.calls[0].request.headers
    assert headers["X-Axme-Client"].startswith("django-axme/")
    assert headers["x-api-key"] == API_KEY
    assert "x-api-key" not in session.headers  # no secret left on the caller's session


def test_redirects_are_not_followed(client, rsps) -> None:
    """Following would send the x-api-key header to the redirect target."""
    from django_axme.client import AxmeAPIError

    rsps.get(f"{BASE}/health", status=302, headers={"Location": "https://evil.example/health"})
    rsps.get("https://evil.example/health", json={"ok": True})
    with pytest.raises(AxmeAPIError, match=r"redirect to https://evil\.example/health") as info:
        client.health()
    assert info.value.status_code == 302
    assert len(rsps.calls) == 1
