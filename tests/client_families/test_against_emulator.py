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
