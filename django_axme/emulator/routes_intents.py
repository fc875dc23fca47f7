"""Intent routes and lifecycle operations (reference sections 2, 3.2, 4.1 and 6).

Every function here expects the gateway lock to be held (the gateway wraps route handlers and
control calls in :meth:`Gateway.transaction`), except :func:`stream_events`, which takes the
lock itself and returns a stream that waits without it.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from typing import TYPE_CHECKING, Any

from . import routes_agents, routes_inbox, state_sse
from .http_types import EmulatorResponse
from .routes_table import RequestContext, RouteResult, route
from .state_errors import EmulatorConflict, EmulatorNotFound, EmulatorValidationError
from .state_lifecycle import (
    EVENT_TYPE_FOR_STATUS,
    LEGACY_STATUS,
    RESOLVE_STATUSES,
    STATUSES,
    TERMINAL_STATUSES,
    WAITING_REASONS,
    check_transition,
)
from .state_util import canonical_json, new_id, parse_ts, sha256_hex
from .state_validation import Fields, QueryFields

if TYPE_CHECKING:
    from .core import Gateway

INTENT_TYPE_PATTERN = r"[a-z0-9_]+(?:\.[a-z0-9_]+)+\.v[0-9]+"
EVENT_TYPE_PATTERN = r"intent\.[a-z_]+"
MAX_PAYLOAD_BYTES = 131072
DEFAULT_FROM_AGENT = "agent://emulator/sender"
HUMAN_TASK_TYPES = (
    "approval",
    "review",
    "clarification",
    "provide_data",
    "attach_file",
    "manual_action",
    "confirmation",
    "validate_real_world",
    "validate_output",
    "assignment",
    "delegation",
    "reroute",
    "override",
    "escalate",
)
_OPTIONAL_INT_FIELDS = (
    "remind_after_seconds",
    "remind_interval_seconds",
    "max_reminders",
    "max_delivery_attempts",
)


# ---------------------------------------------------------------------------- records and views


def get_record(gw: Gateway, intent_id: str) -> dict[str, Any]:
    """The internal intent record; raises 404 for an unknown id."""
    rec = gw.intents.get(intent_id)
    if rec is None:
        raise EmulatorNotFound(f"intent not found: {intent_id}", field="intent_id")
    return rec


def intent_view(gw: Gateway, rec: dict[str, Any]) -> dict[str, Any]:
    """The public intent object (``GET /v1/intents/{id}`` -> ``intent``); a deep copy."""
    view: dict[str, Any] = {
        "intent_id": rec["intent_id"],
        "status": rec["status"],
        "legacy_status": LEGACY_STATUS[rec["status"]],
        "created_at": rec["created_at"],
        "updated_at": rec["updated_at"],
        "intent_type": rec["intent_type"],
        "correlation_id": rec["correlation_id"],
        "from_agent": rec["from_agent"],
        "to_agent": rec["to_agent"],
        "payload": rec["payload"],
        "remind_count": 0,
        "delivery_attempt": rec["delivery_attempt"],
        "waiting_reason": rec["waiting_reason"],
        "policy_generation": rec["policy_generation"],
        "controls": rec["controls"],
        "policy": {"grants": rec["grants"], "envelope": rec["envelope"]},
        "last_seq": len(gw.intent_events[rec["intent_id"]]),
        "result": rec["result"],
        "error": rec["error"],
    }
    for name in ("reply_to", "deadline_at", "escalate_to", "human_task", *_OPTIONAL_INT_FIELDS):
        if rec.get(name) is not None:
            view[name] = rec[name]
    if rec.get("reason") is not None:
        view["reason"] = rec["reason"]
    if rec.get("completion_delivery") is not None:
        view["completion_delivery"] = rec["completion_delivery"]
    pending = _pending_with(gw, rec)
    if pending is not None:
        view["pending_with"] = pending
    return json.loads(json.dumps(view))


def _pending_with(gw: Gateway, rec: dict[str, Any]) -> dict[str, str] | None:
    if rec["status"] in TERMINAL_STATUSES:
        return None
    task = rec.get("open_task")
    if rec["status"] == "WAITING" and rec["waiting_reason"] == "WAITING_FOR_HUMAN" and task:
        return {"type": "human", "ref": task["owner_agent"], "name": task["title"]}
    return {"type": "agent", "ref": rec["to_agent"], "name": rec["to_agent"]}


# ---------------------------------------------------------------------------- events


def append_event(
    gw: Gateway,
    rec: dict[str, Any],
    status: str,
    *,
    actor: str,
    details: dict[str, Any] | None = None,
    waiting_reason: str | None = None,
    event_type: str | None = None,
) -> dict[str, Any]:
    """Append the next event (seq = previous + 1) and apply its status to the intent.

    Wakes streams waiting on the intent and on its agent, queues the ``intent.event`` listener
    note, and on a terminal status closes the intent's threads and delivers the completion.
    Returns a copy of the event.
    """
    log = gw.intent_events[rec["intent_id"]]
    at = gw.now_ts()
    event = {
        "intent_id": rec["intent_id"],
        "seq": len(log) + 1,
        "event_type": event_type or EVENT_TYPE_FOR_STATUS[status],
        "status": status,
        "waiting_reason": waiting_reason if status == "WAITING" else None,
        "actor": actor,
        "at": at,
        "details": json.loads(json.dumps(details or {})),
    }
    log.append(event)
    rec["status"] = status
    rec["waiting_reason"] = event["waiting_reason"]
    rec["updated_at"] = at
    if status == "DELIVERED" or (status == "IN_PROGRESS" and rec["delivery_attempt"] == 0):
        rec["delivery_attempt"] = 1
    if status in TERMINAL_STATUSES:
        gw.deadlines.pop(rec["intent_id"], None)
        rec["open_task"] = None
        routes_inbox.close_intent_threads(gw, rec, event)
        if rec.get("reply_to") and rec.get("completion_delivery") is None:
            rec["completion_delivery"] = routes_inbox.deliver_completion(gw, rec, event)
    gw.intent_conditions[rec["intent_id"]].notify_all()
    routes_agents.feed_event(gw, rec, event)
    gw.notify("intent.event", {"intent_id": rec["intent_id"], "event": copy.deepcopy(event)})
    return copy.deepcopy(event)


def transition(
    gw: Gateway,
    intent_id: str,
    status: str,
    *,
    waiting_reason: str | None = None,
    actor: str = "agent",
    details: dict[str, Any] | None = None,
    event_type: str | None = None,
    resolving: bool = False,
) -> dict[str, Any]:
    """Validate and apply one lifecycle move; returns the new event."""
    rec = get_record(gw, intent_id)
    if status not in STATUSES:
        raise EmulatorValidationError(
            f"status: must be one of {', '.join(STATUSES)}", code="invalid_status", field="status"
        )
    if status == "WAITING":
        if waiting_reason not in WAITING_REASONS:
            raise EmulatorValidationError(
                f"waiting_reason: required with WAITING, one of {', '.join(WAITING_REASONS)}",
                field="waiting_reason",
            )
        if rec["status"] == "WAITING" and rec["waiting_reason"] == waiting_reason:
            raise EmulatorConflict(
                f"intent is already WAITING with {waiting_reason}", code="invalid_transition"
            )
    elif waiting_reason is not None:
        raise EmulatorValidationError(
            "waiting_reason: only allowed with status WAITING", field="waiting_reason"
        )
    if event_type is not None and not _is_event_type(event_type):
        raise EmulatorValidationError(
            f"event_type: must match {EVENT_TYPE_PATTERN}", field="event_type"
        )
    if not isinstance(actor, str) or not actor:
        raise EmulatorValidationError("actor: must be a non-empty string", field="actor")
    refusal = check_transition(rec["status"], status, resolving=resolving)
    if refusal is not None:
        code = "intent_terminal" if rec["status"] in TERMINAL_STATUSES else "invalid_transition"
        raise EmulatorConflict(refusal, code=code)
    return append_event(
        gw,
        rec,
        status,
        actor=actor,
        details=details,
        waiting_reason=waiting_reason,
        event_type=event_type,
    )


def _is_event_type(value: str) -> bool:
    return isinstance(value, str) and re.fullmatch(EVENT_TYPE_PATTERN, value) is not None


def expire_deadlines(gw: Gateway) -> list[str]:
    """TIMED_OUT for each non-terminal intent whose deadline has passed (lock held)."""
    now = gw.now()
    due = [iid for iid, deadline in gw.deadlines.items() if deadline <= now]
    for intent_id in due:
        rec = gw.intents[intent_id]
        if rec["status"] in TERMINAL_STATUSES:
            gw.deadlines.pop(intent_id, None)
            continue
        append_event(
            gw,
            rec,
            "TIMED_OUT",
            actor="gateway",
            details={"reason": "deadline_at passed", "deadline_at": rec["deadline_at"]},
        )
        rec["error"] = {
            "code": "intent_timeout",
            "message": "deadline_at passed",
            "category": "timeout",
            "retryable": True,
            "at": gw.now_ts(),
        }
    return due


# ---------------------------------------------------------------------------- create


def validate_create(body: dict[str, Any]) -> dict[str, Any]:
    """Check a create body (reference 3.2) and return the normalised fields."""
    f = Fields(body)
    data: dict[str, Any] = {
        "intent_type": f.required_str("intent_type", pattern=INTENT_TYPE_PATTERN),
        "correlation_id": f.uuid("correlation_id", required=True),
        "to_agent": f.required_str("to_agent", min_len=3, max_len=383),
        "from_agent": f.str("from_agent", min_len=3, max_len=383) or DEFAULT_FROM_AGENT,
        "reply_to": f.str("reply_to", min_len=3, max_len=383),
        "payload": f.obj("payload", required=True),
        "deadline_at": f.timestamp("deadline_at"),
        "escalate_to": f.str("escalate_to", max_len=383),
        "human_task": _validate_human_task(f.obj("human_task")),
    }
    for name in _OPTIONAL_INT_FIELDS:
        data[name] = f.int(name, minimum=1)
    size = len(canonical_json(data["payload"]).encode("utf-8"))
    if size > MAX_PAYLOAD_BYTES:
        raise EmulatorValidationError(
            f"payload: {size} bytes exceeds the {MAX_PAYLOAD_BYTES} byte limit",
            status=413,
            code="payload_too_large",
            field="payload",
        )
    return data


def _validate_human_task(task: dict[str, Any] | None) -> dict[str, Any] | None:
    if task is None:
        return None
    f = Fields(task, prefix="human_task.")
    f.required_str("title", max_len=255)
    f.str("description", max_len=2000)
    f.str("task_type", choices=HUMAN_TASK_TYPES)
    f.str_list("allowed_outcomes", min_items=1, max_items=20, item_min_len=1, item_max_len=64)
    f.bool("required_comment")
    f.str_list("assignees", min_items=1, max_items=20, item_min_len=1, item_max_len=383)
    f.bool("evidence_required")
    f.obj("form_schema")
    return dict(task)


def create_intent(gw: Gateway, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Create the intent, emit CREATED (seq 1) and SUBMITTED (seq 2); open the receiver thread."""
    data = validate_create(body)
    intent_id = new_id()
    now = gw.now_ts()
    rec: dict[str, Any] = {
        **data,
        "intent_id": intent_id,
        "status": "CREATED",
        "waiting_reason": None,
        "created_at": now,
        "updated_at": now,
        "policy_generation": 0,
        "controls": {},
        "grants": {},
        "envelope": {},
        "result": None,
        "error": None,
        "reason": None,
        "delivery_attempt": 0,
        "open_task": None,
        "completion_delivery": None,
    }
    gw.intents[intent_id] = rec
    gw.intent_events[intent_id] = []
    gw.intent_conditions[intent_id] = threading.Condition(gw.lock)
    if data["deadline_at"] is not None:
        gw.deadlines[intent_id] = parse_ts(data["deadline_at"])
    routes_agents.ensure_agent(gw, data["to_agent"])
    routes_inbox.create_intent_thread(gw, rec)
    note_position = gw.note_position()
    append_event(
        gw,
        rec,
        "CREATED",
        actor=data["from_agent"],
        details={"intent_type": data["intent_type"]},
    )
    append_event(gw, rec, "SUBMITTED", actor="gateway", details={})
    gw.notify("intent.created", {"intent": intent_view(gw, rec)}, position=note_position)
    return 200, {
        "ok": True,
        "intent_id": intent_id,
        "status": rec["status"],
        "created_at": rec["created_at"],
    }


