"""Code written for the official SDK runs unchanged on our client.

1. Every public method of ``axme_sdk.AxmeClient`` 0.2.0 exists on ours with a compatible
   signature (same parameter names, kinds and defaults; extra parameters only optional).
2. The SDK READMEs' snippets (0.2.0 published README, 0.1 README call styles) run against a
   ``responses`` mock.
"""

from __future__ import annotations

import inspect
import json
from urllib.parse import parse_qsl, urlsplit

import pytest

from django_axme.client import AxmeClient, AxmeClientConfig
from django_axme.client import errors as our_errors

axme_sdk = pytest.importorskip("axme_sdk", reason="the published axme 0.2.0 package (dev extra)")

from .conftest import BASE, event_frame, sse  # noqa: E402

IID = "11111111-1111-4111-8111-111111111111"


def _public_methods(cls: type) -> dict[str, object]:
    return {n: f for n, f in inspect.getmembers(cls, inspect.isfunction) if not n.startswith("_")}


def test_sdk_has_94_methods_and_we_have_them_all() -> None:
    theirs = _public_methods(axme_sdk.AxmeClient)
    assert len(theirs) >= 90
    missing = sorted(set(theirs) - set(dir(AxmeClient)))
    assert missing == []
    assert isinstance(inspect.getattr_static(AxmeClient, "mesh"), property)


@pytest.mark.parametrize("name", sorted(_public_methods(axme_sdk.AxmeClient)))
def test_signature_compatible(name: str) -> None:
    theirs = inspect.signature(getattr(axme_sdk.AxmeClient, name)).parameters
    ours = inspect.signature(getattr(AxmeClient, name)).parameters
    for pname, p in theirs.items():
        assert pname in ours, f"{name}: parameter {pname!r} missing"
        q = ours[pname]
        assert q.kind == p.kind, f"{name}.{pname}: {q.kind} != {p.kind}"
        if p.default is not inspect.Parameter.empty:
            assert q.default == p.default, f"{name}.{pname}: default {q.default!r}"
    for pname, q in ours.items():
        if pname not in theirs:
            assert q.default is not inspect.Parameter.empty, f"{name}: extra required {pname!r}"


def test_mesh_client_methods_compatible() -> None:
    from axme_sdk.mesh import MeshClient as SdkMesh

    ours = type(AxmeClient(AxmeClientConfig(api_key="k")).mesh)
    for name, fn in _public_methods(SdkMesh).items():
        theirs = inspect.signature(fn).parameters
        mine = inspect.signature(getattr(ours, name)).parameters
        for pname, p in theirs.items():
            assert pname in mine and mine[pname].kind == p.kind, (name, pname)


def test_config_fields_and_defaults_match() -> None:
    import dataclasses

    ours = {f.name: f.default for f in dataclasses.fields(AxmeClientConfig)}
    for f in dataclasses.fields(axme_sdk.AxmeClientConfig):
        assert f.name in ours and ours[f.name] == f.default, f.name


def test_sdk_exception_names_exist() -> None:
    for name in axme_sdk.__all__:
        if name.startswith("Axme") and name.endswith("Error"):
            assert hasattr(our_errors, name), name


def _q(call) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(call.request.url).query))


