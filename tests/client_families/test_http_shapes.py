"""Every family method puts the SDK's method, path, query and body on the wire."""

from __future__ import annotations

import pytest
import responses

from django_axme.client import AxmeNotFoundError, AxmeServerError

from .cases import CASES, INVITE, ORG, WEBHOOK_EVENT, WS, Case
from .conftest import API_KEY, BASE_URL, schema_errors, sent

SCHEMA_CASES = [c for c in CASES if c.request_schema]
KEYED_CASES = [c for c in CASES if c.keyed]


def _by_name(name: str) -> Case:
    return next(c for c in CASES if c.name == name)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_method_path_query_body(client, rsps, case: Case) -> None:
    answer = {"ok": True, "echo": case.name}
    rsps.add(case.method, BASE_URL + case.path, json=answer)

    assert case.call(client, {}) == answer

    [req] = sent(rsps)
    assert (req.method, req.path) == (case.method, case.path)
    assert req.query == case.query
    assert req.body == case.body
    assert req.headers["x-api-key"] == API_KEY
    assert req.headers["X-Trace-Id"]
    if case.method in ("POST", "PATCH"):
        assert req.headers["Idempotency-Key"], "mutating calls always carry a key"


@pytest.mark.parametrize("case", SCHEMA_CASES, ids=lambda c: c.name)
def test_request_body_matches_public_api_schema(client, rsps, case: Case) -> None:
    rsps.add(case.method, BASE_URL + case.path, json={"ok": True})
    case.call(client, {})
    [req] = sent(rsps)
    assert schema_errors(case.request_schema, req.body) == []


def test_schema_check_rejects_a_bad_body() -> None:
    """The schema helper is live: it reports what is wrong with a bad body."""
    errors = schema_errors("api.invites.create.request", {"owner_agent": "x", "ttl_seconds": 5})
    assert len(errors) == 2
    assert any("ttl_seconds" in e for e in errors)


@pytest.mark.parametrize("case", KEYED_CASES, ids=lambda c: c.name)
def test_caller_idempotency_key_and_trace_id_are_sent(client, rsps, case: Case) -> None:
    rsps.add(case.method, BASE_URL + case.path, json={"ok": True})
    case.call(client, {"idempotency_key": f"key-{case.name}", "trace_id": "trace-123"})
    [req] = sent(rsps)
    assert req.headers["Idempotency-Key"] == f"key-{case.name}"
    assert req.headers["X-Trace-Id"] == "trace-123"
    assert req.body == case.body, "the key goes in the header, never into the body"


@pytest.mark.parametrize("case", [c for c in CASES if not c.keyed], ids=lambda c: c.name)
def test_trace_id_is_forwarded_on_reads_and_deletes(client, rsps, case: Case) -> None:
    rsps.add(case.method, BASE_URL + case.path, json={"ok": True})
    case.call(client, {"trace_id": "trace-xyz"})
    [req] = sent(rsps)
    assert req.headers["X-Trace-Id"] == "trace-xyz"


def test_read_is_retried_after_503(client, rsps) -> None:
    case = _by_name("get_quota")
    rsps.add(case.method, BASE_URL + case.path, status=503, json={"error": "busy"})
    rsps.add(case.method, BASE_URL + case.path, json={"ok": True, "quota_policy": {}})
    assert case.call(client, {}) == {"ok": True, "quota_policy": {}}
    assert len(rsps.calls) == 2


def test_write_retry_reuses_one_generated_key(client, rsps) -> None:
    rsps.add("POST", BASE_URL + "/v1/invites/create", status=500, json={"error": "boom"})
    rsps.add("POST", BASE_URL + "/v1/invites/create", json={"ok": True, "token": "t" * 12})
    assert client.create_invite(INVITE)["token"] == "t" * 12
    first, second = sent(rsps)
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert first.body == second.body == INVITE


