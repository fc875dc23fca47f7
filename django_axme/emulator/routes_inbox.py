"""Inbox threads, their change feed, thread actions and approval decisions (reference 3.3, 3.4, 7).

Threads are keyed by ``(owner_agent, thread_id)``: the receiver's thread of an intent, the
approver's human-task thread and the ``reply_to`` completion thread all use
``thread_id == intent_id``. Human-task threads accept one decision (a different second decision
is a 409; repeating the same one returns the thread unchanged) and are then ``done``; other
threads stay ``active`` and actionable, as the conformance suite needs. Functions expect the
gateway lock to be held.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from .routes_table import RequestContext, RouteResult, route
from .state_errors import EmulatorConflict, EmulatorNotFound, EmulatorValidationError
from .state_lifecycle import TERMINAL_STATUSES
from .state_util import is_uuid, new_id
from .state_validation import Fields, QueryFields

if TYPE_CHECKING:
    from .core import Gateway

THREAD_STATUSES = ("pending", "active", "done")
SEED_FROM_AGENT = "agent://emulator/gateway"
_PUBLIC_KEYS = (
    "thread_id",
    "intent_id",
    "status",
    "owner_agent",
    "from_agent",
    "to_agent",
    "created_at",
    "updated_at",
    "timeline",
    "human_task",
    "decision",
    "delegated_to",
    "kind",
)
_CURSOR_PREFIX = "chg_"


# ---------------------------------------------------------------------------- thread store


def thread_view(thread: dict[str, Any]) -> dict[str, Any]:
    """The public thread object: the keys the schema requires plus ``human_task``,
    ``decision`` ({decision, comment, decided_at} or null), ``delegated_to`` and ``kind``
    (``intent``, ``human_task``, ``completion`` or ``seed``); a deep copy."""
    view = {k: thread.get(k) for k in _PUBLIC_KEYS}
    view["timeline"] = [e for e in thread["timeline"] if not e.get("_hidden")]
    return json.loads(json.dumps(view))


def _timeline_entry(
    gw: Gateway, event_type: str, actor: str, details: dict[str, Any], *, message: bool = False
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "event_id": new_id(),
        "event_type": event_type,
        "actor": actor,
        "at": gw.now_ts(),
        "details": details,
    }
    if message:
        entry["message_id"] = entry["event_id"]
    return entry


def _touch(gw: Gateway, thread: dict[str, Any], event_type: str = "inbox.thread_updated") -> None:
    thread["updated_at"] = gw.now_ts()
    gw.change_seq += 1
    changes = gw.thread_changes.setdefault(thread["owner_agent"], OrderedDict())
    changes[thread["thread_id"]] = gw.change_seq
    changes.move_to_end(thread["thread_id"])
    if gw.webhooks is not None:  # outbound webhooks (emulator/webhook_delivery.py)
        gw.notify(
            "inbox.thread",
            {
                "event_type": event_type,
                "owner_agent": thread["owner_agent"],
                "thread": {
                    k: thread.get(k)
                    for k in ("thread_id", "intent_id", "owner_agent", "status", "updated_at")
                },
            },
        )


def put_thread(
    gw: Gateway,
    *,
    thread_id: str,
    intent_id: str,
    owner_agent: str,
    from_agent: str,
    to_agent: str,
    status: str,
    timeline: list[dict[str, Any]],
    kind: str,
    human_task: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Create a thread (or return the existing one for the same owner and id)."""
    key = (owner_agent, thread_id)
    existing = gw.threads.get(key)
    if existing is not None:
        return existing
    now = gw.now_ts()
    thread = {
        "thread_id": thread_id,
        "intent_id": intent_id,
        "status": status,
        "owner_agent": owner_agent,
        "from_agent": from_agent,
        "to_agent": to_agent,
        "created_at": now,
        "updated_at": now,
        "timeline": timeline,
        "human_task": human_task,
        "decision": None,
        "delegated_to": None,
        "kind": kind,
    }
    gw.threads[key] = thread
    gw.thread_owners.setdefault(thread_id, []).append(owner_agent)
    _touch(gw, thread, "inbox.thread_created")
    return thread