def test_readme_020_snippets(rsps, monkeypatch) -> None:
    """The published 0.2.0 README, with our imports."""
    monkeypatch.setattr(AxmeClient, "_sleep", lambda self, s: None)
    rsps.post(f"{BASE}/v1/intents", json={"ok": True, "intent_id": IID, "status": "SUBMITTED"})
    rsps.get(
        f"{BASE}/v1/intents/{IID}/events/stream",
        body=sse(
            event_frame(1, intent_id=IID),
            event_frame(2, "intent.completed", "COMPLETED", intent_id=IID),
        ),
    )
    rsps.get(
        f"{BASE}/v1/agents/myorg/production/my-agent/intents/stream",
        body=sse(event_frame(5, "intent.delivered", "DELIVERED", intent_id=IID)),
    )
    rsps.get(
        f"{BASE}/v1/intents/{IID}",
        json={"ok": True, "intent": {"intent_id": IID, "payload": {"n": 1}}},
    )
    rsps.post(f"{BASE}/v1/intents/{IID}/resume", json={"ok": True, "applied": True})
    rsps.post(f"{BASE}/v1/mesh/heartbeat", json={"ok": True})
    rsps.get(f"{BASE}/v1/mesh/agents", json={"ok": True, "agents": []})
    rsps.post(f"{BASE}/v1/mesh/agents/addr_1/kill", json={"ok": True})
    rsps.post(f"{BASE}/v1/mesh/agents/addr_1/resume", json={"ok": True})

    client = AxmeClient(AxmeClientConfig(api_key="axme_sa_...", base_url=BASE))

    intent = client.create_intent(
        {
            "intent_type": "order.fulfillment.v1",
            "to_agent": "agent://myorg/production/fulfillment-service",
            "payload": {"order_id": "ord_123"},
        },
        idempotency_key="fulfill-ord-123-001",
    )
    result = client.wait_for(intent["intent_id"])
    assert result["status"] == "COMPLETED"

    def process(payload):
        return {"processed": payload}

    for delivery in client.listen("agent://myorg/production/my-agent"):
        intent = client.get_intent(delivery["intent_id"])
        result = process(intent["payload"])
        client.resume_intent(delivery["intent_id"], result)
        break

    intent = client.create_intent(
        {
            "intent_type": "intent.budget.approval.v1",
            "to_agent": "agent://myorg/prod/agent_core",
            "payload": {"amount": 32000},
            "human_task": {
                "task_type": "approval",
                "notify_email": "approver@example.com",
                "allowed_outcomes": ["approved", "rejected"],
            },
        }
    )
    statuses = []
    for event in client.observe(intent["intent_id"]):
        statuses.append(event["status"])
        if event["status"] in {"RESOLVED", "CANCELLED", "EXPIRED"}:
            break
    assert statuses[-1] == "COMPLETED"

    client.mesh.start_heartbeat()
    client.mesh.report_metric(success=True, latency_ms=230, cost_usd=0.02)
    agents = client.mesh.list_agents()
    assert agents["ok"] is True
    client.mesh.kill(address_id="addr_1")
    client.mesh.resume(address_id="addr_1")
    client.close()  # stops the heartbeat thread

    create_bodies = [
        json.loads(c.request.body)
        for c in rsps.calls
        if c.request.method == "POST" and urlsplit(c.request.url).path == "/v1/intents"
    ]
    assert all("correlation_id" in b for b in create_bodies)
    resume = next(
        c for c in rsps.calls if c.request.url.endswith("/resume") and "intents" in c.request.url
    )
    assert json.loads(resume.request.body) == {"processed": {"n": 1}}


