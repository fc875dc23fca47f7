"""Family round trips over real HTTP against the local emulator (the ``axme_emulator`` fixture).

These check that what the client sends is accepted by a server that validates requests, and
that state written by one family call is read back by another.
"""

from __future__ import annotations

import uuid

import pytest

from django_axme.client import (
    AxmeClient,
    AxmeClientConfig,
    AxmeConflictError,
    AxmeNotFoundError,
    AxmeValidationError,
)

from .cases import OWNER


@pytest.fixture
def live(axme_emulator):
    client = AxmeClient(
        AxmeClientConfig(
            base_url=axme_emulator.url,
            api_key=axme_emulator.api_key,
            retry_backoff_seconds=0.0,
            retry_backoff_max_seconds=0.0,
        )
    )
    yield client
    client.close()


def _nick() -> str:
    return f"@fam_{uuid.uuid4().hex[:10]}"


def test_capabilities(live) -> None:
    answer = live.get_capabilities()
    assert answer["ok"] is True
    assert all(
        t.startswith("intent.") and t.endswith(".v1") for t in answer["supported_intent_types"]
    )


def test_invite_lifecycle(live) -> None:
    created = live.create_invite(
        {"owner_agent": OWNER, "recipient_hint": "Bob", "ttl_seconds": 3600}
    )
    token = created["token"]
    assert live.get_invite(token)["status"] == "pending"
    nick = _nick()
    accepted = live.accept_invite(
        token, {"nick": nick, "display_name": "Bob"}, idempotency_key=f"acc-{token}"
    )
    assert accepted["status"] == "accepted"
    assert live.get_invite(token)["status"] == "accepted"
    with pytest.raises(AxmeConflictError):
        live.accept_invite(token, {"nick": _nick()})
    with pytest.raises(AxmeNotFoundError):
        live.get_invite("tok_does_not_exist_0")


def test_media_upload_lifecycle(live) -> None:
    created = live.create_media_upload(
        {
            "owner_agent": OWNER,
            "filename": "a.pdf",
            "mime_type": "application/pdf",
            "size_bytes": 10,
        }
    )
    upload_id = created["upload_id"]
    assert live.get_media_upload(upload_id)["upload"]["status"] == "pending"
    finalized = live.finalize_media_upload({"upload_id": upload_id, "size_bytes": 10})
    assert finalized["status"] == "ready"
    assert live.get_media_upload(upload_id)["upload"]["status"] == "ready"


def test_schema_upsert_and_get(live) -> None:
    schema_json = {"type": "object", "required": ["date"]}
    upserted = live.upsert_schema(
        {
            "semantic_type": "acme.calendar.schedule.v1",
            "schema_json": schema_json,
            "compatibility_mode": "strict",
        }
    )
    assert len(upserted["schema"]["schema_hash"]) == 64
    fetched = live.get_schema("acme.calendar.schedule.v1")
    assert fetched["schema"]["schema_json"] == schema_json


def test_user_nick_lifecycle(live) -> None:
    nick = _nick()
    assert live.check_nick(nick)["available"] is True
    registered = live.register_nick({"nick": nick, "display_name": "Carol"})
    owner = registered["owner_agent"]
    assert live.check_nick(nick)["available"] is False
    with pytest.raises(AxmeConflictError):
        live.register_nick({"nick": nick})
    new_nick = _nick()
    assert live.rename_nick({"owner_agent": owner, "nick": new_nick})["nick"] == new_nick
    live.update_user_profile({"owner_agent": owner, "display_name": "Carol C."})
    profile = live.get_user_profile(owner)
    assert (profile["owner_agent"], profile["display_name"]) == (owner, "Carol C.")


def test_webhook_subscription_and_events(live) -> None:
    sub = live.upsert_webhook_subscription(
        {"callback_url": "https://hooks.example.com/x", "event_types": ["inbox.thread_created"]}
    )["subscription"]
    listed = live.list_webhook_subscriptions(owner_agent=sub["owner_agent"])["subscriptions"]
    assert sub["subscription_id"] in [s["subscription_id"] for s in listed]
    event = live.publish_webhook_event(
        {"event_type": "inbox.thread_created", "source": "tests", "payload": {"thread_id": "t"}},
        owner_agent=sub["owner_agent"],
    )
    replay = live.replay_webhook_event(event["event_id"], owner_agent=sub["owner_agent"])
    assert replay["event_id"] == event["event_id"]
    deleted = live.delete_webhook_subscription(
        sub["subscription_id"], owner_agent=sub["owner_agent"]
    )
    assert deleted["subscription_id"] == sub["subscription_id"]
    with pytest.raises(AxmeValidationError):
        live.upsert_webhook_subscription(
            {"callback_url": "https://hooks.example.com/x", "event_types": []}
        )


