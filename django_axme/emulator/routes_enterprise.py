"""Enterprise families (reference 3.12): service accounts and keys, organizations, workspaces,
members, access requests, quotas, usage, principals, aliases, routing endpoints, transport
bindings, deliveries and billing. Plausible shapes per the AXME schemas, stored in memory; the
emulator enforces no roles. Functions expect the gateway lock to be held.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from . import routes_agents
from .routes_table import RequestContext, RouteResult, route
from .state_errors import EmulatorConflict, EmulatorNotFound, EmulatorValidationError
from .state_util import format_ts, new_id
from .state_validation import Fields, QueryFields

if TYPE_CHECKING:
    from .core import Gateway

ROLES = (
    "org_owner",
    "org_admin",
    "workspace_admin",
    "member",
    "billing_viewer",
    "security_auditor",
)
TRANSPORT_TYPES = ("matrix", "http", "queue", "webhook")
QUOTA_DIMENSIONS = (
    "requests_per_minute",
    "intents_per_day",
    "inbox_writes_per_day",
    "media_upload_bytes_per_day",
    "media_storage_bytes",
    "webhook_deliveries_per_day",
    "schema_writes_per_day",
)
DEFAULT_QUOTA = dict(
    zip(QUOTA_DIMENSIONS, (120, 10000, 10000, 1073741824, 10737418240, 10000, 1000), strict=True)
)
ACCESS_REQUEST_TYPES = (
    "create_organization",
    "join_organization",
    "elevated_role",
    "workspace_join",
)


def _short_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def _get(gw: Gateway, table: str, record_id: str, label: str) -> dict[str, Any]:
    record = gw.table(table).get(record_id)
    if record is None:
        raise EmulatorNotFound(f"{label} not found: {record_id}", field=label)
    return record


def _pick(record: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: record.get(k) for k in keys}


def _same_path_id(f: Fields, name: str, path_value: str) -> None:
    given = f.str(name)
    if given is not None and given != path_value:
        raise EmulatorValidationError(
            f"{name}: body value does not match the path", status=400, field=name
        )


def _scope_query(ctx: RequestContext, *, workspace_required: bool) -> tuple[str, str | None]:
    q = QueryFields(ctx.query)
    org_id = q.str("org_id", required=True) or ""
    return org_id, q.str("workspace_id", required=workspace_required)


def _limit(ctx: RequestContext, default: int = 200) -> int:
    return QueryFields(ctx.query).int("limit", default=default, minimum=1, maximum=1000) or default


# ---------------------------------------------------------------------------- service accounts

_SA_KEYS = (
    "service_account_id",
    "org_id",
    "workspace_id",
    "name",
    "description",
    "status",
    "created_by_actor_id",
    "created_at",
    "updated_at",
)


@route("POST", "/v1/service-accounts")
def create_service_account(gw: Gateway, ctx: RequestContext) -> RouteResult:
    """Creates the account and registers its agent address ``agent://org/ws/name``."""
    f = Fields(ctx.body)
    org_id = f.required_str("org_id", min_len=1)
    workspace_id = f.required_str("workspace_id", min_len=1)
    name = f.required_str("name", min_len=2, max_len=120)
    now = gw.now_ts()
    sa: dict[str, Any] = {
        "service_account_id": _short_id("sa"),
        "org_id": org_id,
        "workspace_id": workspace_id,
        "name": name,
        "description": f.str("description", max_len=2000),
        "status": "active",
        "created_by_actor_id": f.required_str("created_by_actor_id", min_len=1),
        "created_at": now,
        "updated_at": now,
        "agent_address": f"agent://{org_id}/{workspace_id}/{name}",
        "display_name": name,
    }
    gw.table("service_accounts")[sa["service_account_id"]] = sa
    routes_agents.ensure_agent(
        gw,
        sa["agent_address"],
        service_account_id=sa["service_account_id"],
        service_account_name=name,
        display_name=name,
    )
    return 200, {"ok": True, "service_account": dict(sa)}


@route("GET", "/v1/service-accounts")
def list_service_accounts(gw: Gateway, ctx: RequestContext) -> RouteResult:
    org_id, workspace_id = _scope_query(ctx, workspace_required=False)
    items = [
        _pick(sa, _SA_KEYS)
        for sa in gw.table("service_accounts").values()
        if sa["org_id"] == org_id and workspace_id in (None, sa["workspace_id"])
    ]
    return 200, {"ok": True, "service_accounts": items}


@route("GET", "/v1/service-accounts/{sa_id}")
def get_service_account(gw: Gateway, ctx: RequestContext) -> RouteResult:
    sa = _get(gw, "service_accounts", ctx.params["sa_id"], "service_account_id")
    return 200, {"ok": True, "service_account": _pick(sa, _SA_KEYS)}


@route("POST", "/v1/service-accounts/{sa_id}/keys")
def create_key(gw: Gateway, ctx: RequestContext) -> RouteResult:
    """A new key; with a restricted key set the gateway starts accepting it at once."""
    sa = _get(gw, "service_accounts", ctx.params["sa_id"], "service_account_id")
    f = Fields(ctx.body)
    f.required_str("created_by_actor_id", min_len=1)
    expires_at = f.timestamp("expires_at")
    token = f"axme_sa_{sa['service_account_id']}_{secrets.token_urlsafe(24)}"
    key = {
        "key_id": _short_id("key"),
        "service_account_id": sa["service_account_id"],
        "key_hint": "****" + token[-4:],
        "status": "active",
        "created_at": gw.now_ts(),
        "expires_at": expires_at,
        "_token": token,
    }
    gw.table("service_account_keys")[key["key_id"]] = key
    gw.grant_api_key(token)
    view = {k: v for k, v in key.items() if not k.startswith("_")}
    return 200, {"ok": True, "key": {**view, "token": token}}


