"""MCP family: JSON-RPC 2.0 calls (``initialize``, ``tools/list``, ``tools/call``) over one
HTTP endpoint (``config.mcp_endpoint_path``, default ``/mcp``).

``mcp_list_tools`` caches each tool's ``inputSchema``; ``mcp_call_tool`` then checks required
arguments and top-level JSON types before sending (ValueError), as the official SDK does.
JSON-RPC errors (HTTP 200 with an ``error`` member) become the client's HTTP error classes.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from ..errors import (
    AxmeAPIError,
    AxmeAuthError,
    AxmeRateLimitError,
    AxmeServerError,
    AxmeValidationError,
)
from ._base import FamilyMixinBase, require_str

__all__ = ["McpMixin", "check_tool_arguments", "mcp_error_from_rpc"]

logger = logging.getLogger("django_axme.client.mcp")

JSONRPC_VERSION = "2.0"
# Namespace for JSON-RPC ids derived from an idempotency key (a replay sends the same body).
_RPC_ID_NAMESPACE = uuid.UUID("6f1c3f9e-2d7a-5b8e-9a41-0c5d7e2b8f10")
_SCHEMA_CACHE_ATTR = "_mcp_tool_schemas"

_JSON_TYPE_CHECKS = {
    "null": lambda v: v is None,
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "object": lambda v: isinstance(v, Mapping),
    "array": lambda v: isinstance(v, (list, tuple)),
}


def mcp_error_from_rpc(error: Any) -> AxmeAPIError:
    """Map a JSON-RPC ``error`` member to the exception to raise.

    -32001/-32003 -> AxmeAuthError (403); -32004 -> AxmeRateLimitError (429); -32602 ->
    AxmeValidationError (422); any other code <= -32000 -> AxmeServerError (502); codes above
    -32000 -> AxmeAPIError (400). A missing or non-integer code counts as -32000. The
    exception's ``body`` is ``{"code", "message", "data"}``.
    """
    if not isinstance(error, Mapping):
        return AxmeServerError(
            502, "invalid MCP response: error is not an object", body={"error": error}
        )
    code = error.get("code")
    if isinstance(code, bool) or not isinstance(code, int):
        code = -32000
    message = error.get("message")
    if not isinstance(message, str) or not message:
        message = "MCP RPC error"
    body = {"code": code, "message": message, "data": error.get("data")}
    if code in (-32001, -32003):
        return AxmeAuthError(403, message, body=body)
    if code == -32004:
        return AxmeRateLimitError(429, message, body=body)
    if code == -32602:
        return AxmeValidationError(422, message, body=body)
    if code <= -32000:
        return AxmeServerError(502, message, body=body)
    return AxmeAPIError(400, message, body=body)


def check_tool_arguments(name: str, arguments: Mapping[str, Any], schema: Any) -> None:
    """Check ``arguments`` against a tool's ``inputSchema``: every ``required`` key present and
    each argument declared in ``properties`` of one of its declared JSON types. Anything the
    schema does not say (formats, nested shapes, extra keys) is left to the server.

    Raises ValueError naming the tool and the argument.
    """
    if not isinstance(schema, Mapping):
        return
    required = schema.get("required")
    if isinstance(required, list):
        missing = sorted(k for k in required if isinstance(k, str) and k not in arguments)
        if missing:
            raise ValueError(
                f"MCP tool {name!r} is missing required argument(s): {', '.join(missing)}"
            )
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return
    for key, value in arguments.items():
        prop = properties.get(key)
        if not isinstance(prop, Mapping):
            continue
        declared = prop.get("type")
        if isinstance(declared, str):
            accepted = [declared]
        elif isinstance(declared, list):
            accepted = [t for t in declared if isinstance(t, str)]
        else:
            accepted = []
        known = [t for t in accepted if t in _JSON_TYPE_CHECKS]
        if known and not any(_JSON_TYPE_CHECKS[t](value) for t in known):
            raise ValueError(
                f"MCP tool {name!r} argument {key!r} must be of JSON type "
                f"{' or '.join(known)}, got {type(value).__name__}"
            )


class McpMixin(FamilyMixinBase):
    def mcp_initialize(
        self, *, protocol_version: str | None = None, trace_id: str | None = None
    ) -> dict[str, Any]:
        """``initialize``; returns the ``result`` (server ``protocolVersion``, capabilities)."""
        version = protocol_version or self._config.mcp_protocol_version
        return self._mcp_request(
            "initialize", {"protocolVersion": version}, trace_id=trace_id, retryable=True
        )

    def mcp_list_tools(self, *, trace_id: str | None = None) -> dict[str, Any]:
        """``tools/list``; returns the ``result`` and replaces the cached input schemas with the
        listed tools' ``inputSchema`` objects (malformed entries are logged and skipped)."""
        result = self._mcp_request("tools/list", {}, trace_id=trace_id, retryable=True)
        tools = result.get("tools")
        if isinstance(tools, list):
            schemas: dict[str, dict[str, Any]] = {}
            for tool in tools:
                name = tool.get("name") if isinstance(tool, Mapping) else None
                schema = tool.get("inputSchema") if isinstance(tool, Mapping) else None
                if isinstance(name, str) and isinstance(schema, dict):
                    schemas[name] = schema
                else:
                    logger.warning("MCP tools/list: skipping a tool without name/inputSchema")
            self.__dict__[_SCHEMA_CACHE_ATTR] = schemas
        elif tools is not None:
            logger.warning("MCP tools/list: 'tools' is not a list; schema cache unchanged")
        return result

    def mcp_call_tool(
        self,
        name: str,
        *,
        arguments: dict[str, Any] | None = None,
        owner_agent: str | None = None,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
        validate_input_schema: bool = True,
        retryable: bool | None = None,
    ) -> dict[str, Any]:
        """``tools/call``; returns the ``result`` (``{ok, tool, status, data}`` on AXME).

        ``owner_agent`` (or ``config.default_owner_agent``) goes into ``params.owner_agent`` and,
        unless already there, ``arguments.owner_agent``; ``idempotency_key`` goes into
        ``arguments`` and the ``Idempotency-Key`` header, and fixes the JSON-RPC id so a replay
        is byte-identical. Retried only when keyed, unless ``retryable`` says otherwise.
        """
        tool = require_str("name", name).strip()
        if arguments is not None and not isinstance(arguments, Mapping):
            raise ValueError(f"arguments must be a dict, got {type(arguments).__name__}")
        args = dict(arguments or {})
        owner = owner_agent or self._config.default_owner_agent
        if owner and "owner_agent" not in args:
            args["owner_agent"] = owner
        if idempotency_key and "idempotency_key" not in args:
            args["idempotency_key"] = idempotency_key
        if validate_input_schema:
            schemas = self.__dict__.get(_SCHEMA_CACHE_ATTR) or {}
            check_tool_arguments(tool, args, schemas.get(tool))
        params: dict[str, Any] = {"name": tool, "arguments": args}
        if owner:
            params["owner_agent"] = owner
        should_retry = bool(idempotency_key) if retryable is None else retryable
        return self._mcp_request(
            "tools/call",
            params,
            trace_id=trace_id,
            retryable=should_retry,
            idempotency_key=idempotency_key or None,
        )

    def _mcp_request(
        self,
        method: str,
        params: dict[str, Any],
        *,
        trace_id: str | None,
        retryable: bool,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """POST one JSON-RPC request and return its ``result`` object.

        Raises the mapped error for a JSON-RPC ``error`` member, AxmeServerError (502) when the
        answer has neither an ``error`` nor a ``result`` object.
        """
        if idempotency_key:
            rpc_id = str(uuid.uuid5(_RPC_ID_NAMESPACE, f"{method}\n{idempotency_key}"))
        else:
            rpc_id = str(uuid.uuid4())
        payload = {"jsonrpc": JSONRPC_VERSION, "id": rpc_id, "method": method, "params": params}
        self._notify_mcp_observer(
            {"phase": "request", "method": method, "rpc_id": rpc_id, "retryable": retryable}
        )
        response = self._request(
            "POST",
            self._config.mcp_endpoint_path,
            json_body=payload,
            idempotency_key=idempotency_key,
            trace_id=trace_id,
            retryable=retryable,
        )
        if "error" in response and response["error"] is not None:
            raise mcp_error_from_rpc(response["error"])
        result = response.get("result")
        if not isinstance(result, dict):
            raise AxmeServerError(502, "invalid MCP response: missing result object", body=response)
        self._notify_mcp_observer(
            {
                "phase": "response",
                "method": method,
                "rpc_id": rpc_id,
                "result_keys": sorted(result),
            }
        )
        return result

    def _notify_mcp_observer(self, event: dict[str, Any]) -> None:
        """Pass ``event`` to ``config.mcp_observer``; an observer that raises is logged and
        never fails the call."""
        observer = self._config.mcp_observer
        if observer is None:
            return
        try:
            observer(event)
        except Exception:
            logger.exception("mcp_observer raised on a %s event", event.get("phase"))
