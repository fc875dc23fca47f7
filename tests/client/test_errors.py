"""HTTP status -> exception mapping and message extraction."""

from __future__ import annotations

import pytest

from django_axme.client import (
    AxmeAPIError,
    AxmeAuthError,
    AxmeConflictError,
    AxmeError,
    AxmeHttpError,
    AxmeNotFoundError,
    AxmeRateLimitError,
    AxmeServerError,
    AxmeStalePolicyError,
    AxmeValidationError,
)

from .conftest import API_KEY, BASE


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, AxmeValidationError),
        (401, AxmeAuthError),
        (403, AxmeAuthError),
        (404, AxmeNotFoundError),
        (409, AxmeConflictError),
        (413, AxmeValidationError),
        (422, AxmeValidationError),
        (429, AxmeRateLimitError),
        (500, AxmeServerError),
        (503, AxmeServerError),
        (410, AxmeAPIError),
    ],
)
def test_status_maps_to_class(client, rsps, status, cls) -> None:
    rsps.get(
        f"{BASE}/v1/intents/i1",
        json={"error": {"code": "x", "message": f"boom {status}"}},
        status=status,
        headers={"x-request-id": "req-1", "x-trace-id": "tr-1", "Retry-After": "7"},
    )
    with pytest.raises(cls) as info:
        client.get_intent("i1")
    error = info.value
    assert type(error) is cls
    assert isinstance(error, AxmeHttpError) and isinstance(error, AxmeError)
    assert error.status_code == status
    assert str(error) == f"HTTP {status}: boom {status}"
    assert error.body == {"error": {"code": "x", "message": f"boom {status}"}}
    assert (error.request_id, error.trace_id) == ("req-1", "tr-1")
    assert error.retry_after == 7


def test_conflict_is_a_validation_error_for_sdk_code(client, rsps) -> None:
    rsps.post(
        f"{BASE}/v1/intents/i1/resolve",
        json={"error": "intent already in terminal state"},
        status=409,
    )
    with pytest.raises(AxmeValidationError, match="terminal state"):
        client.resolve_intent("i1", {"status": "CANCELED", "reason": "x"})


def test_stale_policy_409(client, rsps) -> None:
    rsps.post(
        f"{BASE}/v1/intents/i1/controls",
        json={
            "error": {"code": "conflict", "message": "stale"},
            "reason": "stale_policy_generation",
            "policy_generation": 4,
        },
        status=409,
    )
    with pytest.raises(AxmeStalePolicyError) as info:
        client.update_intent_controls("i1", {"controls_patch": {}}, policy_generation=2)
    assert info.value.current_policy_generation == 4


def test_stale_policy_200_form_is_returned(client, rsps) -> None:
    answer = {
        "ok": True,
        "applied": False,
        "reason": "stale_policy_generation",
        "policy_generation": 4,
    }
    rsps.post(f"{BASE}/v1/intents/i1/policy", json=answer)
    assert client.update_intent_policy("i1", {"grants_patch": {}}) == answer


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"error": "not_found"}, "not_found"),
        ({"error": {"code": "c", "message": "nested"}}, "nested"),
        ({"message": "top"}, "top"),
        (
            {"detail": "idempotency key reused with different payload"},
            "idempotency key reused with different payload",
        ),
        (
            {"detail": [{"loc": ["body", "status"], "msg": "field required", "type": "x"}]},
            "body.status: field required",
        ),
        ({"error": {"code": "only_code"}}, "only_code"),
    ],
)
def test_message_extraction(client, rsps, body, message) -> None:
    rsps.get(f"{BASE}/v1/intents/i1", json=body, status=422)
    with pytest.raises(AxmeValidationError) as info:
        client.get_intent("i1")
    assert info.value.message == message


@pytest.mark.parametrize("status", [400, 404, 500, 502])
def test_non_json_bodies(client, rsps, sleeps, status) -> None:
    rsps.get(
        f"{BASE}/v1/intents/i1",
        body="<html><h1>Bad Gateway</h1></html>",
        status=status,
        content_type="text/html",
    )
    with pytest.raises(AxmeAPIError) as info:
        client.get_intent("i1")
    assert info.value.status_code == status
    assert info.value.body is None
    assert "Bad Gateway" in info.value.message


def test_empty_error_body_uses_reason(client, rsps) -> None:
    rsps.get(f"{BASE}/v1/intents/i1", body=b"", status=404)
    with pytest.raises(AxmeNotFoundError) as info:
        client.get_intent("i1")
    assert info.value.message == "Not Found"


def test_rate_limit_retry_after_non_integer(client, rsps, sleeps) -> None:
    rsps.get(
        f"{BASE}/health",
        json={"error": "slow down"},
        status=429,
        headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"},
    )
    with pytest.raises(AxmeRateLimitError) as info:
        client.health()
    assert info.value.retry_after is None


def test_api_key_echoed_by_server_is_redacted(client, rsps) -> None:
    rsps.get(f"{BASE}/v1/intents/i1", json={"error": f"invalid key {API_KEY}"}, status=401)
    with pytest.raises(AxmeAuthError) as info:
        client.get_intent("i1")
    assert API_KEY not in str(info.value)
    assert API_KEY not in info.value.message
    assert "[redacted]" in info.value.message


def test_success_body_not_json_or_not_object(client, rsps) -> None:
    rsps.get(f"{BASE}/v1/intents/i1", body="oops", status=200)
    with pytest.raises(AxmeAPIError, match="not valid JSON"):
        client.get_intent("i1")
    rsps.get(f"{BASE}/v1/intents/i2", json=[1, 2], status=200)
    with pytest.raises(AxmeAPIError, match="expected an object"):
        client.get_intent("i2")