@route("POST", "/v1/service-accounts/{sa_id}/keys/{key_id}/revoke")
def revoke_key(gw: Gateway, ctx: RequestContext) -> RouteResult:
    key = _get(gw, "service_account_keys", ctx.params["key_id"], "key_id")
    if key["service_account_id"] != ctx.params["sa_id"]:
        raise EmulatorNotFound(f"key_id not found: {ctx.params['key_id']}", field="key_id")
    if key["status"] != "revoked":
        key.update(status="revoked", revoked_at=gw.now_ts())
        gw.revoke_api_key(key["_token"])
    return 200, {
        "ok": True,
        "key": _pick(key, ("service_account_id", "key_id", "status", "revoked_at")),
    }


# ---------------------------------------------------------------------------- organizations

_ORG_KEYS = (
    "org_id",
    "name",
    "legal_name",
    "primary_domain",
    "status",
    "metadata",
    "created_at",
    "updated_at",
)
_WS_KEYS = (
    "workspace_id",
    "org_id",
    "name",
    "environment",
    "status",
    "region",
    "created_at",
    "updated_at",
)
_MEMBER_KEYS = (
    "member_id",
    "org_id",
    "workspace_id",
    "actor_id",
    "role",
    "status",
    "created_at",
    "updated_at",
)


@route("POST", "/v1/organizations")
def create_organization(gw: Gateway, ctx: RequestContext) -> RouteResult:
    f = Fields(ctx.body)
    now = gw.now_ts()
    org: dict[str, Any] = {
        "org_id": new_id(),
        "name": f.required_str("name", min_len=1, max_len=255),
        "legal_name": f.str("legal_name", max_len=255),
        "primary_domain": f.str("primary_domain", max_len=255),
        "status": "active",
        "metadata": f.obj("metadata") or {},
        "created_at": now,
        "updated_at": now,
        "requested_by_actor_id": f.required_str("requested_by_actor_id", min_len=1),
    }
    gw.table("organizations")[org["org_id"]] = org
    return 200, {"ok": True, "organization": _pick(org, _ORG_KEYS)}


@route("GET", "/v1/organizations/{org_id}")
def get_organization(gw: Gateway, ctx: RequestContext) -> RouteResult:
    org = _get(gw, "organizations", ctx.params["org_id"], "org_id")
    view = _pick(org, _ORG_KEYS)
    view["workspaces_count"] = sum(
        1 for w in gw.table("workspaces").values() if w["org_id"] == org["org_id"]
    )
    view["members_count"] = sum(
        1
        for m in gw.table("members").values()
        if m["org_id"] == org["org_id"] and m["status"] != "removed"
    )
    return 200, {"ok": True, "organization": view}


@route("PATCH", "/v1/organizations/{org_id}")
def update_organization(gw: Gateway, ctx: RequestContext) -> RouteResult:
    org = _get(gw, "organizations", ctx.params["org_id"], "org_id")
    f = Fields(ctx.body)
    _same_path_id(f, "org_id", org["org_id"])
    changes = {
        "name": f.str("name", min_len=1, max_len=255),
        "legal_name": f.str("legal_name", max_len=255),
        "primary_domain": f.str("primary_domain", max_len=255),
        "status": f.str("status", choices=("pending", "active", "suspended", "archived")),
        "metadata": f.obj("metadata"),
    }
    org.update({k: v for k, v in changes.items() if v is not None}, updated_at=gw.now_ts())
    return 200, {"ok": True, "organization": _pick(org, _ORG_KEYS)}


@route("POST", "/v1/organizations/{org_id}/workspaces")
def create_workspace(gw: Gateway, ctx: RequestContext) -> RouteResult:
    org = _get(gw, "organizations", ctx.params["org_id"], "org_id")
    f = Fields(ctx.body)
    _same_path_id(f, "org_id", org["org_id"])
    now = gw.now_ts()
    ws = {
        "workspace_id": new_id(),
        "org_id": org["org_id"],
        "name": f.required_str("name", min_len=1, max_len=255),
        "environment": f.required_str("environment", choices=("sandbox", "staging", "production")),
        "status": "active",
        "region": f.str("region", max_len=64),
        "created_at": now,
        "updated_at": now,
    }
    gw.table("workspaces")[ws["workspace_id"]] = ws
    return 200, {"ok": True, "workspace": dict(ws)}


@route("GET", "/v1/organizations/{org_id}/workspaces")
def list_workspaces(gw: Gateway, ctx: RequestContext) -> RouteResult:
    org = _get(gw, "organizations", ctx.params["org_id"], "org_id")
    items = [dict(w) for w in gw.table("workspaces").values() if w["org_id"] == org["org_id"]]
    return 200, {"ok": True, "workspaces": items}


