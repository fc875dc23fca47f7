"""Capabilities, invites, media uploads, the schema registry, user nicks, webhooks and human
tasks (reference 3.5-3.10). Records live in :meth:`Gateway.table`; functions expect the
gateway lock to be held.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .http_types import EmulatorResponse
from .routes_table import RequestContext, RouteResult, route
from .state_errors import EmulatorConflict, EmulatorNotFound, EmulatorValidationError
from .state_util import canonical_json, format_ts, new_id, parse_ts, sha256_hex
from .state_validation import Fields, QueryFields

if TYPE_CHECKING:
    from .core import Gateway

CAPABILITIES = [
    "intents",
    "inbox",
    "approvals",
    "webhooks",
    "invites",
    "media",
    "schemas",
    "users",
    "agents",
    "mcp",
]
SUPPORTED_INTENT_TYPES = [
    "intent.ask.v1",
    "intent.notify.v1",
    "intent.approval.v1",
    "intent.task.v1",
]
NICK_PATTERN = r"[\w.-]{3,32}"
MAX_MEDIA_BYTES = 104857600
MEDIA_BUCKET = "axme-emulator-media"
SEMANTIC_TYPE_PATTERN = r"[a-z0-9_]+(?:\.[a-z0-9_]+){1,}\.v[0-9]+"
_JSON_SCHEMA_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


def base_url(gw: Gateway, ctx: RequestContext) -> str:
    """The URL clients reached us at (from ``Host``), else ``gw.public_base_url``."""
    host = (ctx.request.headers.get("host") or "").strip()
    if host and re.fullmatch(r"[A-Za-z0-9.\-:\[\]]+", host):
        scheme = ctx.request.headers.get("x-forwarded-proto", "http")
        return f"{'https' if scheme == 'https' else 'http'}://{host}"
    return gw.public_base_url


# ---------------------------------------------------------------------------- capabilities


@route("GET", "/v1/capabilities")
def capabilities_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    return 200, {
        "ok": True,
        "capabilities": list(CAPABILITIES),
        "supported_intent_types": list(SUPPORTED_INTENT_TYPES),
    }


# ---------------------------------------------------------------------------- users


def normalize_nick(raw: str, field: str = "nick") -> str:
    """Trim, drop a leading ``@``, lower-case; 422 unless 3-32 of ``[A-Za-z0-9_.-]``."""
    normalized = raw.strip().lstrip("@").lower()
    if not re.fullmatch(NICK_PATTERN, normalized):
        raise EmulatorValidationError(
            f"{field}: must be 3-32 letters, digits, '_', '.' or '-' (after an optional '@')",
            field=field,
        )
    return normalized


def _nick_taken(gw: Gateway, normalized: str, except_user: str | None = None) -> bool:
    owner = gw.table("nicks").get(normalized)
    return owner is not None and owner["user_id"] != except_user


def _user_view(user: dict[str, Any], *keys: str) -> dict[str, Any]:
    view: dict[str, Any] = {"ok": True}
    for key in keys:
        view[key] = user.get(key)
    return view


def _new_user(
    gw: Gateway,
    normalized: str,
    *,
    display_name: str | None,
    phone: str | None,
    email: str | None,
    index: bool = True,
) -> dict[str, Any]:
    user_id = new_id()
    now = gw.now_ts()
    user: dict[str, Any] = {
        "user_id": user_id,
        "owner_agent": f"agent://user/{user_id}",
        "nick": "@" + normalized,
        "normalized_nick": normalized,
        "public_address": f"{normalized}@ax",
        "display_name": display_name,
        "phone": phone,
        "email": email,
        "created_at": now,
        "updated_at": now,
    }
    gw.table("users")[user["owner_agent"]] = user
    if index:
        gw.table("nicks")[normalized] = user
    return user


def _user_by_owner(gw: Gateway, owner_agent: str) -> dict[str, Any]:
    user = gw.table("users").get(owner_agent)
    if user is None:
        raise EmulatorNotFound(f"owner not found: {owner_agent}", field="owner_agent")
    return user


def _set_nick(gw: Gateway, user: dict[str, Any], raw: str) -> None:
    normalized = normalize_nick(raw)
    if _nick_taken(gw, normalized, except_user=user["user_id"]):
        raise EmulatorConflict(
            f"nick already registered: @{normalized}", code="nick_taken", field="nick"
        )
    nicks = gw.table("nicks")
    if nicks.get(user["normalized_nick"]) is user:
        del nicks[user["normalized_nick"]]
    user.update(
        nick="@" + normalized, normalized_nick=normalized, public_address=f"{normalized}@ax"
    )
    nicks[normalized] = user


def _contact_fields(f: Fields) -> dict[str, Any]:
    return {
        "display_name": f.str("display_name", min_len=1, max_len=120),
        "phone": f.str("phone", min_len=3, max_len=32),
        "email": f.str("email", min_len=3, max_len=255),
    }


@route("GET", "/v1/users/check-nick")
def check_nick_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    raw = QueryFields(ctx.query).str("nick", required=True) or ""
    normalized = normalize_nick(raw)
    return 200, {
        "ok": True,
        "nick": "@" + normalized,
        "normalized_nick": normalized,
        "public_address": f"{normalized}@ax",
        "available": not _nick_taken(gw, normalized),
    }


@route("GET", "/v1/users/resolve-nick")
def resolve_nick_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    raw = QueryFields(ctx.query).str("nick", required=True) or ""
    normalized = normalize_nick(raw)
    user = gw.table("nicks").get(normalized)
    answer: dict[str, Any] = {
        "ok": True,
        "resolved": user is not None,
        "nick": "@" + normalized,
        "normalized_nick": normalized,
        "public_address": f"{normalized}@ax",
    }
    if user is not None:
        for key in ("owner_agent", "display_name", "phone", "email"):
            answer[key] = user[key]
    return 200, answer


@route("POST", "/v1/users/register-nick")
def register_nick_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    f = Fields(ctx.body)
    normalized = normalize_nick(f.required_str("nick", min_len=1, max_len=64))
    contact = _contact_fields(f)
    if _nick_taken(gw, normalized):
        raise EmulatorConflict(
            f"nick already registered: @{normalized}", code="nick_taken", field="nick"
        )
    user = _new_user(gw, normalized, **contact)
    return 200, _user_view(
        user,
        "user_id",
        "owner_agent",
        "nick",
        "public_address",
        "display_name",
        "phone",
        "email",
        "created_at",
    )


@route("POST", "/v1/users/rename-nick")
def rename_nick_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    f = Fields(ctx.body)
    owner_agent = f.required_str("owner_agent", min_len=3, max_len=383)
    nick = f.required_str("nick", min_len=1, max_len=64)
    contact = _contact_fields(f)
    user = _user_by_owner(gw, owner_agent)
    _set_nick(gw, user, nick)
    user.update({k: v for k, v in contact.items() if v is not None})
    user["updated_at"] = gw.now_ts()
    view = _user_view(
        user, "user_id", "owner_agent", "nick", "public_address", "display_name", "phone", "email"
    )
    view["renamed_at"] = user["updated_at"]
    return 200, view


_PROFILE_KEYS = (
    "user_id",
    "owner_agent",
    "nick",
    "normalized_nick",
    "public_address",
    "display_name",
    "phone",
    "email",
    "updated_at",
)


@route("GET", "/v1/users/profile")
def profile_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    owner_agent = QueryFields(ctx.query).str("owner_agent", required=True) or ""
    return 200, _user_view(_user_by_owner(gw, owner_agent), *_PROFILE_KEYS)


@route("POST", "/v1/users/profile/update")
def profile_update_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    f = Fields(ctx.body)
    owner_agent = f.required_str("owner_agent", min_len=3, max_len=383)
    nick = f.str("nick", min_len=1, max_len=64)
    contact = _contact_fields(f)
    user = _user_by_owner(gw, owner_agent)
    if nick is not None:
        _set_nick(gw, user, nick)
    user.update({k: v for k, v in contact.items() if v is not None})
    user["updated_at"] = gw.now_ts()
    return 200, _user_view(user, *_PROFILE_KEYS)


# ---------------------------------------------------------------------------- invites


def _invite(gw: Gateway, token: str) -> dict[str, Any]:
    invite = gw.table("invites").get(token)
    if invite is None:
        raise EmulatorNotFound("invite not found", field="token")
    if invite["status"] == "pending" and parse_ts(invite["expires_at"]) <= gw.now():
        invite["status"] = "expired"
    return invite


@route("POST", "/v1/invites/create")
def create_invite_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    f = Fields(ctx.body)
    owner_agent = f.required_str("owner_agent", min_len=3, max_len=255)
    hint = f.str("recipient_hint", min_len=1, max_len=255)
    ttl = f.int("ttl_seconds", minimum=60, maximum=1209600, default=604800) or 604800
    token = secrets.token_urlsafe(24)
    now = gw.now()
    invite = {
        "token": token,
        "owner_agent": owner_agent,
        "recipient_hint": hint,
        "status": "pending",
        "created_at": format_ts(now),
        "expires_at": format_ts(now + timedelta(seconds=ttl)),
        "accepted_at": None,
        "accepted_owner_agent": None,
        "nick": None,
        "public_address": None,
    }
    gw.table("invites")[token] = invite
    return 200, {
        "ok": True,
        "token": token,
        "invite_url": f"{base_url(gw, ctx)}/invites/{token}",
        **{
            k: invite[k]
            for k in ("owner_agent", "recipient_hint", "status", "created_at", "expires_at")
        },
    }


@route("GET", "/v1/invites/{token}")
def get_invite_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    return 200, {"ok": True, **_invite(gw, ctx.params["token"])}


@route("POST", "/v1/invites/{token}/accept")
def accept_invite_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    """Accept once; the nick is bound in the registry when free (``registry_bind_status``
    ``propagated``), otherwise the user is created without it (``failed``)."""
    f = Fields(ctx.body)
    nick = f.required_str("nick", min_len=1, max_len=64)
    display_name = f.str("display_name", min_len=1, max_len=120)
    normalized = normalize_nick(nick)
    invite = _invite(gw, ctx.params["token"])
    if invite["status"] != "pending":
        raise EmulatorConflict(f"invite is {invite['status']}", code="invite_not_pending")
    free = not _nick_taken(gw, normalized)
    user = _new_user(gw, normalized, display_name=display_name, phone=None, email=None, index=free)
    invite.update(
        status="accepted",
        accepted_at=gw.now_ts(),
        accepted_owner_agent=user["owner_agent"],
        nick=user["nick"],
        public_address=user["public_address"],
    )
    return 200, {
        "ok": True,
        "token": invite["token"],
        "status": "accepted",
        "invite_owner_agent": invite["owner_agent"],
        "user_id": user["user_id"],
        "owner_agent": user["owner_agent"],
        "nick": user["nick"],
        "public_address": user["public_address"],
        "display_name": display_name,
        "accepted_at": invite["accepted_at"],
        "registry_bind_status": "propagated" if free else "failed",
    }


# ---------------------------------------------------------------------------- media


def _upload(gw: Gateway, upload_id: str) -> dict[str, Any]:
    upload = gw.table("media").get(upload_id)
    if upload is None:
        raise EmulatorNotFound(f"upload not found: {upload_id}", field="upload_id")
    if upload["status"] == "pending" and parse_ts(upload["expires_at"]) <= gw.now():
        upload["status"] = "expired"
    return upload


_UPLOAD_KEYS = (
    "upload_id",
    "owner_agent",
    "bucket",
    "object_path",
    "mime_type",
    "filename",
    "size_bytes",
    "sha256",
    "status",
    "created_at",
    "expires_at",
    "finalized_at",
    "download_url",
    "preview_url",
)


@route("POST", "/v1/media/create-upload")
def create_upload_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    f = Fields(ctx.body)
    owner_agent = f.required_str("owner_agent", min_len=3, max_len=383)
    filename = f.required_str("filename", min_len=1, max_len=255)
    mime_type = f.required_str("mime_type", min_len=3, max_len=255)
    size = f.int("size_bytes", required=True, minimum=1, maximum=2**31)
    sha256 = f.str("sha256", pattern=r"[a-f0-9]{64}")
    ttl = f.int("ttl_seconds", minimum=60, maximum=604800, default=3600) or 3600
    assert size is not None
    if size > MAX_MEDIA_BYTES:
        raise EmulatorValidationError(
            f"size_bytes: {size} exceeds the {MAX_MEDIA_BYTES} byte limit",
            status=413,
            code="payload_too_large",
            field="size_bytes",
        )
    upload_id = new_id()
    now = gw.now()
    safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    upload = {
        "upload_id": upload_id,
        "owner_agent": owner_agent,
        "bucket": MEDIA_BUCKET,
        "object_path": f"uploads/{upload_id}/{safe_name}",
        "mime_type": mime_type,
        "filename": filename,
        "size_bytes": size,
        "sha256": sha256,
        "status": "pending",
        "created_at": format_ts(now),
        "expires_at": format_ts(now + timedelta(seconds=ttl)),
        "finalized_at": None,
        "download_url": None,
        "preview_url": None,
        "_content": None,
    }
    gw.table("media")[upload_id] = upload
    return 200, {
        "ok": True,
        **{k: upload[k] for k in ("upload_id", "owner_agent", "bucket", "object_path")},
        "upload_url": f"{base_url(gw, ctx)}/v1/media/upload/{upload_id}",
        "status": "pending",
        "expires_at": upload["expires_at"],
        "max_size_bytes": MAX_MEDIA_BYTES,
    }


@route("PUT", "/v1/media/upload/{upload_id}")
def put_upload_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    upload = _upload(gw, ctx.params["upload_id"])
    if upload["status"] != "pending":
        raise EmulatorConflict(f"upload is {upload['status']}", code="upload_not_pending")
    content = ctx.request.body or b""
    if len(content) > upload["size_bytes"]:
        raise EmulatorValidationError(
            f"body: {len(content)} bytes exceeds the declared size_bytes {upload['size_bytes']}",
            status=413,
            code="payload_too_large",
            field="body",
        )
    upload["_content"] = content
    return 200, {"ok": True, "upload_id": upload["upload_id"], "received_bytes": len(content)}


@route("GET", "/v1/media/{upload_id}")
def get_upload_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    upload = _upload(gw, ctx.params["upload_id"])
    return 200, {"ok": True, "upload": {k: upload[k] for k in _UPLOAD_KEYS}}


@route("POST", "/v1/media/finalize-upload")
def finalize_upload_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    """Mark the upload ready. Uploaded bytes (if any) must match ``size_bytes``/``sha256``;
    without bytes the declared size must match (the emulator trusts the client)."""
    f = Fields(ctx.body)
    upload_id = f.uuid("upload_id", required=True) or ""
    size = f.int("size_bytes", required=True, minimum=1, maximum=2**31)
    sha256 = f.str("sha256", pattern=r"[a-f0-9]{64}")
    upload = _upload(gw, upload_id)
    if upload["status"] == "expired":
        raise EmulatorConflict("upload expired", code="upload_expired")
    content = upload["_content"]
    actual = len(content) if content is not None else upload["size_bytes"]
    if size != actual:
        raise EmulatorConflict(
            f"size_bytes: {size} does not match {actual}", code="size_mismatch", field="size_bytes"
        )
    if content is not None and sha256 and hashlib.sha256(content).hexdigest() != sha256:
        raise EmulatorConflict(
            "sha256: does not match the uploaded bytes", code="checksum_mismatch", field="sha256"
        )
    if upload["status"] == "pending":
        upload.update(
            status="ready",
            size_bytes=size,
            sha256=sha256 or upload["sha256"],
            finalized_at=gw.now_ts(),
            download_url=f"{base_url(gw, ctx)}/v1/media/download/{upload_id}",
            preview_url=f"{base_url(gw, ctx)}/v1/media/preview/{upload_id}",
        )
    return 200, {
        "ok": True,
        **{
            k: upload[k]
            for k in (
                "upload_id",
                "owner_agent",
                "bucket",
                "object_path",
                "mime_type",
                "size_bytes",
                "sha256",
                "status",
                "finalized_at",
            )
        },
    }


@route("GET", "/v1/media/download/{upload_id}")
@route("GET", "/v1/media/preview/{upload_id}")
def download_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    upload = _upload(gw, ctx.params["upload_id"])
    if upload["status"] != "ready" or upload["_content"] is None:
        raise EmulatorNotFound("no uploaded content for this upload", field="upload_id")
    return EmulatorResponse(200, {"content-type": upload["mime_type"]}, upload["_content"])


# ---------------------------------------------------------------------------- schemas


def _check_json_schema(schema: dict[str, Any], path: str = "schema_json") -> None:
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    for item in kinds:
        if item not in _JSON_SCHEMA_TYPES:
            raise EmulatorValidationError(
                f"{path}.type: unknown JSON Schema type {item!r}", status=400, field=path
            )
    props = schema.get("properties")
    if props is not None:
        if not isinstance(props, dict):
            raise EmulatorValidationError(
                f"{path}.properties: must be an object", status=400, field=path
            )
        for name, sub in props.items():
            if not isinstance(sub, dict | bool):
                raise EmulatorValidationError(
                    f"{path}.properties.{name}: must be a schema object", status=400, field=path
                )
            if isinstance(sub, dict):
                _check_json_schema(sub, f"{path}.properties.{name}")
    required = schema.get("required")
    if required is not None and (
        not isinstance(required, list) or not all(isinstance(r, str) for r in required)
    ):
        raise EmulatorValidationError(
            f"{path}.required: must be an array of strings", status=400, field=path
        )


@route("POST", "/v1/schemas")
def upsert_schema_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    """Upsert by ``(semantic_type, owner scope)``; ``schema_hash`` = SHA-256 of the canonical
    JSON of ``schema_json``."""
    f = Fields(ctx.body)
    semantic_type = f.required_str("semantic_type", max_len=255, pattern=SEMANTIC_TYPE_PATTERN)
    schema_json = f.obj("schema_json", required=True)
    assert schema_json is not None
    _check_json_schema(schema_json)
    schema_ref = f.str("schema_ref", min_len=1, max_len=512)
    mode = f.required_str("compatibility_mode", choices=("strict", "backward", "warn"))
    scope = f.str("scope", choices=("tenant", "core"), default="tenant") or "tenant"
    active = f.bool("active", default=True)
    owner = ctx.owner_agent
    digest = sha256_hex(canonical_json(schema_json))
    key = f"{owner or ''}|{semantic_type}"
    table = gw.table("schemas")
    now = gw.now_ts()
    record = table.get(key)
    if record is None:
        record = {"semantic_type": semantic_type, "owner_agent": owner, "created_at": now}
        table[key] = record
    record.update(
        schema_ref=schema_ref or f"registry://{owner or 'tenant'}/{semantic_type}@{digest[:12]}",
        schema_hash=digest,
        compatibility_mode=mode,
        scope=scope,
        active=active,
        schema_json=schema_json,
        updated_at=now,
    )
    view = {k: v for k, v in record.items() if k != "schema_json"}
    return 200, {"ok": True, "schema": view}


@route("GET", "/v1/schemas/{semantic_type}")
def get_schema_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    semantic_type = ctx.params["semantic_type"]
    table = gw.table("schemas")
    for key in (f"{ctx.owner_agent or ''}|{semantic_type}", f"|{semantic_type}"):
        record = table.get(key)
        if record is not None and record["active"]:
            return 200, {"ok": True, "schema": dict(record)}
    raise EmulatorNotFound(f"no active schema for {semantic_type}", field="semantic_type")


# ---------------------------------------------------------------------------- webhooks


def _webhook_owner(gw: Gateway, ctx: RequestContext) -> str:
    from .core import DEFAULT_WEBHOOK_OWNER

    return ctx.owner_agent or DEFAULT_WEBHOOK_OWNER


def _visible(sub: dict[str, Any], owner: str | None) -> bool:
    from .core import DEFAULT_WEBHOOK_OWNER

    return owner is None or sub["owner_agent"] in (owner, DEFAULT_WEBHOOK_OWNER)


_SUB_KEYS = (
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
)


@route("POST", "/v1/webhooks/subscriptions")
def upsert_subscription_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    """Upsert by ``(owner, callback_url)``. Without an owner scope the subscription belongs to
    the default owner, which any owner-scoped list or delete may see and revoke."""
    f = Fields(ctx.body)
    callback_url = f.required_str("callback_url", min_len=8, max_len=2048, pattern=r"https?://\S+")
    event_types = f.str_list(
        "event_types", required=True, min_items=1, item_min_len=3, item_max_len=120
    )
    secret = f.str("secret", min_len=16, max_len=128)
    active = f.bool("active", default=True)
    description = f.str("description", max_len=255)
    owner = _webhook_owner(gw, ctx)
    table = gw.table("webhook_subscriptions")
    now = gw.now_ts()
    sub = next(
        (
            s
            for s in table.values()
            if s["owner_agent"] == owner and s["callback_url"] == callback_url
        ),
        None,
    )
    if sub is None:
        sub = {
            "subscription_id": new_id(),
            "owner_agent": owner,
            "callback_url": callback_url,
            "created_at": now,
            "secret_hint": None,
        }
        table[sub["subscription_id"]] = sub
    sub.update(
        event_types=event_types,
        active=active,
        description=description,
        updated_at=now,
        revoked_at=None if active else now,
    )
    if secret is not None:
        sub["secret_hint"] = "****" + secret[-4:]
        sub["_secret"] = secret  # signs deliveries; never returned (only _SUB_KEYS are)
    return 200, {"ok": True, "subscription": {k: sub[k] for k in _SUB_KEYS}}


@route("GET", "/v1/webhooks/subscriptions")
def list_subscriptions_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    include_inactive = QueryFields(ctx.query).bool("include_inactive")
    subs = [
        {k: s[k] for k in _SUB_KEYS}
        for s in gw.table("webhook_subscriptions").values()
        if _visible(s, ctx.owner_agent) and (include_inactive or s["active"])
    ]
    return 200, {"ok": True, "subscriptions": subs}


@route("DELETE", "/v1/webhooks/subscriptions/{subscription_id}")
def delete_subscription_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    sub = gw.table("webhook_subscriptions").get(ctx.params["subscription_id"])
    if sub is None or not _visible(sub, ctx.owner_agent):
        raise EmulatorNotFound("subscription not found", field="subscription_id")
    if sub["revoked_at"] is None:
        sub.update(active=False, revoked_at=gw.now_ts(), updated_at=gw.now_ts())
    return 200, {
        "ok": True,
        "subscription_id": sub["subscription_id"],
        "revoked_at": sub["revoked_at"],
    }


def _delivery_counters(gw: Gateway, owner: str, event_type: str) -> dict[str, int]:
    matching = [
        s
        for s in gw.table("webhook_subscriptions").values()
        if s["active"] and _visible(s, owner) and event_type in s["event_types"]
    ]
    return {
        "queued_deliveries": len(matching),
        "processed_deliveries": 0,
        "delivered": 0,
        "pending": len(matching),
        "dead_lettered": 0,
    }


@route("POST", "/v1/webhooks/events")
def publish_event_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    """Record the event and queue a delivery per matching subscription (POSTed by
    ``gw.webhooks``, see ``webhook_delivery.py``; without one, only counted as pending)."""
    f = Fields(ctx.body)
    event_type = f.required_str("event_type", min_len=3, max_len=120)
    source = f.required_str("source", min_len=2, max_len=100)
    payload = f.obj("payload", required=True)
    owner = _webhook_owner(gw, ctx)
    if gw.webhooks is not None:
        published = gw.webhooks.publish(owner, event_type, payload, source=source)
        return 200, {
            "ok": True,
            "accepted_at": published["accepted_at"],
            "event_type": event_type,
            "source": source,
            "owner_agent": owner,
            "event_id": published["event_id"],
            **published["counters"],
        }
    event: dict[str, Any] = {
        "event_id": new_id(),
        "owner_agent": owner,
        "event_type": event_type,
        "source": source,
        "payload": payload,
        "accepted_at": gw.now_ts(),
    }
    gw.table("webhook_events")[event["event_id"]] = event
    return 200, {
        "ok": True,
        "accepted_at": event["accepted_at"],
        "event_type": event_type,
        "source": source,
        "owner_agent": owner,
        "event_id": event["event_id"],
        **_delivery_counters(gw, owner, event_type),
    }


@route("POST", "/v1/webhooks/events/{event_id}/replay")
def replay_event_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    event = gw.table("webhook_events").get(ctx.params["event_id"])
    if event is None or not _visible(event, ctx.owner_agent):
        raise EmulatorNotFound("webhook event not found", field="event_id")
    if gw.webhooks is not None:
        counters = gw.webhooks.replay(event)
    else:
        counters = _delivery_counters(gw, event["owner_agent"], event["event_type"])
    return 200, {
        "ok": True,
        "event_id": event["event_id"],
        "owner_agent": event["owner_agent"],
        "event_type": event["event_type"],
        **counters,
        "replayed_at": gw.now_ts(),
    }


# ---------------------------------------------------------------------------- human tasks


@route("GET", "/v1/me/tasks")
def my_tasks_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    """Intents waiting for a human, optionally only those assigned to the owner scope."""
    tasks = []
    for rec in gw.intents.values():
        task = rec.get("open_task")
        if rec["status"] != "WAITING" or not task:
            continue
        if ctx.owner_agent and task["owner_agent"] != ctx.owner_agent:
            continue
        item = {
            "intent_id": rec["intent_id"],
            "intent_type": rec["intent_type"],
            "status": "WAITING",
            "from_agent": rec["from_agent"],
            "assigned_at": rec["updated_at"],
            "human_task": task["human_task"],
        }
        if rec.get("deadline_at"):
            item["due_at"] = rec["deadline_at"]
        tasks.append(item)
    return 200, {"ok": True, "tasks": tasks}