def find_thread(gw: Gateway, thread_id: str, owner_agent: str | None) -> dict[str, Any]:
    """The thread for ``(owner, id)``; without an owner, the open human-task thread with that
    id if any, else the most recently updated one. 404 when unknown or outside the owner."""
    if owner_agent is not None:
        thread = gw.threads.get((owner_agent, thread_id))
        if thread is None:
            raise EmulatorNotFound(
                f"thread not found for owner {owner_agent}: {thread_id}", field="thread_id"
            )
        return thread
    owners = gw.thread_owners.get(thread_id) or []
    candidates = [gw.threads[(o, thread_id)] for o in owners]
    if not candidates:
        raise EmulatorNotFound(f"thread not found: {thread_id}", field="thread_id")
    open_tasks = [t for t in candidates if t["kind"] == "human_task" and t["status"] != "done"]
    if open_tasks:
        return open_tasks[-1]
    return max(candidates, key=lambda t: t["updated_at"])


def seed_thread(gw: Gateway, owner_agent: str) -> None:
    """Give an owner with no threads one welcome thread, once (reference 7.5)."""
    if not gw.seed_empty_inboxes or owner_agent in gw.seeded_owners:
        return
    gw.seeded_owners.add(owner_agent)
    if gw.thread_changes.get(owner_agent):
        return
    thread_id = new_id()
    put_thread(
        gw,
        thread_id=thread_id,
        intent_id=thread_id,
        owner_agent=owner_agent,
        from_agent=SEED_FROM_AGENT,
        to_agent=owner_agent,
        status="active",
        kind="seed",
        timeline=[
            _timeline_entry(
                gw, "intent_received", "system", {"intent_type": "emulator.welcome.v1"}
            ),
            _timeline_entry(
                gw,
                "message.sent",
                "gateway",
                {"message": "Welcome to the AXME emulator inbox."},
                message=True,
            ),
        ],
    )


def create_intent_thread(gw: Gateway, rec: dict[str, Any]) -> None:
    """The receiver's thread of a new intent (``pending``, ``intent_received`` entry)."""
    put_thread(
        gw,
        thread_id=rec["intent_id"],
        intent_id=rec["intent_id"],
        owner_agent=rec["to_agent"],
        from_agent=rec["from_agent"],
        to_agent=rec["to_agent"],
        status="pending",
        kind="intent",
        human_task=rec.get("human_task"),
        timeline=[
            _timeline_entry(gw, "intent_received", "system", {"intent_type": rec["intent_type"]})
        ],
    )


def close_intent_threads(gw: Gateway, rec: dict[str, Any], event: dict[str, Any]) -> None:
    """Mark every open thread of the intent ``done`` when the intent ends."""
    for owner in list(gw.thread_owners.get(rec["intent_id"], [])):
        thread = gw.threads[(owner, rec["intent_id"])]
        if thread["status"] == "done" or thread["kind"] == "seed":
            continue
        thread["status"] = "done"
        thread["timeline"].append(
            _timeline_entry(
                gw,
                "intent_" + event["status"].lower(),
                "gateway",
                {"status": event["status"], "seq": event["seq"]},
            )
        )
        _touch(gw, thread)