@route("PATCH", "/v1/organizations/{org_id}/workspaces/{workspace_id}")
def update_workspace(gw: Gateway, ctx: RequestContext) -> RouteResult:
    org = _get(gw, "organizations", ctx.params["org_id"], "org_id")
    ws = _get(gw, "workspaces", ctx.params["workspace_id"], "workspace_id")
    if ws["org_id"] != org["org_id"]:
        raise EmulatorNotFound("workspace_id not found in this organization", field="workspace_id")
    f = Fields(ctx.body)
    _same_path_id(f, "org_id", org["org_id"])
    _same_path_id(f, "workspace_id", ws["workspace_id"])
    changes = {
        "name": f.str("name", min_len=1, max_len=255),
        "status": f.str("status", choices=("active", "suspended", "archived")),
        "region": f.str("region", max_len=64),
        "environment": f.str("environment", choices=("sandbox", "staging", "production")),
    }
    ws.update({k: v for k, v in changes.items() if v is not None}, updated_at=gw.now_ts())
    return 200, {"ok": True, "workspace": dict(ws)}


@route("GET", "/v1/organizations/{org_id}/members")
def list_members(gw: Gateway, ctx: RequestContext) -> RouteResult:
    org = _get(gw, "organizations", ctx.params["org_id"], "org_id")
    workspace_id = QueryFields(ctx.query).str("workspace_id")
    items = [
        _pick(m, _MEMBER_KEYS)
        for m in gw.table("members").values()
        if m["org_id"] == org["org_id"]
        and workspace_id in (None, m["workspace_id"])
        and m["status"] != "removed"
    ]
    return 200, {"ok": True, "members": items}


@route("POST", "/v1/organizations/{org_id}/members")
def add_member(gw: Gateway, ctx: RequestContext) -> RouteResult:
    org = _get(gw, "organizations", ctx.params["org_id"], "org_id")
    f = Fields(ctx.body)
    _same_path_id(f, "org_id", org["org_id"])
    actor_id = f.required_str("actor_id", min_len=1, max_len=255)
    workspace_id = f.str("workspace_id")
    for m in gw.table("members").values():
        if (m["org_id"], m["actor_id"], m["workspace_id"]) == (
            org["org_id"],
            actor_id,
            workspace_id,
        ) and m["status"] != "removed":
            raise EmulatorConflict(
                f"actor_id: {actor_id} is already a member",
                code="duplicate_member",
                field="actor_id",
            )
    now = gw.now_ts()
    member = {
        "member_id": new_id(),
        "org_id": org["org_id"],
        "workspace_id": workspace_id,
        "actor_id": actor_id,
        "role": f.required_str("role", choices=ROLES),
        "status": "active",
        "created_at": now,
        "updated_at": now,
        "invited_by_actor_id": f.str("invited_by_actor_id"),
    }
    gw.table("members")[member["member_id"]] = member
    return 200, {"ok": True, "member": _pick(member, _MEMBER_KEYS)}


def _member(gw: Gateway, ctx: RequestContext) -> dict[str, Any]:
    member = _get(gw, "members", ctx.params["member_id"], "member_id")
    if member["org_id"] != ctx.params["org_id"] or member["status"] == "removed":
        raise EmulatorNotFound(f"member_id not found: {ctx.params['member_id']}", field="member_id")
    return member


@route("PATCH", "/v1/organizations/{org_id}/members/{member_id}")
def update_member(gw: Gateway, ctx: RequestContext) -> RouteResult:
    member = _member(gw, ctx)
    f = Fields(ctx.body)
    _same_path_id(f, "org_id", member["org_id"])
    _same_path_id(f, "member_id", member["member_id"])
    changes = {
        "role": f.str("role", choices=ROLES),
        "status": f.str("status", choices=("active", "invited", "suspended", "removed")),
    }
    member.update({k: v for k, v in changes.items() if v is not None}, updated_at=gw.now_ts())
    return 200, {"ok": True, "member": _pick(member, _MEMBER_KEYS)}


@route("DELETE", "/v1/organizations/{org_id}/members/{member_id}")
def remove_member(gw: Gateway, ctx: RequestContext) -> RouteResult:
    member = _member(gw, ctx)
    now = gw.now_ts()
    member.update(status="removed", updated_at=now)
    return 200, {
        "ok": True,
        "removed": True,
        "org_id": member["org_id"],
        "member_id": member["member_id"],
        "removed_at": now,
    }


# ---------------------------------------------------------------------------- access requests

_AR_KEYS = (
    "access_request_id",
    "request_type",
    "state",
    "requester_actor_id",
    "org_id",
    "workspace_id",
    "requested_role",
    "company_name",
    "justification",
    "reviewer_actor_id",
    "review_comment",
    "reviewed_at",
    "created_at",
    "updated_at",
)


@route("POST", "/v1/access-requests")
def create_access_request(gw: Gateway, ctx: RequestContext) -> RouteResult:
    f = Fields(ctx.body)
    now = gw.now_ts()
    record: dict[str, Any] = {
        "access_request_id": new_id(),
        "request_type": f.required_str("request_type", choices=ACCESS_REQUEST_TYPES),
        "state": "pending",
        "requester_actor_id": f.required_str("requester_actor_id", min_len=1),
        "org_id": f.str("org_id"),
        "workspace_id": f.str("workspace_id"),
        "requested_role": f.str("requested_role", choices=ROLES),
        "company_name": f.str("company_name", max_len=255),
        "justification": f.str("justification", max_len=2000),
        "reviewer_actor_id": None,
        "review_comment": None,
        "reviewed_at": None,
        "created_at": now,
        "updated_at": now,
        "expires_at": f.timestamp("expires_at"),
    }
    gw.table("access_requests")[record["access_request_id"]] = record
    return 200, {"ok": True, "access_request": _pick(record, _AR_KEYS)}