def create_intent_control(
    gw: Gateway, body: dict[str, Any], *, idempotency_key: str | None
) -> dict[str, Any]:
    """The control-API create: same answer as the route, idempotent per key."""
    if not isinstance(body, dict):
        raise EmulatorValidationError("body: must be an object", field="body")
    with gw.transaction():
        if idempotency_key:
            fingerprint = sha256_hex(canonical_json({"body": body, "query": []}))
            _, payload = gw.run_idempotent(
                "control-api",
                "POST /v1/intents",
                idempotency_key,
                fingerprint,
                lambda: create_intent(gw, body),
            )
        else:
            _, payload = create_intent(gw, body)
    return dict(payload)


# ---------------------------------------------------------------------------- resolve / resume


def resolve(gw: Gateway, intent_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """End an intent (any non-terminal status -> COMPLETED/FAILED/CANCELED); 409 if terminal.

    Missing ``result``/``error``/``reason`` default to ``{}``/``{}``/``"canceled"``.
    """
    rec = get_record(gw, intent_id)
    f = Fields(body)
    status = f.str("status", required=True)
    if status not in RESOLVE_STATUSES:
        raise EmulatorValidationError(
            f"status: must be one of {', '.join(RESOLVE_STATUSES)}",
            code="invalid_status",
            field="status",
        )
    actor = f.str("actor", min_len=3, max_len=255)
    result = f.obj("result")
    error = f.obj("error")
    reason = f.str("reason", max_len=2000)
    expected = f.int("expected_policy_generation", minimum=0)
    if rec["status"] in TERMINAL_STATUSES:
        raise EmulatorConflict(
            f"intent already in terminal state {rec['status']}", code="intent_terminal"
        )
    _check_generation(rec, expected)
    if status == "COMPLETED":
        details: dict[str, Any] = {"result": result if result is not None else {}}
        rec["result"] = details["result"]
    elif status == "FAILED":
        details = {"error": error if error is not None else {}}
        rec["error"] = details["error"]
    else:
        details = {"reason": reason if reason is not None else "canceled"}
        rec["reason"] = details["reason"]
    event = transition(
        gw,
        intent_id,
        status,
        actor=actor or rec["to_agent"],
        details=details,
        resolving=True,
    )
    delivery = rec.get("completion_delivery") or {
        "delivered": False,
        "reason": "reply_to_not_set",
    }
    return {
        "ok": True,
        "intent": intent_view(gw, rec),
        "event": event,
        "completion_delivery": json.loads(json.dumps(delivery)),
    }


def _check_generation(rec: dict[str, Any], expected: int | None) -> None:
    if expected is not None and expected != rec["policy_generation"]:
        current = rec["policy_generation"]
        raise EmulatorConflict(
            f"stale policy_generation: expected {expected}, current is {current}",
            code="stale_policy_generation",
            field="expected_policy_generation",
            extra={"reason": "stale_policy_generation", "policy_generation": current},
        )


def resume(gw: Gateway, intent_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Release a waiting (or not yet started) intent to IN_PROGRESS.

    ``approve_current_step: false`` records the call without moving the intent
    (``applied: false``). A ``task_result`` is checked against the open human task
    (allowed outcomes, required comment, evidence). Unknown keys are accepted.
    """
    rec = get_record(gw, intent_id)
    f = Fields(body)
    approve = f.bool("approve_current_step", default=True)
    actor = f.str("actor", min_len=1, max_len=255)
    reason = f.str("reason", max_len=2000)
    expected = f.int("expected_policy_generation", minimum=0)
    f.bool("internal_scheduler")
    task_result = f.obj("task_result")
    if rec["status"] in TERMINAL_STATUSES:
        raise EmulatorConflict(
            f"intent already in terminal state {rec['status']}", code="intent_terminal"
        )
    _check_generation(rec, expected)
    if task_result is not None:
        _check_task_result(rec, task_result)
    answer: dict[str, Any] = {"ok": True, "applied": False, "intent_id": intent_id}
    if not approve:
        answer["reason"] = "current_step_not_approved"
    elif rec["status"] == "IN_PROGRESS":
        answer["reason"] = "already_in_progress"
    else:
        details: dict[str, Any] = {"resumed": True}
        if reason:
            details["reason"] = reason
        if task_result is not None:
            details["task_result"] = task_result
        if rec["status"] == "WAITING" and rec["waiting_reason"] == "WAITING_FOR_HUMAN":
            rec["open_task"] = None
        answer["event"] = transition(
            gw, intent_id, "IN_PROGRESS", actor=actor or "gateway", details=details
        )
        answer["applied"] = True
    answer["intent"] = intent_view(gw, rec)
    answer["policy_generation"] = rec["policy_generation"]
    gw.notify("intent.resumed", {"intent_id": intent_id, "body": json.loads(json.dumps(body))})
    return answer


def _check_task_result(rec: dict[str, Any], task_result: dict[str, Any]) -> None:
    task = rec.get("human_task") or (rec.get("open_task") or {}).get("human_task") or {}
    f = Fields(task_result, prefix="task_result.")
    outcome = f.str("outcome", max_len=64)
    comment = f.str("comment", max_len=2000)
    allowed = task.get("allowed_outcomes")
    if allowed and outcome not in allowed:
        raise EmulatorValidationError(
            f"task_result.outcome: must be one of {', '.join(allowed)}",
            field="task_result.outcome",
        )
    if task.get("required_comment") and not (comment or "").strip():
        raise EmulatorValidationError(
            "task_result.comment: a non-empty comment is required", field="task_result.comment"
        )
    if task.get("evidence_required"):
        data = task_result.get("data")
        if not isinstance(data, dict) or not data.get("evidence"):
            raise EmulatorValidationError(
                "task_result.data.evidence: evidence is required",
                field="task_result.data.evidence",
            )


# ---------------------------------------------------------------------------- controls / policy


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = json.loads(json.dumps(value))


def update_controls(gw: Gateway, intent_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Apply ``controls_patch`` with compare-and-set on ``expected_policy_generation``."""
    rec = get_record(gw, intent_id)
    f = Fields(body)
    patch = f.obj("controls_patch", required=True)
    assert patch is not None
    Fields(patch, prefix="controls_patch.").int("timeout_seconds", minimum=1)
    f.str("actor", min_len=1, max_len=255)
    f.str("reason", max_len=2000)
    expected = f.int("expected_policy_generation", minimum=0)
    f.bool("internal_scheduler")
    _check_mutable(rec)
    _check_generation(rec, expected)
    _merge(rec["controls"], patch)
    return _applied(gw, rec)


def update_policy(gw: Gateway, intent_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Apply ``grants_patch``/``envelope_patch`` with compare-and-set on the generation."""
    rec = get_record(gw, intent_id)
    f = Fields(body)
    grants = f.obj("grants_patch")
    envelope = f.obj("envelope_patch")
    if grants is None and envelope is None:
        raise EmulatorValidationError(
            "grants_patch: grants_patch or envelope_patch is required", field="grants_patch"
        )
    f.str("actor", min_len=1, max_len=255)
    f.str("reason", max_len=2000)
    expected = f.int("expected_policy_generation", minimum=0)
    f.bool("internal_scheduler")
    _check_mutable(rec)
    _check_generation(rec, expected)
    _merge(rec["grants"], grants or {})
    _merge(rec["envelope"], envelope or {})
    return _applied(gw, rec)


def _check_mutable(rec: dict[str, Any]) -> None:
    if rec["status"] in TERMINAL_STATUSES:
        raise EmulatorConflict(
            f"intent already in terminal state {rec['status']}", code="intent_terminal"
        )


def _applied(gw: Gateway, rec: dict[str, Any]) -> dict[str, Any]:
    rec["policy_generation"] += 1
    rec["updated_at"] = gw.now_ts()
    return {
        "ok": True,
        "applied": True,
        "intent_id": rec["intent_id"],
        "policy_generation": rec["policy_generation"],
        "controls": json.loads(json.dumps(rec["controls"])),
        "policy": json.loads(json.dumps({"grants": rec["grants"], "envelope": rec["envelope"]})),
    }


# ---------------------------------------------------------------------------- routes


@route("GET", "/health", auth=False)
def health_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    return 200, {"ok": True, "service": "axme-emulator", "time": gw.now_ts()}


@route("POST", "/v1/intents")
def create_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    return create_intent(gw, ctx.body)


@route("GET", "/v1/intents/{intent_id}")
def get_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    return 200, {"ok": True, "intent": intent_view(gw, get_record(gw, ctx.params["intent_id"]))}


@route("GET", "/v1/intents/{intent_id}/events")
def events_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    intent_id = ctx.params["intent_id"]
    get_record(gw, intent_id)
    q = QueryFields(ctx.query)
    since = q.int("since", default=0, minimum=0) or 0
    limit = q.int("limit", minimum=1, maximum=1000)
    events = gw.intent_events[intent_id][since:]
    if limit is not None:
        events = events[:limit]
    return 200, {"ok": True, "events": [dict(e) for e in events]}


@route("POST", "/v1/intents/{intent_id}/resolve")
def resolve_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    return 200, resolve(gw, ctx.params["intent_id"], ctx.body)


@route("POST", "/v1/intents/{intent_id}/resume")
def resume_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    return 200, resume(gw, ctx.params["intent_id"], ctx.body)


@route("POST", "/v1/intents/{intent_id}/controls")
@route("PATCH", "/v1/intents/{intent_id}/controls")
def controls_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    return 200, update_controls(gw, ctx.params["intent_id"], ctx.body)


@route("POST", "/v1/intents/{intent_id}/policy")
@route("PATCH", "/v1/intents/{intent_id}/policy")
def policy_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    return 200, update_policy(gw, ctx.params["intent_id"], ctx.body)


@route("GET", "/v1/intents/{intent_id}/events/stream", stream=True)
def stream_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    """SSE: 404/422 JSON before streaming; then backlog, live events, ``stream.timeout``."""
    intent_id = ctx.params["intent_id"]
    q = QueryFields(ctx.query)
    since = q.int("since", default=0, minimum=0) or 0
    wait_seconds = q.int("wait_seconds", default=15, minimum=1, maximum=60) or 15
    with gw.transaction():
        get_record(gw, intent_id)
    return EmulatorResponse(
        status=200,
        headers=dict(state_sse.SSE_HEADERS),
        stream=state_sse.intent_stream(gw, intent_id, since, float(wait_seconds)),
    )


@route("POST", "/v1/scenarios/apply")
def scenario_apply_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    """Compile a scenario bundle to one intent addressed to the first agent (or the type)."""
    f = Fields(ctx.body)
    scenario_id = f.required_str(
        "scenario_id", min_len=3, max_len=255, pattern=r"[a-z0-9_]+(?:\.[a-z0-9_]+)*"
    )
    intent = f.obj("intent", required=True)
    assert intent is not None
    fi = Fields(intent, prefix="intent.")
    intent_type = fi.required_str("type", pattern=INTENT_TYPE_PATTERN)
    agents = ctx.body.get("agents") or []
    if not isinstance(agents, list):
        raise EmulatorValidationError("agents: must be an array", field="agents")
    to_agent = None
    for index, agent in enumerate(agents):
        if not isinstance(agent, dict):
            raise EmulatorValidationError(f"agents[{index}]: must be an object", field="agents")
        fa = Fields(agent, prefix=f"agents[{index}].")
        fa.required_str("role")
        address = fa.required_str("address", min_len=3)
        to_agent = to_agent or address
    body: dict[str, Any] = {
        "intent_type": intent_type,
        "correlation_id": new_id(),
        "to_agent": to_agent or f"agent://scenario/{scenario_id}",
        "payload": fi.obj("payload") or {},
    }
    for name in ("deadline_at", "human_task", "escalate_to", *_OPTIONAL_INT_FIELDS):
        if intent.get(name) is not None:
            body[name] = intent[name]
    _, created = create_intent(gw, body)
    rec = gw.intents[created["intent_id"]]
    answer: dict[str, Any] = {
        "intent_id": created["intent_id"],
        "scenario_id": scenario_id,
        "status": "DELIVERED",
        "workflow_compile_id": new_id(),
        "idempotent": False,
        "agents": [{"role": a["role"], "address": a["address"], "created": False} for a in agents],
        "deadline_at": rec.get("deadline_at"),
        "created_at": rec["created_at"],
    }
    if rec["status"] == "SUBMITTED":
        transition(gw, rec["intent_id"], "DELIVERED", actor="gateway")
    return 200, answer


@route("POST", "/v1/scenarios/validate")
def scenario_validate_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    errors: list[dict[str, str]] = []
    try:
        f = Fields(ctx.body)
        f.required_str("scenario_id", min_len=3, max_len=255)
        intent = f.obj("intent", required=True) or {}
        Fields(intent, prefix="intent.").required_str("type", pattern=INTENT_TYPE_PATTERN)
    except EmulatorValidationError as exc:
        errors.append({"field": exc.field or "", "message": exc.message})
    return 200, {"ok": True, "valid": not errors, "errors": errors}


@route("POST", "/internal/scheduler/workflow-tick")
def workflow_tick_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    """One scheduler pass: time out intents whose ``deadline_at`` has passed."""
    return 200, {"ok": True, "timed_out": expire_deadlines(gw)}