def test_unkeyed_write_is_not_retried_without_generated_keys(client_factory, rsps) -> None:
    client = client_factory(auto_idempotency_key=False)
    rsps.add("POST", BASE_URL + "/v1/invites/create", status=500, json={"error": "boom"})
    with pytest.raises(AxmeServerError):
        client.create_invite(INVITE)
    assert len(rsps.calls) == 1
    assert "Idempotency-Key" not in rsps.calls[0].request.headers


def test_http_errors_use_the_client_hierarchy(client, rsps) -> None:
    rsps.add("GET", BASE_URL + "/v1/invites/tok_missing00", status=404, json={"error": "not_found"})
    with pytest.raises(AxmeNotFoundError) as info:
        client.get_invite("tok_missing00")
    assert info.value.status_code == 404
    assert info.value.message == "not_found"


@pytest.mark.parametrize(
    ("call", "raw_path"),
    [
        (lambda c: c.get_invite("a/b?c"), "/v1/invites/a%2Fb%3Fc"),
        (lambda c: c.get_schema("x.y.z.v1#frag"), "/v1/schemas/x.y.z.v1%23frag"),
        (lambda c: c.remove_routing_endpoint("../admin"), "/v1/routing/endpoints/..%2Fadmin"),
    ],
)
def test_ids_are_encoded_as_one_path_segment(client, rsps, call, raw_path) -> None:
    rsps.add(responses.GET, BASE_URL + raw_path, json={"ok": True})
    rsps.add(responses.DELETE, BASE_URL + raw_path, json={"ok": True})
    call(client)
    [req] = sent(rsps)
    assert req.raw_path == raw_path


def test_mapping_payload_is_copied_not_mutated(client, rsps) -> None:
    from types import MappingProxyType

    payload = MappingProxyType({"org_id": ORG, "workspace_id": WS, "principal_type": "user"})
    rsps.add("POST", BASE_URL + "/v1/principals", json={"ok": True})
    client.create_principal(payload)
    [req] = sent(rsps)
    assert req.body == dict(payload)


@pytest.mark.parametrize(
    ("call", "method", "path"),
    [
        (lambda c, kw: c.list_webhook_subscriptions(**kw), "GET", "/v1/webhooks/subscriptions"),
        (
            lambda c, kw: c.delete_webhook_subscription("sub_1", **kw),
            "DELETE",
            "/v1/webhooks/subscriptions/sub_1",
        ),
        (
            lambda c, kw: c.publish_webhook_event(WEBHOOK_EVENT, **kw),
            "POST",
            "/v1/webhooks/events",
        ),
        (
            lambda c, kw: c.replay_webhook_event("evt_1", **kw),
            "POST",
            "/v1/webhooks/events/evt_1/replay",
        ),
    ],
)
def test_webhook_owner_defaults_to_configured_owner(client_factory, rsps, call, method, path):
    client = client_factory(default_owner_agent="agent://acme/default")
    rsps.add(method, BASE_URL + path, json={"ok": True})
    rsps.add(method, BASE_URL + path, json={"ok": True})
    call(client, {})
    call(client, {"owner_agent": "agent://acme/explicit"})
    first, second = sent(rsps)
    assert first.query == {"owner_agent": ["agent://acme/default"]}
    assert second.query == {"owner_agent": ["agent://acme/explicit"]}


def test_list_webhook_subscriptions_include_inactive(client, rsps) -> None:
    rsps.add("GET", BASE_URL + "/v1/webhooks/subscriptions", json={"ok": True})
    rsps.add("GET", BASE_URL + "/v1/webhooks/subscriptions", json={"ok": True})
    client.list_webhook_subscriptions(include_inactive=True)
    client.list_webhook_subscriptions(owner_agent="agent://o", include_inactive=False)
    first, second = sent(rsps)
    assert first.query == {"include_inactive": ["true"]}
    assert second.query == {"owner_agent": ["agent://o"], "include_inactive": ["false"]}
    with pytest.raises(ValueError, match="include_inactive"):
        client.list_webhook_subscriptions(include_inactive="yes")