@route("GET", "/v1/access-requests")
def list_access_requests(gw: Gateway, ctx: RequestContext) -> RouteResult:
    q = QueryFields(ctx.query)
    wanted = {k: q.str(k) for k in ("org_id", "workspace_id", "state")}
    items = [
        _pick(r, _AR_KEYS)
        for r in gw.table("access_requests").values()
        if all(v is None or r.get(k) == v for k, v in wanted.items())
    ]
    return 200, {"ok": True, "access_requests": items}


@route("GET", "/v1/access-requests/{request_id}")
def get_access_request(gw: Gateway, ctx: RequestContext) -> RouteResult:
    record = _get(gw, "access_requests", ctx.params["request_id"], "access_request_id")
    return 200, {"ok": True, "access_request": _pick(record, _AR_KEYS)}


@route("POST", "/v1/access-requests/{request_id}/review")
def review_access_request(gw: Gateway, ctx: RequestContext) -> RouteResult:
    """approve/reject are final (a second review is 409); waitlist may be reviewed again."""
    record = _get(gw, "access_requests", ctx.params["request_id"], "access_request_id")
    f = Fields(ctx.body)
    decision = f.required_str("decision", choices=("approve", "reject", "waitlist"))
    reviewer = f.required_str("reviewer_actor_id", min_len=1)
    comment = f.str("review_comment", max_len=2000)
    if record["state"] in ("approved", "rejected", "expired"):
        raise EmulatorConflict(
            f"access request is already {record['state']}",
            code="invalid_review_transition",
            field="decision",
        )
    now = gw.now_ts()
    record.update(
        state={"approve": "approved", "reject": "rejected", "waitlist": "waitlisted"}[decision],
        reviewer_actor_id=reviewer,
        review_comment=comment,
        reviewed_at=now,
        updated_at=now,
    )
    return 200, {"ok": True, "access_request": _pick(record, _AR_KEYS)}


# ---------------------------------------------------------------------------- quotas and usage


def _quota(gw: Gateway, org_id: str, workspace_id: str) -> dict[str, Any]:
    key = f"{org_id}|{workspace_id}"
    table = gw.table("quotas")
    if key not in table:
        table[key] = {
            "quota_policy_id": new_id(),
            "org_id": org_id,
            "workspace_id": workspace_id,
            "dimensions": dict(DEFAULT_QUOTA),
            "soft_threshold_percent": 80,
            "hard_enforcement": False,
            "overage_mode": "block",
            "updated_by_actor_id": None,
            "updated_at": gw.now_ts(),
        }
    return table[key]


@route("GET", "/v1/quotas")
def get_quota(gw: Gateway, ctx: RequestContext) -> RouteResult:
    org_id, workspace_id = _scope_query(ctx, workspace_required=True)
    return 200, {"ok": True, "quota_policy": dict(_quota(gw, org_id, workspace_id or ""))}


@route("PATCH", "/v1/quotas")
def update_quota(gw: Gateway, ctx: RequestContext) -> RouteResult:
    f = Fields(ctx.body)
    org_id = f.required_str("org_id", min_len=1)
    workspace_id = f.required_str("workspace_id", min_len=1)
    dims = f.obj("dimensions", required=True) or {}
    fd = Fields(dims, prefix="dimensions.")
    parsed = {name: fd.int(name, required=True, minimum=0) for name in QUOTA_DIMENSIONS}
    record = _quota(gw, org_id, workspace_id)
    record.update(
        dimensions=parsed,
        overage_mode=f.required_str("overage_mode", choices=("block", "grace", "bill_overage")),
        updated_by_actor_id=f.required_str("updated_by_actor_id", min_len=1),
        soft_threshold_percent=f.int(
            "soft_threshold_percent",
            minimum=1,
            maximum=100,
            default=record["soft_threshold_percent"],
        ),
        hard_enforcement=f.bool("hard_enforcement", default=record["hard_enforcement"]),
        updated_at=gw.now_ts(),
    )
    return 200, {"ok": True, "quota_policy": dict(record)}


def _used(gw: Gateway) -> dict[str, int]:
    used = dict.fromkeys(QUOTA_DIMENSIONS, 0)
    used["intents_per_day"] = len(gw.intents)
    used["schema_writes_per_day"] = len(gw.table("schemas"))
    used["media_storage_bytes"] = sum(
        u["size_bytes"] for u in gw.table("media").values() if u["status"] == "ready"
    )
    return used


@route("GET", "/v1/usage/summary")
def usage_summary(gw: Gateway, ctx: RequestContext) -> RouteResult:
    org_id, workspace_id = _scope_query(ctx, workspace_required=True)
    window = QueryFields(ctx.query).str("window", default="day") or "day"
    days = {"day": 1, "week": 7, "month": 30}.get(window)
    if days is None:
        raise EmulatorValidationError("window: must be one of day, week, month", field="window")
    limits = _quota(gw, org_id, workspace_id or "")["dimensions"]
    used = _used(gw)
    end = gw.now()
    return 200, {
        "ok": True,
        "summary": {
            "org_id": org_id,
            "workspace_id": workspace_id,
            "window_start": format_ts(end - timedelta(days=days)),
            "window_end": format_ts(end),
            "dimensions": {
                name: {
                    "used": used[name],
                    "limit": limits[name],
                    "remaining": max(limits[name] - used[name], 0),
                }
                for name in QUOTA_DIMENSIONS
            },
        },
    }


