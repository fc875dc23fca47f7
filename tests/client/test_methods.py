"""Every core method: HTTP method, path, query, headers and body (responses-based)."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from django_axme.client.idempotency import correlation_id_for_key

from .conftest import API_KEY, BASE, body_of, make_client

IID = "11111111-1111-4111-8111-111111111111"
OWNER = "agent://org/ws/owner"

# (call, http method, path, query, body (None = no body), idempotency key expected?)
CASES: list[tuple[str, Any, str, str, dict[str, str], Any, str | None]] = [
    ("health", lambda c: c.health(), "GET", "/health", {}, None, None),
    ("get_intent", lambda c: c.get_intent(IID), "GET", f"/v1/intents/{IID}", {}, None, None),
    (
        "list_intent_events",
        lambda c: c.list_intent_events(IID, since=3),
        "GET",
        f"/v1/intents/{IID}/events",
        {"since": "3"},
        None,
        None,
    ),
    (
        "list_intent_events_all",
        lambda c: c.list_intent_events(IID),
        "GET",
        f"/v1/intents/{IID}/events",
        {},
        None,
        None,
    ),
    (
        "resolve_intent",
        lambda c: c.resolve_intent(
            IID,
            {"status": "COMPLETED", "result": {"a": 1}},
            owner_agent=OWNER,
            idempotency_key="k1",
        ),
        "POST",
        f"/v1/intents/{IID}/resolve",
        {"owner_agent": OWNER},
        {"status": "COMPLETED", "result": {"a": 1}},
        "k1",
    ),
    (
        "resume_intent",
        lambda c: c.resume_intent(IID, {"approve_current_step": True}),
        "POST",
        f"/v1/intents/{IID}/resume",
        {},
        {"approve_current_step": True},
        "auto",
    ),
    (
        "update_intent_controls",
        lambda c: c.update_intent_controls(
            IID,
            {"controls_patch": {"timeout_seconds": 60}, "expected_policy_generation": 1},
            owner_agent=OWNER,
        ),
        "POST",
        f"/v1/intents/{IID}/controls",
        {"owner_agent": OWNER},
        {"controls_patch": {"timeout_seconds": 60}, "expected_policy_generation": 1},
        "auto",
    ),
    (
        "update_intent_policy",
        lambda c: c.update_intent_policy(
            IID, {"grants_patch": {"g": {"allow": ["resume"]}}}, idempotency_key="k2"
        ),
        "POST",
        f"/v1/intents/{IID}/policy",
        {},
        {"grants_patch": {"g": {"allow": ["resume"]}}},
        "k2",
    ),
    (
        "apply_scenario",
        lambda c: c.apply_scenario(
            {"scenario_id": "s.one", "intent": {"type": "t"}}, idempotency_key="k3"
        ),
        "POST",
        "/v1/scenarios/apply",
        {},
        {"scenario_id": "s.one", "intent": {"type": "t"}, "idempotency_key": "k3"},
        "k3",
    ),
    (
        "validate_scenario",
        lambda c: c.validate_scenario({"scenario_id": "s.one"}),
        "POST",
        "/v1/scenarios/validate",
        {},
        {"scenario_id": "s.one"},
        "auto",
    ),
    (
        "list_inbox",
        lambda c: c.list_inbox(owner_agent=OWNER),
        "GET",
        "/v1/inbox",
        {"owner_agent": OWNER},
        None,
        None,
    ),
    (
        "list_inbox_status",
        lambda c: c.list_inbox(owner_agent=OWNER, status="pending"),
        "GET",
        "/v1/inbox",
        {"owner_agent": OWNER, "status": "pending"},
        None,
        None,
    ),
    (
        "get_inbox_thread",
        lambda c: c.get_inbox_thread(IID, owner_agent=OWNER),
        "GET",
        f"/v1/inbox/{IID}",
        {"owner_agent": OWNER},
        None,
        None,
    ),
    (
        "list_inbox_changes",
        lambda c: c.list_inbox_changes(owner_agent=OWNER, cursor="c9", limit=5),
        "GET",
        "/v1/inbox/changes",
        {"owner_agent": OWNER, "cursor": "c9", "limit": "5"},
        None,
        None,
    ),
    (
        "reply_inbox_thread",
        lambda c: c.reply_inbox_thread(IID, message="hi", owner_agent=OWNER, idempotency_key="k4"),
        "POST",
        f"/v1/inbox/{IID}/reply",
        {"owner_agent": OWNER},
        {"message": "hi"},
        "k4",
    ),
    (
        "delegate_inbox_thread",
        lambda c: c.delegate_inbox_thread(IID, {"delegate_to": "agent://x/y/z", "note": "n"}),
        "POST",
        f"/v1/inbox/{IID}/delegate",
        {},
        {"delegate_to": "agent://x/y/z", "note": "n"},
        "auto",
    ),
    (
        "approve_inbox_thread",
        lambda c: c.approve_inbox_thread(IID, {"comment": "ok"}, owner_agent=OWNER),
        "POST",
        f"/v1/inbox/{IID}/approve",
        {"owner_agent": OWNER},
        {"comment": "ok"},
        "auto",
    ),
    (
        "reject_inbox_thread",
        lambda c: c.reject_inbox_thread(IID, {"comment": "no"}),
        "POST",
        f"/v1/inbox/{IID}/reject",
        {},
        {"comment": "no"},
        "auto",
    ),
    (
        "delete_inbox_messages",
        lambda c: c.delete_inbox_messages(IID, {"mode": "self", "message_ids": ["m1"]}),
        "POST",
        f"/v1/inbox/{IID}/messages/delete",
        {},
        {"mode": "self", "message_ids": ["m1"]},
        "auto",
    ),
    (
        "decide_approval",
        lambda c: c.decide_approval(IID, decision="approve", comment="fine", idempotency_key="k5"),
        "POST",
        f"/v1/approvals/{IID}/decision",
        {},
        {"decision": "approve", "comment": "fine"},
        "k5",
    ),
    (
        "list_agents",
        lambda c: c.list_agents(org_id="o1", workspace_id="w1", limit=10),
        "GET",
        "/v1/agents",
        {"org_id": "o1", "workspace_id": "w1", "limit": "10"},
        None,
        None,
    ),
    (
        "get_agent",
        lambda c: c.get_agent("agent://org/ws/bot"),
        "GET",
        "/v1/agents/org/ws/bot",
        {},
        None,
        None,
    ),
]


@pytest.mark.parametrize(
    ("call", "method", "path", "query", "body", "key"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_request_shape(client, rsps, call, method, path, query, body, key) -> None:
    rsps.add(method, f"{BASE}{path}", json={"ok": True, "intent_id": IID})
    result = call(client)
    assert result["ok"] is True
    assert len(rsps.calls) == 1
    request = rsps.calls[0].request
    url = urlsplit(request.url)
    assert request.method == method
    assert url.path == path
    assert dict(parse_qsl(url.query)) == query
    assert body_of(rsps.calls[0]) == body
    headers = request.headers
    assert headers["x-api-key"] == API_KEY
    assert headers["X-Axme-Client"].startswith("django-axme/")
    uuid.UUID(headers["X-Trace-Id"])
    if key is None:
        assert "Idempotency-Key" not in headers
    elif key == "auto":
        uuid.UUID(headers["Idempotency-Key"])
    else:
        assert headers["Idempotency-Key"] == key
    if body is not None:
        assert headers["Content-Type"] == "application/json"


def test_create_intent_with_explicit_correlation_id(client, rsps) -> None:
    rsps.post(f"{BASE}/v1/intents", json={"ok": True, "intent_id": IID})
    client.create_intent(
        {"intent_type": "a.b.v1", "to_agent": "agent://x", "payload": {}},
        correlation_id="c-1",
        idempotency_key="k",
        trace_id="t",
    )
    request = rsps.calls[0].request
    assert body_of(rsps.calls[0])["correlation_id"] == "c-1"
    assert request.headers["Idempotency-Key"] == "k"
    assert request.headers["X-Trace-Id"] == "t"


def test_create_intent_correlation_from_payload_or_key(client, rsps) -> None:
    rsps.post(f"{BASE}/v1/intents", json={"ok": True, "intent_id": IID})
    client.create_intent({"payload": {}, "correlation_id": "from-payload"})
    client.create_intent({"payload": {}}, idempotency_key="order-7")
    client.create_intent({"payload": {}}, idempotency_key="order-7")
    ids = [body_of(c)["correlation_id"] for c in rsps.calls]
    assert ids[0] == "from-payload"
    assert ids[1] == ids[2] == correlation_id_for_key("order-7")
    with pytest.raises(ValueError, match="correlation_id"):
        client.create_intent({"correlation_id": "a"}, correlation_id="b")


def test_create_intent_does_not_mutate_payload(client, rsps) -> None:
    rsps.post(f"{BASE}/v1/intents", json={"ok": True, "intent_id": IID})
    payload = {"payload": {}}
    client.create_intent(payload)
    assert payload == {"payload": {}}


def test_send_intent_returns_id(client, rsps) -> None:
    rsps.post(f"{BASE}/v1/intents", json={"ok": True, "intent_id": IID})
    assert client.send_intent({"payload": {}}) == IID
    rsps.replace("POST", f"{BASE}/v1/intents", json={"ok": True})
    with pytest.raises(ValueError, match="intent_id"):
        client.send_intent({"payload": {}})


def test_default_owner_agent_for_inbox(sleeps, rsps) -> None:
    client = make_client(default_owner_agent=OWNER)
    rsps.get(f"{BASE}/v1/inbox", json={"ok": True, "threads": []})
    client.list_inbox()
    assert dict(parse_qsl(urlsplit(rsps.calls[0].request.url).query)) == {"owner_agent": OWNER}


def test_ids_are_path_quoted(client, rsps) -> None:
    rsps.get(f"{BASE}/v1/intents/a%2F..%2Fb", json={"ok": True})
    client.get_intent("a/../b")
    assert urlsplit(rsps.calls[0].request.url).path == "/v1/intents/a%2F..%2Fb"


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.create_intent(["not", "a", "dict"]),
        lambda c: c.create_intent("text"),
        lambda c: c.resolve_intent(IID, None),
        lambda c: c.resume_intent(IID, "x"),
        lambda c: c.update_intent_controls(IID, [1]),
        lambda c: c.delegate_inbox_thread(IID, 3),
        lambda c: c.apply_scenario("bundle"),
        lambda c: c.validate_scenario(None),
        lambda c: c.delete_inbox_messages(IID, "all"),
        lambda c: c.approve_inbox_thread(IID, "yes"),
    ],
)
def test_non_dict_payloads_raise_value_error(client, rsps, call) -> None:
    with pytest.raises(ValueError, match="must be a dict"):
        call(client)
    assert len(rsps.calls) == 0


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda c: c.list_intent_events(IID, since=-1), "since"),
        (lambda c: c.get_intent(""), "intent_id"),
        (lambda c: c.get_agent("  "), "address"),
        (lambda c: c.decide_approval(IID, decision="maybe"), "decision"),
        (lambda c: c.reply_inbox_thread(IID, message=""), "message"),
        (lambda c: c.list_inbox_changes(limit=0), "limit"),
        (lambda c: c.update_intent_controls(IID, {}, policy_generation=-2), "policy_generation"),
    ],
)
def test_bad_arguments_raise_value_error(client, rsps, call, match) -> None:
    with pytest.raises(ValueError, match=match):
        call(client)
    assert len(rsps.calls) == 0
