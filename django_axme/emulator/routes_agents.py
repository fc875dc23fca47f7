"""Agent registry, the per-agent intent feed and stream, and the mesh family (reference 3.11).

An agent becomes known when an intent is addressed to it, when a service account registers it,
or when it starts listening. Each agent has a feed: one entry (per-agent ``seq`` from 1) for every
event of every intent addressed to it.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

from . import state_sse
from .http_types import EmulatorResponse
from .routes_table import RequestContext, RouteResult, route
from .state_errors import EmulatorNotFound, EmulatorValidationError
from .state_lifecycle import STATUSES
from .state_util import new_id
from .state_validation import Fields, QueryFields

if TYPE_CHECKING:
    from .core import Gateway

_ADDRESS_PATH = re.compile(r"[A-Za-z0-9@._~:+\-]+(?:/[A-Za-z0-9@._~:+\-]+)*")


def address_from_path(path_part: str) -> str:
    """``org/ws/name`` (or a full ``agent://...``) -> ``agent://org/ws/name``; 400 if malformed."""
    part = path_part.strip()
    if part.startswith("agent://"):
        part = part[len("agent://") :]
    if not _ADDRESS_PATH.fullmatch(part) or len(part) > 375:
        raise EmulatorValidationError(
            f"address: not a valid agent address path: {path_part!r}",
            status=400,
            field="address",
        )
    return f"agent://{part}"


def ensure_agent(gw: Gateway, address: str, **fields: Any) -> dict[str, Any]:
    """Register the agent (idempotent) with its feed and condition; returns the record."""
    agent = gw.agents.get(address)
    if agent is None:
        name = address.rstrip("/").rsplit("/", 1)[-1] or "agent"
        now = gw.now_ts()
        agent = {
            "address": address,
            "service_account_id": f"sa_{name}"[:64],
            "service_account_name": name,
            "display_name": None,
            "status": "active",
            "created_at": now,
            "updated_at": now,
        }
        gw.agents[address] = agent
        gw.agent_feeds[address] = []
        gw.agent_conditions[address] = threading.Condition(gw.lock)
    for key, value in fields.items():
        if value is not None:
            agent[key] = value
    return agent


def feed_event(gw: Gateway, rec: dict[str, Any], event: dict[str, Any]) -> None:
    """Append the intent event to its receiver's feed and wake that agent's streams."""
    address = rec["to_agent"]
    ensure_agent(gw, address)
    feed = gw.agent_feeds[address]
    feed.append(
        {
            "seq": len(feed) + 1,
            "intent_id": rec["intent_id"],
            "intent_seq": event["seq"],
            "event_type": event["event_type"],
            "status": event["status"],
            "waiting_reason": event["waiting_reason"],
            "actor": event["actor"],
            "at": event["at"],
            "details": event["details"],
        }
    )
    gw.agent_conditions[address].notify_all()


def mark_delivered(gw: Gateway, intent_id: str, address: str) -> None:
    """SUBMITTED -> DELIVERED once a listener of the receiver picked the intent up."""
    from . import routes_intents

    with gw.transaction():
        rec = gw.intents.get(intent_id)
        if rec is not None and rec["status"] == "SUBMITTED":
            routes_intents.append_event(
                gw,
                rec,
                "DELIVERED",
                actor="gateway",
                details={"delivered_to": address, "via": "agent_stream"},
            )


def _agent_view(agent: dict[str, Any], *, with_updated: bool) -> dict[str, Any]:
    keys = [
        "address",
        "service_account_id",
        "service_account_name",
        "display_name",
        "status",
        "created_at",
    ]
    if with_updated:
        keys.append("updated_at")
    return {k: agent[k] for k in keys}


@route("GET", "/v1/agents")
def list_agents_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    q = QueryFields(ctx.query)
    org_id = q.str("org_id", required=True)
    workspace_id = q.str("workspace_id", required=True)
    limit = q.int("limit", default=100, minimum=1, maximum=1000) or 100
    prefix = f"agent://{org_id}/{workspace_id}/"
    agents = [
        _agent_view(a, with_updated=False)
        for address, a in gw.agents.items()
        if address.startswith(prefix)
    ]
    return 200, {"ok": True, "agents": agents[:limit]}


@route("GET", "/v1/agents/{path:path}/intents/stream", stream=True)
def agent_stream_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    """SSE of the agent's feed; listening registers the address."""
    address = address_from_path(ctx.params["path"])
    q = QueryFields(ctx.query)
    since = q.int("since", default=0, minimum=0) or 0
    wait_seconds = q.int("wait_seconds", default=15, minimum=1, maximum=60) or 15
    raw_status = q.str("status")
    statuses: frozenset[str] | None = None
    if raw_status is not None:
        wanted = [s.strip().upper() for s in raw_status.split(",") if s.strip()]
        unknown = [s for s in wanted if s not in STATUSES]
        if unknown or not wanted:
            raise EmulatorValidationError(
                f"status: unknown status {', '.join(unknown) or raw_status!r}", field="status"
            )
        statuses = frozenset(wanted)
    with gw.transaction():
        ensure_agent(gw, address)
    return EmulatorResponse(
        status=200,
        headers=dict(state_sse.SSE_HEADERS),
        stream=state_sse.agent_stream(gw, address, since, float(wait_seconds), statuses),
    )


@route("GET", "/v1/agents/{path:path}")
def get_agent_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    address = address_from_path(ctx.params["path"])
    agent = gw.agents.get(address)
    if agent is None:
        raise EmulatorNotFound(f"agent not found: {address}", field="address")
    return 200, {"ok": True, "agent": _agent_view(agent, with_updated=True)}


# ---------------------------------------------------------------------------- mesh


def _mesh_view(gw: Gateway, agent: dict[str, Any]) -> dict[str, Any]:
    mesh = agent.setdefault(
        "mesh", {"address_id": new_id(), "health": "healthy", "killed": False, "metrics": {}}
    )
    return {
        "address_id": mesh["address_id"],
        "address": agent["address"],
        "health": "killed" if mesh["killed"] else mesh["health"],
        "status": "killed" if mesh["killed"] else "active",
        "metrics": dict(mesh["metrics"]),
        "last_heartbeat_at": mesh.get("last_heartbeat_at"),
    }


def _mesh_agent(gw: Gateway, address_id: str) -> dict[str, Any]:
    for agent in gw.agents.values():
        _mesh_view(gw, agent)
        if agent["mesh"]["address_id"] == address_id or agent["address"] == address_id:
            return agent
    raise EmulatorNotFound(f"mesh agent not found: {address_id}", field="address_id")


def _mesh_event(gw: Gateway, event_type: str, agent: dict[str, Any]) -> None:
    gw.table("mesh_events")[new_id()] = {
        "event_id": new_id(),
        "event_type": event_type,
        "address": agent["address"],
        "at": gw.now_ts(),
    }


@route("POST", "/v1/mesh/heartbeat")
def mesh_heartbeat_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    metrics = Fields(ctx.body).obj("metrics") or {}
    owner = ctx.owner_agent or "agent://emulator/mesh-client"
    agent = ensure_agent(gw, owner)
    view = _mesh_view(gw, agent)
    agent["mesh"]["metrics"] = dict(metrics)
    agent["mesh"]["last_heartbeat_at"] = gw.now_ts()
    return 200, {"ok": True, "address_id": view["address_id"], "received_at": gw.now_ts()}


@route("GET", "/v1/mesh/agents")
def mesh_agents_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    q = QueryFields(ctx.query)
    limit = q.int("limit", default=100, minimum=1, maximum=1000) or 100
    health = q.str("health")
    views = [_mesh_view(gw, a) for a in gw.agents.values()]
    if health:
        views = [v for v in views if v["health"] == health]
    return 200, {"ok": True, "agents": views[:limit]}


@route("GET", "/v1/mesh/agents/{address_id}")
def mesh_agent_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    return 200, {"ok": True, "agent": _mesh_view(gw, _mesh_agent(gw, ctx.params["address_id"]))}


@route("POST", "/v1/mesh/agents/{address_id}/kill")
def mesh_kill_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    agent = _mesh_agent(gw, ctx.params["address_id"])
    agent["mesh"]["killed"] = True
    _mesh_event(gw, "agent.killed", agent)
    return 200, {"ok": True, "agent": _mesh_view(gw, agent)}


@route("POST", "/v1/mesh/agents/{address_id}/resume")
def mesh_resume_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    agent = _mesh_agent(gw, ctx.params["address_id"])
    agent["mesh"]["killed"] = False
    _mesh_event(gw, "agent.resumed", agent)
    return 200, {"ok": True, "agent": _mesh_view(gw, agent)}


@route("GET", "/v1/mesh/events")
def mesh_events_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    q = QueryFields(ctx.query)
    limit = q.int("limit", default=50, minimum=1, maximum=1000) or 50
    event_type = q.str("event_type")
    events = list(gw.table("mesh_events").values())
    if event_type:
        events = [e for e in events if e["event_type"] == event_type]
    return 200, {"ok": True, "events": events[-limit:]}