@route("GET", "/v1/usage/timeseries")
def usage_timeseries(gw: Gateway, ctx: RequestContext) -> RouteResult:
    org_id, workspace_id = _scope_query(ctx, workspace_required=True)
    days = QueryFields(ctx.query).int("window_days", default=30, minimum=1, maximum=90) or 30
    now = gw.now().astimezone(timezone.utc)
    today = datetime(now.year, now.month, now.day, tzinfo=timezone.utc)
    used = _used(gw)
    points = []
    for back in range(days - 1, -1, -1):
        dims = used if back == 0 else dict.fromkeys(QUOTA_DIMENSIONS, 0)
        points.append({"at": format_ts(today - timedelta(days=back)), "dimensions": dict(dims)})
    return 200, {
        "ok": True,
        "series": {
            "org_id": org_id,
            "workspace_id": workspace_id,
            "granularity": "day",
            "points": points,
        },
    }


# ---------------------------------------------------------------------------- principals, aliases

_PRINCIPAL_KEYS = (
    "principal_id",
    "org_id",
    "workspace_id",
    "principal_type",
    "display_name",
    "status",
    "metadata",
    "created_at",
    "updated_at",
)
_ALIAS_KEYS = (
    "alias_id",
    "principal_id",
    "org_id",
    "workspace_id",
    "alias",
    "alias_type",
    "status",
    "metadata",
    "created_at",
    "updated_at",
    "revoked_at",
)


@route("POST", "/v1/principals")
def create_principal(gw: Gateway, ctx: RequestContext) -> RouteResult:
    f = Fields(ctx.body)
    now = gw.now_ts()
    principal: dict[str, Any] = {
        "principal_id": _short_id("prn"),
        "org_id": f.required_str("org_id", min_len=1),
        "workspace_id": f.required_str("workspace_id", min_len=1),
        "principal_type": f.required_str(
            "principal_type", choices=("user", "service_agent", "service_account")
        ),
        "display_name": f.str("display_name", max_len=255),
        "status": "active",
        "metadata": f.obj("metadata") or {},
        "created_at": now,
        "updated_at": now,
    }
    gw.table("principals")[principal["principal_id"]] = principal
    return 200, {"ok": True, "principal": dict(principal)}


@route("GET", "/v1/principals/{principal_id}")
def get_principal(gw: Gateway, ctx: RequestContext) -> RouteResult:
    principal = _get(gw, "principals", ctx.params["principal_id"], "principal_id")
    return 200, {"ok": True, "principal": dict(principal)}


@route("POST", "/v1/aliases")
def bind_alias(gw: Gateway, ctx: RequestContext) -> RouteResult:
    f = Fields(ctx.body)
    principal = _get(
        gw, "principals", f.required_str("principal_id", min_len=5, max_len=64), "principal_id"
    )
    alias = f.required_str("alias", min_len=3, max_len=255)
    alias_type = f.required_str("alias_type", choices=("communication", "service", "external"))
    for other in gw.table("aliases").values():
        if (
            other["alias"] == alias
            and other["status"] == "active"
            and other["org_id"] == principal["org_id"]
        ):
            raise EmulatorConflict(
                f"alias: {alias} is already bound", code="duplicate_alias", field="alias"
            )
    now = gw.now_ts()
    record = {
        "alias_id": _short_id("als"),
        "principal_id": principal["principal_id"],
        "org_id": principal["org_id"],
        "workspace_id": principal["workspace_id"],
        "alias": alias,
        "alias_type": alias_type,
        "status": "active",
        "metadata": f.obj("metadata") or {},
        "created_at": now,
        "updated_at": now,
        "revoked_at": None,
    }
    gw.table("aliases")[record["alias_id"]] = record
    return 200, {"ok": True, "alias": dict(record)}


@route("GET", "/v1/aliases")
def list_aliases(gw: Gateway, ctx: RequestContext) -> RouteResult:
    org_id, workspace_id = _scope_query(ctx, workspace_required=False)
    q = QueryFields(ctx.query)
    principal_id, status = q.str("principal_id"), q.str("status")
    items = [
        dict(a)
        for a in gw.table("aliases").values()
        if a["org_id"] == org_id
        and workspace_id in (None, a["workspace_id"])
        and principal_id in (None, a["principal_id"])
        and status in (None, a["status"])
    ]
    return 200, {"ok": True, "aliases": items[: _limit(ctx)]}


@route("POST", "/v1/aliases/{alias_id}/revoke")
def revoke_alias(gw: Gateway, ctx: RequestContext) -> RouteResult:
    record = _get(gw, "aliases", ctx.params["alias_id"], "alias_id")
    if record["status"] != "revoked":
        now = gw.now_ts()
        record.update(status="revoked", revoked_at=now, updated_at=now)
    return 200, {"ok": True, "alias": dict(record)}


def _find_alias(gw: Gateway, org_id: str, workspace_id: str | None, alias: str) -> dict[str, Any]:
    for record in gw.table("aliases").values():
        if (
            record["alias"] == alias
            and record["status"] == "active"
            and record["org_id"] == org_id
            and workspace_id in (None, record["workspace_id"])
        ):
            return record
    raise EmulatorNotFound(f"alias not found: {alias}", field="alias")