def test_readme_010_snippets(rsps) -> None:
    """The 0.1 README quick start and its call styles (protocol reference section 9)."""
    rsps.get(f"{BASE}/health", json={"ok": True})
    rsps.post(f"{BASE}/v1/intents", json={"ok": True, "intent_id": IID})
    rsps.get(f"{BASE}/v1/inbox", json={"ok": True, "threads": [{"thread_id": IID}]})
    rsps.get(
        f"{BASE}/v1/inbox/changes",
        json={"ok": True, "changes": [], "next_cursor": None, "has_more": False},
    )
    rsps.post(f"{BASE}/v1/inbox/{IID}/reply", json={"ok": True, "thread": {}})
    rsps.post(f"{BASE}/v1/inbox/{IID}/approve", json={"ok": True, "thread": {}})
    rsps.post(f"{BASE}/v1/webhooks/subscriptions", json={"ok": True, "subscription": {}})
    rsps.post(f"{BASE}/v1/webhooks/events", json={"ok": True, "event_id": "ev-1"})
    rsps.post(
        f"{BASE}/v1/intents/{IID}/controls",
        json={"ok": True, "applied": True, "policy_generation": 4},
    )
    rsps.get(
        f"{BASE}/v1/intents/{IID}/events/stream",
        body=sse(
            event_frame(1, intent_id=IID),
            event_frame(2, "intent.canceled", "CANCELED", intent_id=IID),
        ),
    )

    config = AxmeClientConfig(
        base_url=BASE,
        api_key="YOUR_API_KEY",
        max_retries=2,
        retry_backoff_seconds=0.2,
        auth_style="bearer",  # 0.1 sent the API key as a Bearer token
    )
    with AxmeClient(config) as client:
        assert client.health(trace_id="trace-quickstart-001")["ok"]
        result = client.create_intent(
            {
                "intent_type": "notify.message.v1",
                "from_agent": "agent://example/sender",
                "to_agent": "agent://example/receiver",
                "payload": {"text": "hello"},
            },
            correlation_id="11111111-1111-1111-1111-111111111111",
            idempotency_key="create-intent-001",
        )
        assert result["intent_id"] == IID
        inbox = client.list_inbox(
            owner_agent="agent://example/receiver", trace_id="trace-inbox-001"
        )
        assert inbox["items"] == inbox["threads"]
        changes = client.list_inbox_changes(owner_agent="agent://example/receiver", limit=50)
        assert (changes["next_cursor"], changes["has_more"]) == (None, False)
        client.reply_inbox_thread(
            IID,
            message="Acknowledged",
            owner_agent="agent://example/receiver",
            idempotency_key="reply-001",
        )
        client.upsert_webhook_subscription(
            {
                "callback_url": "https://integrator.example/webhooks/axme",
                "event_types": ["inbox.thread_created"],
                "active": True,
            }
        )
        events = client.publish_webhook_event(
            {
                "event_type": "inbox.thread_created",
                "source": "sdk-example",
                "payload": {"thread_id": "t-1"},
            },
            owner_agent="agent://example/receiver",
        )
        assert events["event_id"] == "ev-1"

        # README-only styles of 0.1:
        client.create_intent(
            {"intent_type": "notify.message.v1", "to_agent": "agent://x", "payload": {}},
            idempotency_key="no-correlation-given",
        )
        client.update_intent_controls(
            IID,
            {
                "controls": {
                    "max_retries": 3,
                    "retry_delay_seconds": 5,
                    "reminders": [{"offset_seconds": 60, "note": "ping"}],
                }
            },
            policy_generation=3,
        )
        client.approve_inbox_thread(IID, {"note": "looks good"})
        final = client.wait_for(IID, terminal_states={"RESOLVED", "CANCELLED"})
        assert final["status"] == "CANCELED"

    assert all(c.request.headers["Authorization"] == "Bearer YOUR_API_KEY" for c in rsps.calls)
    by_path = {(c.request.method, urlsplit(c.request.url).path): c for c in rsps.calls}
    controls = json.loads(by_path[("POST", f"/v1/intents/{IID}/controls")].request.body)
    assert controls == {
        "controls_patch": {
            "max_retries": 3,
            "retry_delay_seconds": 5,
            "reminders": [{"offset_seconds": 60, "note": "ping"}],
        },
        "expected_policy_generation": 3,
    }
    approve = json.loads(by_path[("POST", f"/v1/inbox/{IID}/approve")].request.body)
    assert approve == {"comment": "looks good"}
    creates = [
        json.loads(c.request.body)
        for c in rsps.calls
        if urlsplit(c.request.url).path == "/v1/intents"
    ]
    assert creates[0]["correlation_id"] == "11111111-1111-1111-1111-111111111111"
    assert creates[1]["correlation_id"]  # generated for the 0.1 README style