def test_mcp_round_trip_with_server_schemas(live) -> None:
    assert live.mcp_initialize()["protocolVersion"]
    tools = live.mcp_list_tools()["tools"]
    assert "axme.check_nick" in [t["name"] for t in tools]
    result = live.mcp_call_tool("axme.check_nick", arguments={"nick": "@mcp_family_test"})
    assert isinstance(result["tool"], str) and isinstance(result["status"], str)
    with pytest.raises(ValueError, match="nick"):
        live.mcp_call_tool("axme.check_nick", arguments={})
    with pytest.raises(AxmeValidationError) as info:
        live.mcp_call_tool("axme.no_such_tool", arguments={})
    assert info.value.body["code"] == -32602


def test_mesh_round_trip(live) -> None:
    beat = live.mesh.heartbeat(metrics={"intents_total": 2, "intents_succeeded": 2})
    address_id = beat["address_id"]
    assert address_id in [a["address_id"] for a in live.mesh.list_agents()["agents"]]
    assert live.mesh.get_agent(address_id)["agent"]["address_id"] == address_id
    live.mesh.kill(address_id)
    live.mesh.resume(address_id)
    kinds = [e["event_type"] for e in live.mesh.list_events()["events"]]
    assert kinds[-2:] == ["agent.killed", "agent.resumed"]