@route("GET", "/v1/aliases/resolve")
def resolve_alias(gw: Gateway, ctx: RequestContext) -> RouteResult:
    org_id, workspace_id = _scope_query(ctx, workspace_required=True)
    alias = QueryFields(ctx.query).str("alias", required=True) or ""
    record = _find_alias(gw, org_id, workspace_id, alias)
    principal = gw.table("principals")[record["principal_id"]]
    return 200, {
        "ok": True,
        "resolution": {
            "alias": dict(record),
            "principal": _pick(
                principal, ("principal_id", "principal_type", "display_name", "status")
            ),
        },
    }


# ---------------------------------------------------------------------------- routing, transports

_ROUTE_KEYS = (
    "route_id",
    "principal_id",
    "org_id",
    "workspace_id",
    "transport_type",
    "endpoint_url",
    "auth_mode",
    "region",
    "cluster_id",
    "failover_policy",
    "priority",
    "health_status",
    "status",
    "metadata",
    "created_at",
    "updated_at",
)


@route("POST", "/v1/routing/endpoints")
def register_endpoint(gw: Gateway, ctx: RequestContext) -> RouteResult:
    f = Fields(ctx.body)
    principal = _get(gw, "principals", f.required_str("principal_id", min_len=3), "principal_id")
    now = gw.now_ts()
    record = {
        "route_id": _short_id("rte"),
        "principal_id": principal["principal_id"],
        "org_id": principal["org_id"],
        "workspace_id": principal["workspace_id"],
        "transport_type": f.required_str("transport_type", choices=TRANSPORT_TYPES),
        "endpoint_url": f.required_str("endpoint_url", min_len=8, max_len=2048),
        "auth_mode": f.required_str("auth_mode", choices=("mtls", "jwt", "signed_key", "none")),
        "region": f.str("region", max_len=64),
        "cluster_id": f.str("cluster_id", max_len=128),
        "failover_policy": f.str(
            "failover_policy", choices=("none", "same_region", "cross_region"), default="none"
        ),
        "priority": f.int("priority", minimum=0, maximum=100000, default=100),
        "health_status": "healthy",
        "status": "active",
        "metadata": f.obj("metadata") or {},
        "created_at": now,
        "updated_at": now,
    }
    gw.table("routes")[record["route_id"]] = record
    return 200, {"ok": True, "route": dict(record)}


@route("GET", "/v1/routing/endpoints")
def list_endpoints(gw: Gateway, ctx: RequestContext) -> RouteResult:
    org_id, workspace_id = _scope_query(ctx, workspace_required=False)
    principal_id = QueryFields(ctx.query).str("principal_id")
    items = [
        dict(r)
        for r in gw.table("routes").values()
        if r["org_id"] == org_id
        and workspace_id in (None, r["workspace_id"])
        and principal_id in (None, r["principal_id"])
    ]
    return 200, {"ok": True, "routes": items[: _limit(ctx)]}


@route("PATCH", "/v1/routing/endpoints/{route_id}")
def update_endpoint(gw: Gateway, ctx: RequestContext) -> RouteResult:
    record = _get(gw, "routes", ctx.params["route_id"], "route_id")
    f = Fields(ctx.body)
    changes = {
        "endpoint_url": f.str("endpoint_url", min_len=8, max_len=2048),
        "auth_mode": f.str("auth_mode", choices=("mtls", "jwt", "signed_key", "none")),
        "region": f.str("region", max_len=64),
        "cluster_id": f.str("cluster_id", max_len=128),
        "failover_policy": f.str(
            "failover_policy", choices=("none", "same_region", "cross_region")
        ),
        "priority": f.int("priority", minimum=0, maximum=100000),
        "health_status": f.str(
            "health_status", choices=("healthy", "degraded", "unhealthy", "unknown")
        ),
        "status": f.str("status", choices=("active", "inactive", "draining")),
        "metadata": f.obj("metadata"),
    }
    record.update({k: v for k, v in changes.items() if v is not None}, updated_at=gw.now_ts())
    return 200, {"ok": True, "route": dict(record)}


@route("DELETE", "/v1/routing/endpoints/{route_id}")
def remove_endpoint(gw: Gateway, ctx: RequestContext) -> RouteResult:
    record = _get(gw, "routes", ctx.params["route_id"], "route_id")
    del gw.table("routes")[record["route_id"]]
    return 200, {"ok": True, "route": {"route_id": record["route_id"], "removed": True}}


def _resolve_target(gw: Gateway, f: Fields) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    org_id = f.required_str("org_id", min_len=1)
    workspace_id = f.required_str("workspace_id", min_len=1)
    alias_name = f.str("alias", min_len=3, max_len=255)
    principal_id = f.str("principal_id", min_len=3)
    if alias_name is None and principal_id is None:
        raise EmulatorValidationError("alias: alias or principal_id is required", field="alias")
    alias = None
    if alias_name is not None:
        alias = _find_alias(gw, org_id, workspace_id, alias_name)
        principal_id = alias["principal_id"]
    principal = _get(gw, "principals", principal_id or "", "principal_id")
    return alias, principal


def _routes_for(gw: Gateway, principal_id: str) -> list[dict[str, Any]]:
    candidates = [
        r
        for r in gw.table("routes").values()
        if r["principal_id"] == principal_id and r["status"] == "active"
    ]
    return sorted(candidates, key=lambda r: r["priority"])


