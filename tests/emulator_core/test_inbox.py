"""Inbox threads, the change feed, thread actions and approval decisions."""

from __future__ import annotations

import uuid

import pytest

from .conftest import assert_schema, call, intent_body

RECEIVER = "agent://tests/receiver"
BOSS = "agent://tests/boss"


def _create(gw, **overrides):
    return gw.create_intent(intent_body(**overrides))["intent_id"]


def test_intent_creates_a_receiver_thread(gw):
    iid = _create(gw)
    thread = call(gw, "GET", f"/v1/inbox/{iid}", query={"owner_agent": RECEIVER}).body["thread"]
    assert thread["thread_id"] == thread["intent_id"] == iid
    assert thread["status"] == "pending"
    assert thread["owner_agent"] == thread["to_agent"] == RECEIVER
    assert [e["event_type"] for e in thread["timeline"]] == ["intent_received"]
    assert thread["timeline"][0]["actor"] == "system"
    assert thread["timeline"][0]["details"] == {"intent_type": "notify.message.v1"}
    gw.resolve(iid, "COMPLETED")
    assert gw.thread(iid, RECEIVER)["status"] == "done"


def test_empty_inbox_is_seeded_once(gw):
    first = call(gw, "GET", "/v1/inbox", query={"owner_agent": "agent://tests/nobody"}).body
    assert len(first["threads"]) == 1
    seeded = first["threads"][0]
    assert seeded["kind"] == "seed" and seeded["status"] == "active"
    again = call(gw, "GET", "/v1/inbox", query={"owner_agent": "agent://tests/nobody"}).body
    assert [t["thread_id"] for t in again["threads"]] == [seeded["thread_id"]]
    # an owner that already has threads gets no seed
    iid = _create(gw)
    listed = call(gw, "GET", "/v1/inbox", query={"owner_agent": RECEIVER}).body["threads"]
    assert [t["thread_id"] for t in listed] == [iid]


def test_seeding_can_be_switched_off(clock):
    from django_axme.emulator.core import Gateway

    gw = Gateway(None, clock=clock, seed_empty_inboxes=False)
    assert call(gw, "GET", "/v1/inbox", query={"owner_agent": "agent://x/y"}).body["threads"] == []


def test_inbox_status_filter_and_owner_scope(gw, clock):
    a, b = _create(gw), _create(gw)
    gw.resolve(b, "COMPLETED")
    q = {"owner_agent": RECEIVER}
    pending = call(gw, "GET", "/v1/inbox", query=q | {"status": "pending"}).body["threads"]
    assert [t["thread_id"] for t in pending] == [a]
    done = call(gw, "GET", "/v1/inbox", query=q | {"status": "done"}).body["threads"]
    assert [t["thread_id"] for t in done] == [b]
    assert call(gw, "GET", "/v1/inbox", query=q | {"status": "open"}).status == 422
    assert call(gw, "GET", f"/v1/inbox/{a}", query={"owner_agent": BOSS}).status == 404
    mismatch = call(gw, "GET", "/v1/inbox", query=q, headers={"x-owner-agent": BOSS})
    assert mismatch.status == 400 and "owner_agent" in mismatch.body["detail"]
    header = call(gw, "GET", f"/v1/inbox/{a}", headers={"x-owner-agent": RECEIVER})
    assert header.status == 200


def test_changes_pagination_covers_every_thread_once(gw):
    ids = [_create(gw) for _ in range(5)]
    q = {"owner_agent": RECEIVER, "limit": 2}
    pages, cursor = [], None
    while True:
        answer = call(
            gw, "GET", "/v1/inbox/changes", query=q | ({"cursor": cursor} if cursor else {})
        )
        assert answer.status == 200
        assert_schema("api.inbox.changes.response", answer.body)
        pages.append(answer.body)
        cursor = answer.body["next_cursor"]
        if not answer.body["has_more"]:
            break
        assert isinstance(cursor, str) and len(cursor) >= 3
    assert [len(p["changes"]) for p in pages] == [2, 2, 1]
    seen = [c["thread"]["thread_id"] for p in pages for c in p["changes"]]
    assert seen == ids
    # nothing new: an empty page that keeps the cursor
    empty = call(gw, "GET", "/v1/inbox/changes", query=q | {"cursor": cursor}).body
    assert empty["changes"] == [] and empty["has_more"] is False
    assert empty["next_cursor"] == cursor
    # an update moves the thread to the end of the feed, once
    call(gw, "POST", f"/v1/inbox/{ids[1]}/reply", {"message": "x"}, query={"owner_agent": RECEIVER})
    call(gw, "POST", f"/v1/inbox/{ids[1]}/reply", {"message": "y"}, query={"owner_agent": RECEIVER})
    later = call(gw, "GET", "/v1/inbox/changes", query=q | {"cursor": cursor}).body
    assert [c["thread"]["thread_id"] for c in later["changes"]] == [ids[1]]
    assert len(later["changes"][0]["thread"]["timeline"]) == 3


