"""The public AXME conformance checks (reference section 8), one test each, over real HTTP.

33 contract checks plus 3 MCP checks, in the suite's order: the inbox checks share one
gateway and act on ``threads[0]`` of ``agent://conformance/owner`` in sequence (reference 7.5),
so the module uses one emulator server for all of them. The client sends what the suite sends:
``Authorization: Bearer <key>`` and ``Content-Type: application/json``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from django_axme.emulator.emulator import Emulator
from django_axme.emulator.server import EmulatorServer

API_KEY = "axme_sa_conformance_secret-key"
OWNER = "agent://conformance/owner"
CANONICAL = {
    "CREATED",
    "SUBMITTED",
    "DELIVERED",
    "ACKNOWLEDGED",
    "IN_PROGRESS",
    "WAITING",
    "COMPLETED",
    "FAILED",
    "CANCELED",
}
THREAD_KEYS = {
    "thread_id",
    "intent_id",
    "status",
    "owner_agent",
    "from_agent",
    "to_agent",
    "created_at",
    "updated_at",
    "timeline",
}
COUNTERS = ("queued_deliveries", "processed_deliveries", "delivered", "pending", "dead_lettered")


class Client:
    """A tiny client shaped like the suite's httpx client (base URL, fixed headers)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers.update(
            {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        )

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 15)
        return self.session.request(method, self.base_url + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    emulator = Emulator(api_key=API_KEY)
    server = EmulatorServer(emulator, host="127.0.0.1", port=0).start()
    c = Client(server.url)
    try:
        yield c
    finally:
        c.session.close()
        server.stop()
        emulator.close()


def is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


def is_thread(thread: Any) -> bool:
    return (
        isinstance(thread, dict)
        and set(thread) >= THREAD_KEYS
        and is_uuid(thread["thread_id"])
        and is_uuid(thread["intent_id"])
        and isinstance(thread["timeline"], list)
        and len(thread["timeline"]) >= 1
    )


def intent_payload(**extra: Any) -> dict[str, Any]:
    return {
        "intent_type": "notify.message.v1",
        "correlation_id": str(uuid.uuid4()),
        "from_agent": "agent://conformance/sender",
        "to_agent": "agent://conformance/receiver",
        "payload": {"text": "hello from conformance"},
        **extra,
    }


def create_intent(client: Client, **extra: Any) -> str:
    response = client.post("/v1/intents", json=intent_payload(**extra))
    assert response.status_code == 200
    intent_id = response.json()["intent_id"]
    assert is_uuid(intent_id)
    return intent_id


def first_owner_thread(client: Client) -> dict[str, Any]:
    response = client.get("/v1/inbox", params={"owner_agent": OWNER})
    assert response.status_code == 200
    threads = response.json()["threads"]
    assert threads, "the owner's inbox must not be empty"
    assert is_uuid(threads[0]["thread_id"])
    return threads[0]


def parse_sse(text: str) -> list[tuple[str | None, str]]:
    frames, name, data = [], None, []
    for line in text.splitlines():
        if line == "":
            if name is not None or data:
                frames.append((name, "\n".join(data)))
            name, data = None, []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            name = line.partition(":")[2].strip()
        elif line.startswith("data:"):
            data.append(line.partition(":")[2].lstrip())
    return frames


# ---------------------------------------------------------------------------- contract suite


def test_01_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert "ok" in response.json()


def test_02_trace_header(client):
    trace_id = str(uuid.uuid4())
    response = client.get("/health", headers={"X-Trace-Id": trace_id})
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert response.headers["x-trace-id"] == trace_id


def test_03_intent_create(client):
    response = client.post("/v1/intents", json=intent_payload())
    assert response.status_code == 200
    data = response.json()
    assert is_uuid(data["intent_id"])
    assert data["status"] in CANONICAL


def test_04_intent_create_idempotency(client):
    key = f"cf-{uuid.uuid4()}"
    payload = intent_payload()
    first = client.post("/v1/intents", json=payload, headers={"Idempotency-Key": key})
    second = client.post("/v1/intents", json=payload, headers={"Idempotency-Key": key})
    assert first.status_code == 200 and second.status_code == 200
    assert is_uuid(first.json()["intent_id"])
    assert second.json()["intent_id"] == first.json()["intent_id"]
    mutated = dict(payload, payload={"text": "different body", "priority": "high"})
    conflict = client.post("/v1/intents", json=mutated, headers={"Idempotency-Key": key})
    assert conflict.status_code == 409


def test_05_intents_get(client):
    intent_id = create_intent(client)
    response = client.get(f"/v1/intents/{intent_id}")
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True
    assert data["intent"]["intent_id"] == intent_id
    assert isinstance(data["intent"]["intent_type"], str)
    assert isinstance(data["intent"]["payload"], dict)
    assert data["intent"]["status"] in CANONICAL


def test_06_intents_events(client):
    intent_id = create_intent(client)
    response = client.get(f"/v1/intents/{intent_id}/events")
    assert response.status_code == 200
    data = response.json()
    events = data["events"]
    assert data["ok"] is True and isinstance(events, list) and len(events) >= 2
    seqs = []
    for event in events:
        assert isinstance(event["seq"], int) and event["seq"] >= 1
        assert event["event_type"].startswith("intent.")
        assert event["status"] in CANONICAL
        seqs.append(event["seq"])
    assert seqs == sorted(seqs)
    later = client.get(f"/v1/intents/{intent_id}/events", params={"since": seqs[0]})
    assert later.status_code == 200
    later_events = later.json()["events"]
    assert later_events and all(e["seq"] > seqs[0] for e in later_events)


def test_07_intents_stream_resume(client):
    intent_id = create_intent(client)
    response = client.get(
        f"/v1/intents/{intent_id}/events/stream", params={"since": 1, "wait_seconds": 2}
    )
    assert response.status_code == 200
    frames = parse_sse(response.text)
    resumed = [
        json.loads(data) for name, data in frames if name and name.startswith("intent.") and data
    ]
    assert any(event["seq"] > 1 for event in resumed)
    assert all(event["seq"] > 1 for event in resumed)
    assert frames[-1][0] == "stream.timeout"


def test_08_intents_resolve(client):
    intent_id = create_intent(client)
    response = client.post(
        f"/v1/intents/{intent_id}/resolve", json={"status": "COMPLETED", "result": {"ok": True}}
    )
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True
    assert data["event"]["event_type"] == "intent.completed"
    assert data["event"]["status"] == "COMPLETED"
    again = client.post(
        f"/v1/intents/{intent_id}/resolve", json={"status": "CANCELED", "reason": "too late"}
    )
    assert again.status_code == 409


def test_09_intent_completion_delivery(client):
    reply_to = "agent://conformance/reply-target"
    intent_id = create_intent(client, reply_to=reply_to)
    response = client.post(
        f"/v1/intents/{intent_id}/resolve", json={"status": "COMPLETED", "result": {"ok": True}}
    )
    assert response.status_code == 200
    delivery = response.json()["completion_delivery"]
    assert delivery["delivered"] is True
    assert delivery["reply_to"] == reply_to
    inbox = client.get("/v1/inbox", params={"owner_agent": reply_to})
    assert inbox.status_code == 200
    assert intent_id in [t["thread_id"] for t in inbox.json()["threads"]]


def test_10_inbox_list(client):
    response = client.get("/v1/inbox", params={"owner_agent": OWNER})
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True
    assert isinstance(data["threads"], list)
    if data["threads"]:
        assert is_thread(data["threads"][0])


def test_11_inbox_thread(client):
    thread_id = first_owner_thread(client)["thread_id"]
    response = client.get(f"/v1/inbox/{thread_id}", params={"owner_agent": OWNER})
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True
    assert is_thread(data["thread"])
    assert data["thread"]["thread_id"] == thread_id


def test_12_inbox_reply(client):
    thread_id = first_owner_thread(client)["thread_id"]
    response = client.post(
        f"/v1/inbox/{thread_id}/reply",
        params={"owner_agent": OWNER},
        json={"message": "ack from conformance"},
    )
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True and is_thread(data["thread"])
    assert data["thread"]["thread_id"] == thread_id


def test_13_inbox_changes_pagination(client):
    response = client.get("/v1/inbox/changes", params={"owner_agent": OWNER})
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True
    assert isinstance(data["changes"], list)
    assert isinstance(data["has_more"], bool)
    assert data["next_cursor"] is None or isinstance(data["next_cursor"], str)
    if data["changes"]:
        first = data["changes"][0]
        assert isinstance(first["cursor"], str) and len(first["cursor"]) >= 3
        assert is_thread(first["thread"])
    if data["has_more"]:
        assert isinstance(data["next_cursor"], str) and len(data["next_cursor"]) >= 3
        follow = client.get(
            "/v1/inbox/changes", params={"owner_agent": OWNER, "cursor": data["next_cursor"]}
        )
        assert follow.status_code == 200
    # the suite's single page says nothing about paging; page through with limit=1 as well
    cursor, seen = None, []
    for _ in range(20):
        params = {"owner_agent": OWNER, "limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/inbox/changes", params=params).json()
        seen += [c["thread"]["thread_id"] for c in page["changes"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert sorted(seen) == sorted(c["thread"]["thread_id"] for c in data["changes"])


def test_14_inbox_delegate(client):
    thread_id = first_owner_thread(client)["thread_id"]
    response = client.post(
        f"/v1/inbox/{thread_id}/delegate",
        params={"owner_agent": OWNER},
        json={"delegate_to": "agent://conformance/delegate", "note": "handoff"},
    )
    assert response.status_code == 200
    assert response.json()["ok"] is True and is_thread(response.json()["thread"])


def test_15_inbox_decision(client):
    thread_id = first_owner_thread(client)["thread_id"]
    response = client.post(
        f"/v1/inbox/{thread_id}/approve",
        params={"owner_agent": OWNER},
        json={"comment": "approved in conformance"},
    )
    assert response.status_code == 200
    assert response.json()["ok"] is True and is_thread(response.json()["thread"])


def test_16_inbox_messages_delete(client):
    thread_id = first_owner_thread(client)["thread_id"]
    response = client.post(
        f"/v1/inbox/{thread_id}/messages/delete",
        params={"owner_agent": OWNER},
        json={"mode": "self", "limit": 1},
    )
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True
    assert data["mode"] in {"self", "both"}
    assert isinstance(data["deleted_count"], int) and data["deleted_count"] >= 0
    assert isinstance(data["message_ids"], list)
    assert is_thread(data["thread"])


def test_17_approvals_decision(client):
    approval_id = str(uuid.uuid4())
    response = client.post(
        f"/v1/approvals/{approval_id}/decision",
        json={"decision": "approve", "comment": "approved in conformance"},
    )
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True
    approval = data["approval"]
    assert is_uuid(approval["approval_id"])
    assert approval["decision"] in {"approve", "reject"}
    assert isinstance(approval["decided_at"], str)
    assert approval["comment"] is None or isinstance(approval["comment"], str)


def test_18_capabilities_get(client):
    data = client.get("/v1/capabilities").json()
    assert data["ok"] is True
    caps = data["capabilities"]
    assert caps and all(isinstance(c, str) and len(c) >= 3 for c in caps)
    types = data["supported_intent_types"]
    assert types and all(t.startswith("intent.") and t.endswith(".v1") for t in types)


def _create_invite(client: Client) -> dict[str, Any]:
    response = client.post(
        "/v1/invites/create",
        json={"owner_agent": OWNER, "recipient_hint": "Conformance receiver", "ttl_seconds": 3600},
    )
    assert response.status_code == 200
    return response.json()


def test_19_invites_create(client):
    data = _create_invite(client)
    assert data["ok"] is True
    assert isinstance(data["token"], str) and len(data["token"]) >= 12
    assert data["invite_url"].startswith("http")
    assert data["status"] in {"pending", "accepted", "expired"}


def test_20_invites_get(client):
    token = _create_invite(client)["token"]
    data = client.get(f"/v1/invites/{token}").json()
    assert data["ok"] is True
    assert data["token"] == token
    assert isinstance(data["owner_agent"], str)
    assert data["status"] in {"pending", "accepted", "expired"}


def test_21_invites_accept(client):
    for _ in range(2):  # the suite uses the same nick on every run
        token = _create_invite(client)["token"]
        response = client.post(
            f"/v1/invites/{token}/accept",
            json={"nick": "@Invite.Conformance.User", "display_name": "Invite Conformance User"},
        )
        assert response.status_code == 200
        data = response.json()
        assert data["ok"] is True
        assert data["token"] == token
        assert data["status"] == "accepted"
        assert is_uuid(data["user_id"])
        assert isinstance(data["owner_agent"], str)
        assert isinstance(data["public_address"], str)
        assert data["registry_bind_status"] in {
            "propagated",
            "failed",
            "disabled",
            "skipped_no_hint",
        }


def _create_upload(client: Client) -> dict[str, Any]:
    response = client.post(
        "/v1/media/create-upload",
        json={
            "owner_agent": OWNER,
            "filename": "contract.pdf",
            "mime_type": "application/pdf",
            "size_bytes": 12345,
        },
    )
    assert response.status_code == 200
    return response.json()


def test_22_media_create_upload(client):
    data = _create_upload(client)
    assert data["ok"] is True
    assert is_uuid(data["upload_id"])
    assert data["status"] == "pending"
    assert isinstance(data["upload_url"], str)


def test_23_media_get(client):
    upload_id = _create_upload(client)["upload_id"]
    data = client.get(f"/v1/media/{upload_id}").json()
    assert data["ok"] is True
    assert data["upload"]["upload_id"] == upload_id
    assert data["upload"]["status"] in {"pending", "ready", "expired"}


def test_24_media_finalize_upload(client):
    upload_id = _create_upload(client)["upload_id"]
    response = client.post(
        "/v1/media/finalize-upload", json={"upload_id": upload_id, "size_bytes": 12345}
    )
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True
    assert data["upload_id"] == upload_id
    assert data["status"] == "ready"
    assert isinstance(data["finalized_at"], str)


SCHEMA_BODY = {
    "semantic_type": "axme.calendar.schedule.v1",
    "schema_json": {
        "type": "object",
        "required": ["date"],
        "properties": {"date": {"type": "string"}},
    },
    "compatibility_mode": "strict",
}


def test_25_schemas_upsert(client):
    response = client.post("/v1/schemas", json=SCHEMA_BODY)
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True
    assert data["schema"]["semantic_type"] == SCHEMA_BODY["semantic_type"]
    assert data["schema"]["compatibility_mode"] in {"strict", "backward", "warn"}
    assert (
        isinstance(data["schema"]["schema_hash"], str) and len(data["schema"]["schema_hash"]) == 64
    )


def test_26_schemas_get(client):
    assert client.post("/v1/schemas", json=SCHEMA_BODY).status_code == 200
    data = client.get("/v1/schemas/axme.calendar.schedule.v1").json()
    assert data["ok"] is True
    assert data["schema"]["semantic_type"] == "axme.calendar.schedule.v1"
    assert isinstance(data["schema"]["schema_json"], dict)


def _fresh_nick() -> str:
    return f"@conformance_{uuid.uuid4().hex[:10]}"


def _register(client: Client) -> dict[str, Any]:
    response = client.post("/v1/users/register-nick", json={"nick": _fresh_nick()})
    assert response.status_code == 200
    return response.json()


def test_27_users_check_nick(client):
    nick = _fresh_nick()
    data = client.get("/v1/users/check-nick", params={"nick": nick}).json()
    assert data["ok"] is True
    assert data["nick"] == nick
    assert isinstance(data["normalized_nick"], str)
    assert isinstance(data["public_address"], str)
    assert isinstance(data["available"], bool)


def test_28_users_register_nick(client):
    data = _register(client)
    assert data["ok"] is True
    assert is_uuid(data["user_id"])
    for key in ("owner_agent", "nick", "public_address", "created_at"):
        assert isinstance(data[key], str)


def test_29_users_rename_nick(client):
    owner_agent = _register(client)["owner_agent"]
    new_nick = _fresh_nick()
    response = client.post(
        "/v1/users/rename-nick", json={"owner_agent": owner_agent, "nick": new_nick}
    )
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True
    assert data["owner_agent"] == owner_agent
    assert data["nick"] == new_nick
    assert isinstance(data["public_address"], str)
    assert isinstance(data["renamed_at"], str)


def test_30_users_profile_get(client):
    owner_agent = _register(client)["owner_agent"]
    data = client.get("/v1/users/profile", params={"owner_agent": owner_agent}).json()
    assert data["ok"] is True
    assert data["owner_agent"] == owner_agent
    assert isinstance(data["normalized_nick"], str)
    assert isinstance(data["updated_at"], str)


def test_31_users_profile_update(client):
    owner_agent = _register(client)["owner_agent"]
    response = client.post(
        "/v1/users/profile/update",
        json={"owner_agent": owner_agent, "display_name": "Conformance User Updated"},
    )
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True
    assert data["owner_agent"] == owner_agent
    assert data["display_name"] == "Conformance User Updated"
    assert isinstance(data["updated_at"], str)


SUB_KEYS = {
    "subscription_id",
    "owner_agent",
    "callback_url",
    "event_types",
    "active",
    "description",
    "created_at",
    "updated_at",
    "revoked_at",
    "secret_hint",
}


def test_32_webhooks_subscriptions(client):
    response = client.post(
        "/v1/webhooks/subscriptions",
        json={
            "callback_url": "https://example.com/axme/conformance",
            "event_types": ["inbox.thread_created"],
            "secret": "conformance-secret-123",
            "description": "conformance",
        },
    )
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True
    sub = data["subscription"]
    assert set(sub) >= SUB_KEYS and is_uuid(sub["subscription_id"])
    assert len(sub["event_types"]) >= 1
    listed = client.get("/v1/webhooks/subscriptions", params={"owner_agent": OWNER}).json()
    assert listed["ok"] is True and isinstance(listed["subscriptions"], list)
    if listed["subscriptions"]:
        assert set(listed["subscriptions"][0]) >= SUB_KEYS
    deleted = client.delete(
        f"/v1/webhooks/subscriptions/{sub['subscription_id']}", params={"owner_agent": OWNER}
    )
    assert deleted.status_code == 200
    assert deleted.json()["ok"] is True
    assert deleted.json()["subscription_id"] == sub["subscription_id"]
    assert isinstance(deleted.json()["revoked_at"], str)


def test_33_webhooks_events(client):
    response = client.post(
        "/v1/webhooks/events",
        params={"owner_agent": OWNER},
        json={
            "event_type": "inbox.thread_created",
            "source": "conformance",
            "payload": {"thread_id": str(uuid.uuid4())},
        },
    )
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True and is_uuid(data["event_id"])
    for counter in COUNTERS:
        assert isinstance(data[counter], int) and data[counter] >= 0
    replay = client.post(
        f"/v1/webhooks/events/{data['event_id']}/replay", params={"owner_agent": OWNER}
    )
    assert replay.status_code == 200
    replayed = replay.json()
    assert replayed["ok"] is True
    assert replayed["event_id"] == data["event_id"]
    assert isinstance(replayed["replayed_at"], str)
    for counter in COUNTERS:
        assert isinstance(replayed[counter], int) and replayed[counter] >= 0


# ---------------------------------------------------------------------------- MCP suite


def mcp(client: Client, method: str, params: dict[str, Any]) -> dict[str, Any]:
    rpc_id = str(uuid.uuid4())
    response = client.post(
        "/mcp", json={"jsonrpc": "2.0", "id": rpc_id, "method": method, "params": params}
    )
    assert response.status_code == 200
    data = response.json()
    assert "error" not in data, data.get("error")
    assert data["id"] == rpc_id
    assert isinstance(data["result"], dict)
    return data["result"]


def test_34_mcp_initialize(client):
    result = mcp(client, "initialize", {"protocolVersion": "2024-11-05"})
    assert isinstance(result["protocolVersion"], str)


def test_35_mcp_tools_list(client):
    tools = mcp(client, "tools/list", {})["tools"]
    assert isinstance(tools, list)
    if tools:
        assert isinstance(tools[0], dict) and isinstance(tools[0]["name"], str)


def test_36_mcp_tools_call(client):
    result = mcp(
        client, "tools/call", {"name": "axme.check_nick", "arguments": {"nick": "@conformance_mcp"}}
    )
    assert isinstance(result["tool"], str)
    assert isinstance(result["status"], str)


def test_inbox_sequence_survives_a_second_suite_run(client):
    """Running the inbox checks again on the same gateway still passes (reference 7.5)."""
    for check in (
        test_10_inbox_list,
        test_11_inbox_thread,
        test_12_inbox_reply,
        test_13_inbox_changes_pagination,
        test_14_inbox_delegate,
        test_15_inbox_decision,
        test_16_inbox_messages_delete,
    ):
        check(client)


def test_media_bytes_round_trip_over_http(client):
    """Beyond the suite: upload real bytes to the returned URL, finalize, download them."""
    import hashlib

    content = b"%PDF-1.7 emulator test"
    created = client.post(
        "/v1/media/create-upload",
        json={
            "owner_agent": OWNER,
            "filename": "a.pdf",
            "mime_type": "application/pdf",
            "size_bytes": len(content),
        },
    ).json()
    assert created["upload_url"].startswith(client.base_url)
    put = client.session.put(created["upload_url"], data=content, timeout=15)
    assert put.status_code == 200
    digest = hashlib.sha256(content).hexdigest()
    bad = client.post(
        "/v1/media/finalize-upload",
        json={"upload_id": created["upload_id"], "size_bytes": len(content) + 1},
    )
    assert bad.status_code == 409
    done = client.post(
        "/v1/media/finalize-upload",
        json={"upload_id": created["upload_id"], "size_bytes": len(content), "sha256": digest},
    )
    assert done.status_code == 200 and done.json()["sha256"] == digest
    upload = client.get(f"/v1/media/{created['upload_id']}").json()["upload"]
    download = client.session.get(upload["download_url"], timeout=15)
    assert download.status_code == 200 and download.content == content