@route("POST", "/v1/routing/resolve")
def resolve_route_(gw: Gateway, ctx: RequestContext) -> RouteResult:
    alias, principal = _resolve_target(gw, Fields(ctx.body))
    candidates = _routes_for(gw, principal["principal_id"])
    if not candidates:
        raise EmulatorNotFound("no active route for the principal", field="principal_id")
    return 200, {
        "ok": True,
        "resolution": {
            "alias": dict(alias) if alias else None,
            "principal": dict(principal),
            "selected_route": dict(candidates[0]),
            "candidate_routes": [dict(r) for r in candidates],
            "resolver_chain": ["alias", "principal_id", "endpoint_route", "transport_dispatch"],
        },
    }


@route("POST", "/v1/transports/bindings")
def upsert_binding(gw: Gateway, ctx: RequestContext) -> RouteResult:
    """Upsert by ``(principal_id, transport_type, transport_handle)``."""
    f = Fields(ctx.body)
    principal = _get(gw, "principals", f.required_str("principal_id", min_len=3), "principal_id")
    transport_type = f.required_str("transport_type", choices=TRANSPORT_TYPES)
    handle = f.required_str("transport_handle", min_len=2, max_len=255)
    table = gw.table("bindings")
    now = gw.now_ts()
    record = next(
        (
            b
            for b in table.values()
            if (b["principal_id"], b["transport_type"], b["transport_handle"])
            == (principal["principal_id"], transport_type, handle)
        ),
        None,
    )
    if record is None:
        record = {
            "binding_id": _short_id("bnd"),
            "principal_id": principal["principal_id"],
            "org_id": principal["org_id"],
            "workspace_id": principal["workspace_id"],
            "transport_type": transport_type,
            "transport_handle": handle,
            "created_at": now,
        }
        table[record["binding_id"]] = record
    record.update(
        priority=f.int("priority", minimum=0, maximum=100000, default=100),
        status=f.str("status", choices=("active", "inactive"), default="active"),
        metadata=f.obj("metadata") or {},
        updated_at=now,
    )
    return 200, {"ok": True, "binding": dict(record)}


@route("GET", "/v1/transports/bindings")
def list_bindings(gw: Gateway, ctx: RequestContext) -> RouteResult:
    org_id, workspace_id = _scope_query(ctx, workspace_required=False)
    principal_id = QueryFields(ctx.query).str("principal_id")
    items = [
        dict(b)
        for b in gw.table("bindings").values()
        if b["org_id"] == org_id
        and workspace_id in (None, b["workspace_id"])
        and principal_id in (None, b["principal_id"])
    ]
    return 200, {"ok": True, "bindings": items[: _limit(ctx)]}


@route("DELETE", "/v1/transports/bindings/{binding_id}")
def remove_binding(gw: Gateway, ctx: RequestContext) -> RouteResult:
    record = _get(gw, "bindings", ctx.params["binding_id"], "binding_id")
    del gw.table("bindings")[record["binding_id"]]
    return 200, {"ok": True, "binding": {"binding_id": record["binding_id"], "removed": True}}


# ---------------------------------------------------------------------------- deliveries


def _new_delivery(gw: Gateway, base: dict[str, Any]) -> dict[str, Any]:
    now = gw.now_ts()
    record = {**base, "delivery_id": _short_id("dlv"), "created_at": now, "updated_at": now}
    gw.table("deliveries")[record["delivery_id"]] = record
    return record


@route("POST", "/v1/deliveries")
def submit_delivery(gw: Gateway, ctx: RequestContext) -> RouteResult:
    """Resolve the target and record the delivery: ``delivered`` when the principal has an
    active route, ``pending`` otherwise (the emulator sends nothing)."""
    f = Fields(ctx.body)
    payload = f.obj("payload", required=True)
    correlation_id = f.str("correlation_id", max_len=128)
    idempotency_key = f.str("idempotency_key", max_len=128)
    alias, principal = _resolve_target(gw, f)
    routes = _routes_for(gw, principal["principal_id"])
    selected = routes[0] if routes else None
    record = _new_delivery(
        gw,
        {
            "replay_of_delivery_id": None,
            "org_id": principal["org_id"],
            "workspace_id": principal["workspace_id"],
            "principal_id": principal["principal_id"],
            "alias": alias["alias"] if alias else None,
            "transport_type": selected["transport_type"] if selected else "http",
            "route_id": selected["route_id"] if selected else "unrouted",
            "status": "delivered" if selected else "pending",
            "correlation_id": correlation_id,
            "idempotency_key": idempotency_key,
            "payload": payload,
            "error_detail": None if selected else "no active route for the principal",
        },
    )
    return 200, {"ok": True, "delivery": dict(record)}


@route("GET", "/v1/deliveries")
def list_deliveries(gw: Gateway, ctx: RequestContext) -> RouteResult:
    org_id, workspace_id = _scope_query(ctx, workspace_required=False)
    q = QueryFields(ctx.query)
    principal_id, status = q.str("principal_id"), q.str("status")
    items = [
        dict(d)
        for d in gw.table("deliveries").values()
        if d["org_id"] == org_id
        and workspace_id in (None, d["workspace_id"])
        and principal_id in (None, d["principal_id"])
        and status in (None, d["status"])
    ]
    return 200, {"ok": True, "deliveries": items[: _limit(ctx)]}