def test_bad_cursor_and_limit(gw):
    q = {"owner_agent": RECEIVER}
    bad = call(gw, "GET", "/v1/inbox/changes", query=q | {"cursor": "garbage"})
    assert bad.status == 422 and bad.body["error"]["field"] == "cursor"
    assert call(gw, "GET", "/v1/inbox/changes", query=q | {"limit": 0}).status == 422
    assert call(gw, "GET", "/v1/inbox/changes", query=q | {"limit": "x"}).status == 422


def test_reply_delegate_and_delete(gw):
    iid = _create(gw)
    q = {"owner_agent": RECEIVER}
    reply = call(gw, "POST", f"/v1/inbox/{iid}/reply", {"message": "on it"}, query=q).body
    assert reply["thread"]["status"] == "active"
    entry = reply["thread"]["timeline"][-1]
    assert (entry["event_type"], entry["actor"], entry["details"]) == (
        "message.sent",
        RECEIVER,
        {"message": "on it"},
    )
    delegated = call(
        gw,
        "POST",
        f"/v1/inbox/{iid}/delegate",
        {"delegate_to": "agent://tests/other", "note": "yours"},
        query=q,
    ).body
    assert delegated["thread"]["delegated_to"] == "agent://tests/other"
    call(gw, "POST", f"/v1/inbox/{iid}/reply", {"message": "second"}, query=q)
    deleted = call(
        gw, "POST", f"/v1/inbox/{iid}/messages/delete", {"mode": "self", "limit": 1}, query=q
    ).body
    assert deleted["deleted_count"] == 1
    remaining = [e.get("details", {}).get("message") for e in deleted["thread"]["timeline"]]
    assert "second" not in remaining and "on it" in remaining
    by_id = call(
        gw,
        "POST",
        f"/v1/inbox/{iid}/messages/delete",
        {"mode": "both", "message_ids": [entry["message_id"]]},
        query=q,
    ).body
    assert by_id["message_ids"] == [entry["message_id"]]
    # system entries are kept: at least one entry always remains
    everything = call(
        gw, "POST", f"/v1/inbox/{iid}/messages/delete", {"mode": "both", "limit": 100}, query=q
    ).body
    assert everything["deleted_count"] == 0 and len(everything["thread"]["timeline"]) >= 1


def test_actions_validate_and_respect_done_threads(gw):
    iid = _create(gw)
    q = {"owner_agent": RECEIVER}
    missing = call(gw, "POST", f"/v1/inbox/{iid}/reply", {}, query=q)
    assert missing.status == 422 and missing.body["error"]["field"] == "message"
    assert (
        call(gw, "POST", f"/v1/inbox/{iid}/messages/delete", {"mode": "all"}, query=q).status == 422
    )
    assert call(gw, "POST", f"/v1/inbox/{uuid.uuid4()}/reply", {"message": "x"}).status == 404
    gw.resolve(iid, "COMPLETED")
    assert call(gw, "POST", f"/v1/inbox/{iid}/reply", {"message": "late"}, query=q).status == 409
    assert call(gw, "POST", f"/v1/inbox/{iid}/delegate", {}, query=q).status == 409