def test_enterprise_round_trip(live) -> None:
    org = live.create_organization({"name": "Acme", "requested_by_actor_id": "actor_1"})[
        "organization"
    ]
    org_id = org["org_id"]
    assert live.get_organization(org_id)["organization"]["name"] == "Acme"
    live.update_organization(org_id, {"org_id": org_id, "name": "Acme Corp"})
    assert live.get_organization(org_id)["organization"]["name"] == "Acme Corp"

    ws = live.create_workspace(
        org_id, {"org_id": org_id, "name": "Prod", "environment": "production"}
    )
    ws_id = ws["workspace"]["workspace_id"]
    live.update_workspace(
        org_id, ws_id, {"org_id": org_id, "workspace_id": ws_id, "region": "eu-west"}
    )
    assert [w["workspace_id"] for w in live.list_workspaces(org_id)["workspaces"]] == [ws_id]

    member = live.add_organization_member(
        org_id, {"org_id": org_id, "actor_id": "actor_2", "role": "member", "workspace_id": ws_id}
    )["member"]
    member_id = member["member_id"]
    live.update_organization_member(
        org_id, member_id, {"org_id": org_id, "member_id": member_id, "role": "org_admin"}
    )
    members = live.list_organization_members(org_id, workspace_id=ws_id)["members"]
    assert [(m["member_id"], m["role"]) for m in members] == [(member_id, "org_admin")]
    live.remove_organization_member(org_id, member_id)

    sa = live.create_service_account(
        {"org_id": org_id, "workspace_id": ws_id, "name": "bot", "created_by_actor_id": "actor_1"}
    )["service_account"]
    sa_id = sa["service_account_id"]
    assert live.get_service_account(sa_id)["service_account"]["name"] == "bot"
    assert sa_id in [
        s["service_account_id"]
        for s in live.list_service_accounts(org_id=org_id)["service_accounts"]
    ]
    key = live.create_service_account_key(sa_id, {"created_by_actor_id": "actor_1"})["key"]
    revoked = live.revoke_service_account_key(sa_id, key["key_id"])["key"]
    assert revoked["status"] == "revoked"

    principal = live.create_principal(
        {"org_id": org_id, "workspace_id": ws_id, "principal_type": "service_agent"}
    )
    principal_id = principal["principal"]["principal_id"]
    assert live.get_principal(principal_id)["principal"]["principal_id"] == principal_id
    alias = live.bind_alias(
        {"principal_id": principal_id, "alias": "billing@acme", "alias_type": "service"}
    )["alias"]
    resolved = live.resolve_alias(org_id=org_id, workspace_id=ws_id, alias="billing@acme")
    assert resolved["resolution"]["principal"]["principal_id"] == principal_id
    assert alias["alias_id"] in [
        a["alias_id"] for a in live.list_aliases(org_id=org_id, workspace_id=ws_id)["aliases"]
    ]

    route = live.register_routing_endpoint(
        {
            "principal_id": principal_id,
            "transport_type": "http",
            "endpoint_url": "https://agents.acme.io/in",
            "auth_mode": "jwt",
        }
    )["route"]
    live.update_routing_endpoint(route["route_id"], {"priority": 5})
    routes = live.list_routing_endpoints(org_id=org_id, workspace_id=ws_id)["routes"]
    assert [(r["route_id"], r["priority"]) for r in routes] == [(route["route_id"], 5)]
    selected = live.resolve_routing(
        {"org_id": org_id, "workspace_id": ws_id, "alias": "billing@acme"}
    )
    assert selected["resolution"]["selected_route"]["route_id"] == route["route_id"]

    binding = live.upsert_transport_binding(
        {"principal_id": principal_id, "transport_type": "queue", "transport_handle": "q.billing"}
    )["binding"]
    assert [
        b["binding_id"]
        for b in live.list_transport_bindings(org_id=org_id, workspace_id=ws_id)["bindings"]
    ] == [binding["binding_id"]]

    delivery = live.submit_delivery(
        {
            "org_id": org_id,
            "workspace_id": ws_id,
            "principal_id": principal_id,
            "payload": {"text": "hi"},
        }
    )["delivery"]
    assert (
        live.get_delivery(delivery["delivery_id"])["delivery"]["delivery_id"]
        == delivery["delivery_id"]
    )
    replay = live.replay_delivery(delivery["delivery_id"])["delivery"]
    assert replay["replay_of_delivery_id"] == delivery["delivery_id"]
    assert len(live.list_deliveries(org_id=org_id, workspace_id=ws_id)["deliveries"]) == 2

    live.remove_transport_binding(binding["binding_id"])
    live.remove_routing_endpoint(route["route_id"])
    live.revoke_alias(alias["alias_id"])

    dims = {
        "requests_per_minute": 60,
        "intents_per_day": 100,
        "inbox_writes_per_day": 100,
        "media_upload_bytes_per_day": 1000,
        "media_storage_bytes": 1000,
        "webhook_deliveries_per_day": 10,
        "schema_writes_per_day": 5,
    }
    live.update_quota(
        {
            "org_id": org_id,
            "workspace_id": ws_id,
            "dimensions": dims,
            "overage_mode": "block",
            "updated_by_actor_id": "actor_1",
        }
    )
    assert live.get_quota(org_id=org_id, workspace_id=ws_id)["quota_policy"]["dimensions"] == dims
    summary = live.get_usage_summary(org_id=org_id, workspace_id=ws_id, window="day")["summary"]
    assert summary["dimensions"]["requests_per_minute"]["limit"] == 60
    assert (
        live.get_usage_timeseries(org_id=org_id, workspace_id=ws_id, window_days=7)["series"][
            "points"
        ]
        is not None
    )

    plan = {
        "org_id": org_id,
        "workspace_id": ws_id,
        "plan_code": "team",
        "currency": "EUR",
        "billing_cycle": "monthly",
        "monthly_commit_minor": 9900,
        "overage_unit_price_minor": 0,
        "updated_by_actor_id": "actor_1",
    }
    live.update_billing_plan(plan)
    assert (
        live.get_billing_plan(org_id=org_id, workspace_id=ws_id)["billing_plan"]["plan_code"]
        == "team"
    )
    invoices = live.list_billing_invoices(org_id=org_id, workspace_id=ws_id)["invoices"]
    for invoice in invoices:
        assert (
            live.get_billing_invoice(invoice["invoice_id"])["invoice"]["invoice_id"]
            == invoice["invoice_id"]
        )

    request = live.create_access_request(
        {"request_type": "join_organization", "requester_actor_id": "actor_9", "org_id": org_id}
    )["access_request"]
    assert (
        live.get_access_request(request["access_request_id"])["access_request"]["state"]
        == "pending"
    )
    reviewed = live.review_access_request(
        request["access_request_id"], {"decision": "approve", "reviewer_actor_id": "actor_1"}
    )["access_request"]
    assert reviewed["state"] == "approved"
    assert [
        r["access_request_id"]
        for r in live.list_access_requests(org_id=org_id, state="approved")["access_requests"]
    ] == [request["access_request_id"]]