@route("GET", "/v1/deliveries/{delivery_id}")
def get_delivery(gw: Gateway, ctx: RequestContext) -> RouteResult:
    return 200, {
        "ok": True,
        "delivery": dict(_get(gw, "deliveries", ctx.params["delivery_id"], "delivery_id")),
    }


@route("POST", "/v1/deliveries/{delivery_id}/replay")
def replay_delivery(gw: Gateway, ctx: RequestContext) -> RouteResult:
    original = _get(gw, "deliveries", ctx.params["delivery_id"], "delivery_id")
    base = {
        k: v for k, v in original.items() if k not in ("delivery_id", "created_at", "updated_at")
    }
    base["replay_of_delivery_id"] = original["delivery_id"]
    return 200, {"ok": True, "delivery": dict(_new_delivery(gw, base))}


# ---------------------------------------------------------------------------- billing

_PLAN_KEYS = (
    "billing_plan_id",
    "org_id",
    "workspace_id",
    "plan_code",
    "currency",
    "billing_cycle",
    "monthly_commit_minor",
    "seats_included",
    "overage_unit_price_minor",
    "status",
    "updated_by_actor_id",
    "metadata",
    "created_at",
    "updated_at",
)


def _plan(gw: Gateway, org_id: str, workspace_id: str) -> dict[str, Any]:
    key = f"{org_id}|{workspace_id}"
    table = gw.table("billing_plans")
    if key not in table:
        now = gw.now_ts()
        table[key] = {
            "billing_plan_id": _short_id("plan"),
            "org_id": org_id,
            "workspace_id": workspace_id,
            "plan_code": "free",
            "currency": "USD",
            "billing_cycle": "monthly",
            "monthly_commit_minor": 0,
            "seats_included": 1,
            "overage_unit_price_minor": 0,
            "status": "active",
            "updated_by_actor_id": None,
            "metadata": {},
            "created_at": now,
            "updated_at": now,
        }
    return table[key]


def _invoices_for(gw: Gateway, plan: dict[str, Any]) -> list[dict[str, Any]]:
    """One draft invoice for the current month, created on first read."""
    table = gw.table("invoices")
    now = gw.now().astimezone(timezone.utc)
    start = datetime(now.year, now.month, 1, tzinfo=timezone.utc)
    end = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=timezone.utc)
    invoice_id = f"inv_{plan['billing_plan_id']}_{now.year}{now.month:02d}"
    if invoice_id not in table:
        stamp = gw.now_ts()
        table[invoice_id] = {
            "invoice_id": invoice_id,
            "org_id": plan["org_id"],
            "workspace_id": plan["workspace_id"],
            "billing_plan_id": plan["billing_plan_id"],
            "period_start": format_ts(start),
            "period_end": format_ts(end),
            "subtotal_minor": plan["monthly_commit_minor"],
            "total_minor": plan["monthly_commit_minor"],
            "currency": plan["currency"],
            "status": "draft",
            "due_at": None,
            "issued_at": None,
            "paid_at": None,
            "metadata": {},
            "created_at": stamp,
            "updated_at": stamp,
        }
    return [i for i in table.values() if i["billing_plan_id"] == plan["billing_plan_id"]]


@route("PATCH", "/v1/billing/plan")
def update_plan(gw: Gateway, ctx: RequestContext) -> RouteResult:
    f = Fields(ctx.body)
    plan = _plan(gw, f.required_str("org_id", min_len=1), f.required_str("workspace_id", min_len=1))
    plan.update(
        plan_code=f.required_str("plan_code", min_len=1, max_len=64),
        currency=f.required_str("currency", pattern=r"[A-Z]{3}"),
        billing_cycle=f.str(
            "billing_cycle", choices=("monthly", "annual"), default=plan["billing_cycle"]
        ),
        monthly_commit_minor=f.int("monthly_commit_minor", required=True, minimum=0),
        overage_unit_price_minor=f.int("overage_unit_price_minor", minimum=0, default=0),
        seats_included=f.int("seats_included", minimum=0, default=plan["seats_included"]),
        updated_by_actor_id=f.required_str("updated_by_actor_id", min_len=1),
        metadata=f.obj("metadata") or plan["metadata"],
        updated_at=gw.now_ts(),
    )
    return 200, {"ok": True, "billing_plan": _pick(plan, _PLAN_KEYS)}


@route("GET", "/v1/billing/plan")
def get_plan(gw: Gateway, ctx: RequestContext) -> RouteResult:
    org_id, workspace_id = _scope_query(ctx, workspace_required=True)
    return 200, {
        "ok": True,
        "billing_plan": _pick(_plan(gw, org_id, workspace_id or ""), _PLAN_KEYS),
    }


@route("GET", "/v1/billing/invoices")
def list_invoices(gw: Gateway, ctx: RequestContext) -> RouteResult:
    org_id, workspace_id = _scope_query(ctx, workspace_required=True)
    status = QueryFields(ctx.query).str("status")
    invoices = _invoices_for(gw, _plan(gw, org_id, workspace_id or ""))
    return 200, {
        "ok": True,
        "invoices": [dict(i) for i in invoices if status in (None, i["status"])],
    }


@route("GET", "/v1/billing/invoices/{invoice_id}")
def get_invoice(gw: Gateway, ctx: RequestContext) -> RouteResult:
    return 200, {
        "ok": True,
        "invoice": dict(_get(gw, "invoices", ctx.params["invoice_id"], "invoice_id")),
    }