def test_human_task_decision_through_the_inbox(gw):
    decisions = []
    gw.add_listener(
        lambda kind, data: decisions.append(data) if kind == "thread.decision" else None
    )
    iid = _create(gw)
    gw.open_human_task(iid, owner_agent=BOSS, title="Ship it?")
    inbox = call(gw, "GET", "/v1/inbox", query={"owner_agent": BOSS}).body["threads"]
    assert [t["thread_id"] for t in inbox] == [iid] and inbox[0]["status"] == "pending"
    answer = call(
        gw, "POST", f"/v1/inbox/{iid}/approve", {"comment": "yes"}, query={"owner_agent": BOSS}
    )
    assert answer.status == 200
    thread = answer.body["thread"]
    assert thread["status"] == "done"
    assert thread["decision"]["decision"] == "approve" and thread["decision"]["comment"] == "yes"
    assert decisions == [
        {
            "thread_id": iid,
            "intent_id": iid,
            "decision": "approve",
            "comment": "yes",
            "owner_agent": BOSS,
        }
    ]
    # same decision again: unchanged, no second notification; the other one: 409
    again = call(
        gw, "POST", f"/v1/inbox/{iid}/approve", {"comment": "yes"}, query={"owner_agent": BOSS}
    )
    assert again.status == 200 and len(decisions) == 1
    assert (
        call(gw, "POST", f"/v1/inbox/{iid}/reject", {}, query={"owner_agent": BOSS}).status == 409
    )
    assert call(gw, "POST", f"/v1/approvals/{iid}/decision", {"decision": "reject"}).status == 409
    same = call(gw, "POST", f"/v1/approvals/{iid}/decision", {"decision": "approve"})
    assert same.status == 200 and same.body["approval"]["comment"] == "yes"
    # the receiver's own thread is separate and still open
    assert gw.thread(iid, RECEIVER)["status"] == "pending"


def test_approval_decision_on_a_known_intent_decides_its_task(gw):
    decisions = []
    gw.add_listener(
        lambda kind, data: decisions.append(data) if kind == "thread.decision" else None
    )
    iid = _create(gw)
    gw.open_human_task(iid, owner_agent=BOSS, title="Refund?")
    answer = call(
        gw, "POST", f"/v1/approvals/{iid}/decision", {"decision": "reject", "comment": "too much"}
    )
    assert answer.status == 200
    assert answer.body["approval"]["approval_id"] == iid
    assert decisions and decisions[0]["decision"] == "reject"
    assert decisions[0]["owner_agent"] == BOSS
    assert gw.thread(iid, BOSS)["status"] == "done"


def test_approvals_accept_unknown_ids_and_refuse_redecisions(gw):
    approval_id = str(uuid.uuid4())
    first = call(gw, "POST", f"/v1/approvals/{approval_id}/decision", {"decision": "approve"})
    assert first.status == 200
    assert first.body["approval"]["comment"] is None
    assert (
        call(gw, "POST", f"/v1/approvals/{approval_id}/decision", {"decision": "approve"}).body
        == first.body
    )
    conflict = call(gw, "POST", f"/v1/approvals/{approval_id}/decision", {"decision": "reject"})
    assert conflict.status == 409
    bad = call(gw, "POST", f"/v1/approvals/{uuid.uuid4()}/decision", {"decision": "approved"})
    assert bad.status == 422 and bad.body["error"]["field"] == "decision"
    assert (
        call(gw, "POST", "/v1/approvals/not-a-uuid/decision", {"decision": "approve"}).status == 422
    )


@pytest.mark.parametrize("reply_to", ["agent://tests/reply"])
def test_completion_delivery(gw, reply_to):
    iid = _create(gw, reply_to=reply_to)
    answer = call(
        gw, "POST", f"/v1/intents/{iid}/resolve", {"status": "COMPLETED", "result": {"ok": True}}
    ).body
    delivery = answer["completion_delivery"]
    assert delivery["delivered"] is True and delivery["reply_to"] == reply_to
    assert delivery["thread_id"] == iid
    assert delivery["completion"] == {
        "type": "intent.completed",
        "intent_id": iid,
        "status": "COMPLETED",
    }
    thread = call(gw, "GET", f"/v1/inbox/{iid}", query={"owner_agent": reply_to}).body["thread"]
    assert thread["status"] == "done"
    assert thread["timeline"][-1]["event_type"] == "intent_completion_delivered"
    assert thread["timeline"][-1]["message_id"] == delivery["message_id"]
