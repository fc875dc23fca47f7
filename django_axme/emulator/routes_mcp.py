"""MCP over JSON-RPC 2.0 at ``POST /mcp`` (reference 3.13).

Always HTTP 200 with ``{"jsonrpc": "2.0", "id", "result"}`` or ``{..., "error": {code,
message, data?}}``: -32700 parse error, -32600 invalid request, -32601 unknown method,
-32602 invalid params (unknown tool, missing or invalid argument), -32000 other tool failures
(``data`` carries the HTTP status and error code the REST route would give).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import routes_directory, routes_inbox, routes_intents
from .routes_table import RequestContext, RouteResult, route
from .state_errors import EmulatorError, EmulatorValidationError
from .state_util import new_id
from .state_validation import Fields

if TYPE_CHECKING:
    from .core import Gateway

SERVER_VERSION = "0.1.0"
DEFAULT_PROTOCOL_VERSION = "2024-11-05"


def _schema(required: list[str], **props: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": required,
        "properties": {name: {"type": kind} for name, kind in props.items()},
    }


def _tool_check_nick(gw: Gateway, args: dict[str, Any]) -> dict[str, Any]:
    raw = Fields(args).required_str("nick", min_len=1, max_len=64)
    normalized = routes_directory.normalize_nick(raw)
    taken = routes_directory._nick_taken(gw, normalized)
    return {
        "nick": "@" + normalized,
        "normalized_nick": normalized,
        "public_address": f"{normalized}@ax",
        "available": not taken,
    }


def _tool_send(gw: Gateway, args: dict[str, Any]) -> dict[str, Any]:
    f = Fields(args)
    to = f.required_str("to", min_len=3, max_len=383)
    text = f.str("text", max_len=131072)
    payload = f.obj("payload") or {}
    if text is not None:
        payload = {**payload, "text": text}
    body: dict[str, Any] = {
        "intent_type": f.str("intent_type") or "notify.message.v1",
        "correlation_id": f.uuid("correlation_id") or new_id(),
        "to_agent": to,
        "payload": payload,
    }
    owner = f.str("owner_agent")
    if owner:
        body["from_agent"] = owner
    _, created = routes_intents.create_intent(gw, body)
    return {"intent_id": created["intent_id"], "status": created["status"]}


def _tool_list_inbox(gw: Gateway, args: dict[str, Any]) -> dict[str, Any]:
    owner = Fields(args).required_str("owner_agent", min_len=3, max_len=383)
    routes_inbox.seed_thread(gw, owner)
    threads = [
        routes_inbox.thread_view(gw.threads[(owner, tid)])
        for tid in gw.thread_changes.get(owner, {})
    ]
    return {"threads": threads}


def _tool_reply(gw: Gateway, args: dict[str, Any]) -> dict[str, Any]:
    f = Fields(args)
    thread_id = f.required_str("thread_id")
    message = f.required_str("message", min_len=1, max_len=131072)
    ctx = RequestContext(
        request=None,  # type: ignore[arg-type]
        params={"thread_id": thread_id},
        body={"message": message},
        scope="mcp",
        owner_agent=f.str("owner_agent"),
    )
    _, answer = routes_inbox.reply_route(gw, ctx)  # type: ignore[misc]
    return {"thread": answer["thread"]}


def _tool_get_intent(gw: Gateway, args: dict[str, Any]) -> dict[str, Any]:
    intent_id = Fields(args).required_str("intent_id")
    return {"intent": routes_intents.intent_view(gw, routes_intents.get_record(gw, intent_id))}


Tool = tuple[str, dict[str, Any], Callable[["Gateway", dict[str, Any]], dict[str, Any]]]

TOOLS: dict[str, Tool] = {
    "axme.check_nick": (
        "Check whether a nick is available.",
        _schema(["nick"], nick="string"),
        _tool_check_nick,
    ),
    "axme.send": (
        "Send an intent (a message) to an agent address.",
        _schema(
            ["to"],
            to="string",
            text="string",
            payload="object",
            intent_type="string",
            owner_agent="string",
            idempotency_key="string",
        ),
        _tool_send,
    ),
    "axme.list_inbox": (
        "List the inbox threads of an owner.",
        _schema(["owner_agent"], owner_agent="string"),
        _tool_list_inbox,
    ),
    "axme.reply": (
        "Reply to an inbox thread.",
        _schema(
            ["thread_id", "message"], thread_id="string", message="string", owner_agent="string"
        ),
        _tool_reply,
    ),
    "axme.get_intent": (
        "Read an intent.",
        _schema(["intent_id"], intent_id="string"),
        _tool_get_intent,
    ),
}


def _error(rpc_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": rpc_id, "error": error}


def _call_tool(gw: Gateway, rpc_id: Any, params: dict[str, Any]) -> dict[str, Any]:
    name = params.get("name")
    if not isinstance(name, str) or name not in TOOLS:
        return _error(rpc_id, -32602, f"unknown tool: {name!r}", {"field": "name"})
    arguments = params.get("arguments", {})
    if not isinstance(arguments, dict):
        return _error(rpc_id, -32602, "arguments: must be an object", {"field": "arguments"})
    arguments = dict(arguments)
    owner = params.get("owner_agent")
    if isinstance(owner, str) and owner and "owner_agent" not in arguments:
        arguments["owner_agent"] = owner
    _, _, func = TOOLS[name]
    try:
        data = func(gw, arguments)
    except EmulatorValidationError as exc:
        return _error(rpc_id, -32602, exc.message, {"field": exc.field, "status": exc.status})
    except EmulatorError as exc:
        return _error(rpc_id, -32000, exc.message, {"status": exc.status, "code": exc.code})
    text = json.dumps(data, separators=(",", ":"))
    return {
        "jsonrpc": "2.0",
        "id": rpc_id,
        "result": {
            "ok": True,
            "tool": name,
            "status": "completed",
            "data": data,
            "content": [{"type": "text", "text": text}],
        },
    }


def dispatch(gw: Gateway, raw: bytes) -> dict[str, Any]:
    """Answer one JSON-RPC message (never raises for bad input)."""
    try:
        message = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return _error(None, -32700, f"parse error: {exc}")
    if not isinstance(message, dict):
        return _error(None, -32600, "invalid request: expected one JSON-RPC object")
    rpc_id = message.get("id")
    method = message.get("method")
    if message.get("jsonrpc") != "2.0" or not isinstance(method, str):
        return _error(rpc_id, -32600, "invalid request: need jsonrpc '2.0' and a method")
    params = message.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        return _error(rpc_id, -32602, "params: must be an object")
    if method == "initialize":
        version = params.get("protocolVersion")
        return {
            "jsonrpc": "2.0",
            "id": rpc_id,
            "result": {
                "protocolVersion": version
                if isinstance(version, str) and version
                else DEFAULT_PROTOCOL_VERSION,
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": {"name": "axme-emulator", "version": SERVER_VERSION},
            },
        }
    if method == "tools/list":
        tools = [
            {"name": name, "description": desc, "inputSchema": schema}
            for name, (desc, schema, _) in TOOLS.items()
        ]
        return {"jsonrpc": "2.0", "id": rpc_id, "result": {"tools": tools}}
    if method == "tools/call":
        return _call_tool(gw, rpc_id, params)
    if method == "ping" or method.startswith("notifications/"):
        return {"jsonrpc": "2.0", "id": rpc_id, "result": {}}
    return _error(rpc_id, -32601, f"method not found: {method}")


@route("POST", "/mcp", raw=True)
def mcp_route(gw: Gateway, ctx: RequestContext) -> RouteResult:
    return 200, dispatch(gw, ctx.request.body or b"")