def deliver_completion(gw: Gateway, rec: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """Post the completion to ``reply_to``'s inbox; returns the ``completion_delivery`` object."""
    reply_to = rec["reply_to"]
    message_id = new_id()
    completion = {
        "type": event["event_type"],
        "intent_id": rec["intent_id"],
        "status": event["status"],
    }
    entry = _timeline_entry(
        gw,
        "intent_completion_delivered",
        "gateway",
        {"intent_id": rec["intent_id"], "completion": completion},
    )
    entry["message_id"] = message_id
    thread = put_thread(
        gw,
        thread_id=rec["intent_id"],
        intent_id=rec["intent_id"],
        owner_agent=reply_to,
        from_agent=rec["to_agent"],
        to_agent=reply_to,
        status="done",
        kind="completion",
        timeline=[entry],
    )
    if entry not in thread["timeline"]:
        thread["timeline"].append(entry)
        thread["status"] = "done"
        _touch(gw, thread)
    return {
        "delivered": True,
        "reply_to": reply_to,
        "thread_id": rec["intent_id"],
        "message_id": message_id,
        "completion": completion,
    }


def open_human_task(
    gw: Gateway,
    intent_id: str,
    *,
    owner_agent: str,
    title: str,
    description: str | None,
    allowed_outcomes: list[str] | None,
    required_comment: bool,
    task_type: str,
) -> dict[str, Any]:
    """WAITING/WAITING_FOR_HUMAN plus a ``pending`` human-task thread for ``owner_agent``."""
    from . import routes_intents

    rec = routes_intents.get_record(gw, intent_id)
    task: dict[str, Any] = {"title": title, "task_type": task_type}
    if description is not None:
        task["description"] = description
    if allowed_outcomes:
        task["allowed_outcomes"] = list(allowed_outcomes)
    task["required_comment"] = bool(required_comment)
    routes_intents._validate_human_task(task)
    if not isinstance(owner_agent, str) or len(owner_agent) < 3:
        raise EmulatorValidationError(
            "owner_agent: must be at least 3 characters", field="owner_agent"
        )
    if rec["status"] in TERMINAL_STATUSES:
        raise EmulatorConflict(
            f"intent already in terminal state {rec['status']}", code="intent_terminal"
        )
    if not (rec["status"] == "WAITING" and rec["waiting_reason"] == "WAITING_FOR_HUMAN"):
        routes_intents.transition(
            gw,
            intent_id,
            "WAITING",
            waiting_reason="WAITING_FOR_HUMAN",
            actor="gateway",
            details={"human_task": task, "owner_agent": owner_agent},
        )
    rec["open_task"] = {"owner_agent": owner_agent, "title": title, "human_task": task}
    if rec.get("human_task") is None:
        rec["human_task"] = task
    assigned = _timeline_entry(
        gw, "human_task_assigned", "gateway", {"title": title, "task_type": task_type}
    )
    thread = gw.threads.get((owner_agent, intent_id))
    if thread is None:
        thread = put_thread(
            gw,
            thread_id=intent_id,
            intent_id=intent_id,
            owner_agent=owner_agent,
            from_agent=rec["from_agent"],
            to_agent=owner_agent,
            status="pending",
            kind="human_task",
            human_task=task,
            timeline=[
                _timeline_entry(
                    gw, "intent_received", "system", {"intent_type": rec["intent_type"]}
                ),
                assigned,
            ],
        )
    else:
        thread.update(status="pending", kind="human_task", human_task=task, decision=None)
        thread["timeline"].append(assigned)
        _touch(gw, thread)
    gw.approvals.pop(intent_id, None)
    return thread_view(thread)


# ---------------------------------------------------------------------------- decisions


def record_approval(
    gw: Gateway, approval_id: str, decision: str, comment: str | None
) -> tuple[dict[str, Any], bool]:
    """Upsert the approval; returns ``(approval, created)``; 409 on a different decision."""
    existing = gw.approvals.get(approval_id)
    if existing is not None:
        if existing["decision"] != decision:
            raise EmulatorConflict(
                f"approval {approval_id} was already decided: {existing['decision']}",
                code="already_decided",
                field="decision",
            )
        return existing, False
    approval = {
        "approval_id": approval_id,
        "decision": decision,
        "comment": comment,
        "decided_at": gw.now_ts(),
    }
    gw.approvals[approval_id] = approval
    return approval, True


def decide_thread(
    gw: Gateway, thread: dict[str, Any], decision: str, comment: str | None, actor: str
) -> None:
    """Record an approve/reject on a thread and tell listeners (``thread.decision``).

    Human-task threads take one decision and become ``done``; other threads keep ``active``.
    """
    if thread["kind"] == "human_task":
        if thread["status"] == "done" and thread["decision"] is None:
            raise EmulatorConflict(f"thread {thread['thread_id']} is closed", code="thread_closed")
        approval, created = record_approval(gw, thread["thread_id"], decision, comment)
        if not created:
            return
        thread["decision"] = dict(approval)
        thread["status"] = "done"
    else:
        thread["decision"] = {"decision": decision, "comment": comment, "decided_at": gw.now_ts()}
        if thread["status"] == "pending":
            thread["status"] = "active"
    thread["timeline"].append(
        _timeline_entry(
            gw,
            "decision.approved" if decision == "approve" else "decision.rejected",
            actor,
            {"decision": decision, "comment": comment},
        )
    )
    _touch(gw, thread)
    gw.notify(
        "thread.decision",
        {
            "thread_id": thread["thread_id"],
            "intent_id": thread["intent_id"],
            "decision": decision,
            "comment": comment,
            "owner_agent": thread["owner_agent"],
        },
    )


def _require_open(thread: dict[str, Any], action: str) -> None:
    if thread["status"] == "done":
        raise EmulatorConflict(
            f"cannot {action} thread {thread['thread_id']}: it is done", code="thread_closed"
        )


# ---------------------------------------------------------------------------- routes


@route("GET", "/v1/inbox")
def list_inbox_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    status = QueryFields(ctx.query).str("status")
    if status is not None and status not in THREAD_STATUSES:
        raise EmulatorValidationError(
            f"status: must be one of {', '.join(THREAD_STATUSES)}", field="status"
        )
    owner = ctx.owner_agent
    if owner is not None:
        seed_thread(gw, owner)
        keys = [(owner, tid) for tid in gw.thread_changes.get(owner, {})]
    else:
        keys = list(gw.threads)
    threads = [thread_view(gw.threads[k]) for k in keys]
    threads.sort(key=lambda t: t["updated_at"], reverse=True)
    if status is not None:
        threads = [t for t in threads if t["status"] == status]
    return 200, {"ok": True, "threads": threads}


def _parse_cursor(raw: str | None) -> int:
    if raw is None:
        return 0
    if raw.startswith(_CURSOR_PREFIX) and raw[len(_CURSOR_PREFIX) :].isdigit():
        return int(raw[len(_CURSOR_PREFIX) :])
    raise EmulatorValidationError(
        f"cursor: not a cursor returned by this API: {raw!r}", field="cursor"
    )


def _cursor(seq: int) -> str:
    return f"{_CURSOR_PREFIX}{seq:012d}"


@route("GET", "/v1/inbox/changes")
def inbox_changes_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    """Threads changed after ``cursor``, oldest change first; a thread appears once per page
    (its latest change). ``next_cursor`` is the last change's cursor (or the given cursor
    when the page is empty); ``has_more`` says whether another page is waiting."""
    q = QueryFields(ctx.query)
    raw_cursor = q.str("cursor")
    after = _parse_cursor(raw_cursor)
    limit = q.int("limit", default=50, minimum=1, maximum=500) or 50
    owner = ctx.owner_agent
    if owner is not None:
        seed_thread(gw, owner)
        entries = [(seq, (owner, tid)) for tid, seq in gw.thread_changes.get(owner, {}).items()]
    else:
        entries = sorted(
            (seq, (o, tid))
            for o, changes in gw.thread_changes.items()
            for tid, seq in changes.items()
        )
    pending = [(seq, key) for seq, key in entries if seq > after]
    page = pending[:limit]
    changes = [
        {"cursor": _cursor(seq), "thread": thread_view(gw.threads[key])} for seq, key in page
    ]
    has_more = len(pending) > limit
    next_cursor = changes[-1]["cursor"] if changes else raw_cursor
    return 200, {"ok": True, "changes": changes, "next_cursor": next_cursor, "has_more": has_more}


@route("GET", "/v1/inbox/{thread_id}")
def get_thread_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    return 200, {
        "ok": True,
        "thread": thread_view(find_thread(gw, ctx.params["thread_id"], ctx.owner_agent)),
    }


@route("POST", "/v1/inbox/{thread_id}/reply")
def reply_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    message = Fields(ctx.body).required_str("message", min_len=1, max_len=131072)
    thread = find_thread(gw, ctx.params["thread_id"], ctx.owner_agent)
    _require_open(thread, "reply to")
    thread["timeline"].append(
        _timeline_entry(
            gw,
            "message.sent",
            ctx.owner_agent or thread["owner_agent"],
            {"message": message},
            message=True,
        )
    )
    if thread["status"] == "pending":
        thread["status"] = "active"
    _touch(gw, thread, "inbox.reply_received")
    return 200, {"ok": True, "thread": thread_view(thread)}


@route("POST", "/v1/inbox/{thread_id}/delegate")
def delegate_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    f = Fields(ctx.body)
    delegate_to = f.str("delegate_to", min_len=3, max_len=255)
    note = f.str("note", max_len=2000)
    thread = find_thread(gw, ctx.params["thread_id"], ctx.owner_agent)
    _require_open(thread, "delegate")
    thread["delegated_to"] = delegate_to
    thread["timeline"].append(
        _timeline_entry(
            gw,
            "thread.delegated",
            ctx.owner_agent or thread["owner_agent"],
            {"delegate_to": delegate_to, "note": note},
        )
    )
    if thread["status"] == "pending":
        thread["status"] = "active"
    _touch(gw, thread, "inbox.reply_received")
    return 200, {"ok": True, "thread": thread_view(thread)}


def _decision_route(gw: Gateway, ctx: RequestContext, decision: str) -> RouteResult:
    f = Fields(ctx.body)
    comment = f.str("comment", max_len=2000)
    if comment is None:
        comment = f.str("note", max_len=2000)
    thread = find_thread(gw, ctx.params["thread_id"], ctx.owner_agent)
    decide_thread(gw, thread, decision, comment, ctx.owner_agent or thread["owner_agent"])
    return 200, {"ok": True, "thread": thread_view(thread)}


@route("POST", "/v1/inbox/{thread_id}/approve")
def approve_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    return _decision_route(gw, ctx, "approve")


@route("POST", "/v1/inbox/{thread_id}/reject")
def reject_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    return _decision_route(gw, ctx, "reject")


@route("POST", "/v1/inbox/{thread_id}/messages/delete")
def delete_messages_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    """Hide messages (entries with a ``message_id``); system entries are kept, and at least
    one timeline entry always remains. Without ``message_ids`` the newest ``limit`` go."""
    f = Fields(ctx.body)
    mode = f.required_str("mode", choices=("self", "both"))
    ids = f.str_list("message_ids", min_items=1, max_items=100, item_min_len=1)
    limit = f.int("limit", minimum=1, maximum=100)
    thread = find_thread(gw, ctx.params["thread_id"], ctx.owner_agent)
    visible = [e for e in thread["timeline"] if not e.get("_hidden")]
    messages = [e for e in visible if e.get("message_id")]
    if ids is not None:
        targets = [e for e in messages if e["message_id"] in set(ids)]
    else:
        targets = list(reversed(messages))
    if limit is not None:
        targets = targets[:limit]
    if len(targets) >= len(visible):
        targets = targets[: len(visible) - 1]
    for entry in targets:
        entry["_hidden"] = mode
    if targets:
        _touch(gw, thread)
    return 200, {
        "ok": True,
        "thread": thread_view(thread),
        "mode": mode,
        "deleted_count": len(targets),
        "message_ids": [e["message_id"] for e in targets],
    }


@route("POST", "/v1/inbox/{thread_id}/read")
def read_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    thread = find_thread(gw, ctx.params["thread_id"], ctx.owner_agent)
    thread["read_at"] = gw.now_ts()
    return 200, {"ok": True, "thread": thread_view(thread)}


@route("POST", "/v1/approvals/{approval_id}/decision")
def approval_decision_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    """Decide an approval. Unknown ids are accepted (upsert, as the conformance suite needs);
    an id that names a human-task thread decides that thread too."""
    approval_id = ctx.params["approval_id"]
    if not is_uuid(approval_id):
        raise EmulatorValidationError("approval_id: must be a UUID", field="approval_id")
    f = Fields(ctx.body)
    decision = f.required_str("decision", choices=("approve", "reject"))
    comment = f.str("comment", max_len=1000)
    owners = gw.thread_owners.get(approval_id) or []
    tasks = [gw.threads[(o, approval_id)] for o in owners]
    tasks = [t for t in tasks if t["kind"] == "human_task"]
    if tasks and approval_id not in gw.approvals:
        decide_thread(gw, tasks[-1], decision, comment, ctx.owner_agent or tasks[-1]["owner_agent"])
        approval = gw.approvals[approval_id]
        if approval["decision"] != decision:
            raise EmulatorConflict(
                f"approval {approval_id} was already decided: {approval['decision']}",
                code="already_decided",
                field="decision",
            )
    else:
        approval, created = record_approval(gw, approval_id, decision, comment)
        if created and approval_id in gw.intents:
            gw.notify(
                "thread.decision",
                {
                    "thread_id": approval_id,
                    "intent_id": approval_id,
                    "decision": decision,
                    "comment": comment,
                    "owner_agent": ctx.owner_agent,
                },
            )
    return 200, {"ok": True, "approval": dict(approval)}
