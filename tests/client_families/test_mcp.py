"""MCP over JSON-RPC: request shapes, tool-schema validation, error mapping, observer."""

from __future__ import annotations

import contextlib
import logging
import uuid

import pytest

from django_axme.client import (
    AxmeAPIError,
    AxmeAuthError,
    AxmeRateLimitError,
    AxmeServerError,
    AxmeValidationError,
)
from django_axme.client.families import check_tool_arguments, mcp_error_from_rpc

from .conftest import BASE_URL, sent

MCP_URL = BASE_URL + "/mcp"
SEND_TOOL = {
    "name": "axme.send",
    "inputSchema": {
        "type": "object",
        "required": ["to", "text"],
        "properties": {
            "to": {"type": "string"},
            "text": {"type": "string"},
            "priority": {"type": ["integer", "null"]},
            "tags": {"type": "array"},
            "owner_agent": {"type": "string"},
        },
    },
}


def rpc_result(result: dict) -> dict:
    return {"jsonrpc": "2.0", "id": "x", "result": result}


def rpc_error(code, message="nope", data=None) -> dict:
    return {"jsonrpc": "2.0", "id": "x", "error": {"code": code, "message": message, "data": data}}


def _is_uuid(value: str) -> bool:
    return str(uuid.UUID(value)) == value


def test_initialize_sends_configured_protocol_version(client, rsps) -> None:
    result = {"protocolVersion": "2024-11-05", "capabilities": {"tools": {"listChanged": False}}}
    rsps.add("POST", MCP_URL, json=rpc_result(result))
    assert client.mcp_initialize() == result
    [req] = sent(rsps)
    assert req.body["jsonrpc"] == "2.0"
    assert req.body["method"] == "initialize"
    assert req.body["params"] == {"protocolVersion": "2024-11-05"}
    assert _is_uuid(req.body["id"])


def test_initialize_version_override_and_custom_endpoint(client_factory, rsps) -> None:
    client = client_factory(mcp_endpoint_path="/rpc/mcp", mcp_protocol_version="2025-01-01")
    rsps.add("POST", BASE_URL + "/rpc/mcp", json=rpc_result({"protocolVersion": "x"}))
    rsps.add("POST", BASE_URL + "/rpc/mcp", json=rpc_result({"protocolVersion": "x"}))
    client.mcp_initialize()
    client.mcp_initialize(protocol_version="2024-11-05", trace_id="t-1")
    first, second = sent(rsps)
    assert first.body["params"] == {"protocolVersion": "2025-01-01"}
    assert second.body["params"] == {"protocolVersion": "2024-11-05"}
    assert second.headers["X-Trace-Id"] == "t-1"
    assert first.body["id"] != second.body["id"]


def test_initialize_and_list_are_retried(client, rsps) -> None:
    rsps.add("POST", MCP_URL, status=503)
    rsps.add("POST", MCP_URL, json=rpc_result({"tools": []}))
    assert client.mcp_list_tools() == {"tools": []}
    assert len(rsps.calls) == 2


def test_call_tool_shape_with_owner_and_key(client, rsps) -> None:
    rsps.add("POST", MCP_URL, json=rpc_result({"ok": True, "tool": "axme.send", "status": "done"}))
    result = client.mcp_call_tool(
        "  axme.send ",
        arguments={"to": "agent://b", "text": "hi"},
        owner_agent="agent://me",
        idempotency_key="send-0001",
    )
    assert result["status"] == "done"
    [req] = sent(rsps)
    assert req.body["method"] == "tools/call"
    assert req.body["params"] == {
        "name": "axme.send",
        "arguments": {
            "to": "agent://b",
            "text": "hi",
            "owner_agent": "agent://me",
            "idempotency_key": "send-0001",
        },
        "owner_agent": "agent://me",
    }
    assert req.headers["Idempotency-Key"] == "send-0001"


def test_call_tool_keyed_replay_sends_identical_body(client, rsps) -> None:
    rsps.add("POST", MCP_URL, json=rpc_result({"tool": "t", "status": "ok"}))
    rsps.add("POST", MCP_URL, json=rpc_result({"tool": "t", "status": "ok"}))
    for _ in range(2):
        client.mcp_call_tool("t", arguments={"a": 1}, idempotency_key="k-1")
    first, second = sent(rsps)
    assert first.body == second.body
    assert _is_uuid(first.body["id"])


def test_call_tool_uses_default_owner_but_keeps_explicit_argument(client_factory, rsps) -> None:
    client = client_factory(default_owner_agent="agent://default")
    rsps.add("POST", MCP_URL, json=rpc_result({"tool": "t", "status": "ok"}))
    rsps.add("POST", MCP_URL, json=rpc_result({"tool": "t", "status": "ok"}))
    client.mcp_call_tool("t")
    client.mcp_call_tool("t", arguments={"owner_agent": "agent://explicit"})
    first, second = sent(rsps)
    assert first.body["params"] == {
        "name": "t",
        "arguments": {"owner_agent": "agent://default"},
        "owner_agent": "agent://default",
    }
    assert second.body["params"]["arguments"] == {"owner_agent": "agent://explicit"}
    assert second.body["params"]["owner_agent"] == "agent://default"


def test_call_tool_without_owner_sends_no_owner(client, rsps) -> None:
    rsps.add("POST", MCP_URL, json=rpc_result({"tool": "t", "status": "ok"}))
    client.mcp_call_tool("t", arguments={"nick": "@x"})
    [req] = sent(rsps)
    assert req.body["params"] == {"name": "t", "arguments": {"nick": "@x"}}


def test_unkeyed_call_is_not_retried(client, rsps) -> None:
    rsps.add("POST", MCP_URL, status=503)
    with pytest.raises(AxmeServerError):
        client.mcp_call_tool("t")
    assert len(rsps.calls) == 1


@pytest.mark.parametrize(
    ("kwargs", "calls"),
    [
        ({"idempotency_key": "k-9"}, 2),
        ({"retryable": True}, 2),
        ({"idempotency_key": "k", "retryable": False}, 1),
    ],
)
def test_call_retry_follows_key_or_explicit_flag(client, rsps, kwargs, calls) -> None:
    rsps.add("POST", MCP_URL, status=503)
    rsps.add("POST", MCP_URL, json=rpc_result({"tool": "t", "status": "ok"}))
    with contextlib.suppress(AxmeServerError):
        client.mcp_call_tool("t", **kwargs)
    assert len(rsps.calls) == calls


def _cache_send_tool(client, rsps) -> None:
    rsps.add("POST", MCP_URL, json=rpc_result({"tools": [SEND_TOOL, {"name": "bare"}, "junk"]}))
    client.mcp_list_tools()
    rsps.calls.reset()


def test_listed_schema_rejects_missing_required_arguments(client, rsps) -> None:
    _cache_send_tool(client, rsps)
    with pytest.raises(ValueError, match=r"axme\.send.*text, to"):
        client.mcp_call_tool("axme.send", arguments={})
    assert len(rsps.calls) == 0


@pytest.mark.parametrize(
    ("arguments", "bad"),
    [
        ({"to": 5, "text": "x"}, "to"),
        ({"to": "a", "text": "x", "priority": True}, "priority"),
        ({"to": "a", "text": "x", "priority": 1.5}, "priority"),
        ({"to": "a", "text": "x", "tags": "a,b"}, "tags"),
    ],
)
def test_listed_schema_rejects_wrong_types(client, rsps, arguments, bad) -> None:
    _cache_send_tool(client, rsps)
    with pytest.raises(ValueError, match=f"'{bad}'"):
        client.mcp_call_tool("axme.send", arguments=arguments)
    assert len(rsps.calls) == 0


def test_listed_schema_accepts_valid_arguments_and_unlisted_tools(client, rsps) -> None:
    _cache_send_tool(client, rsps)
    rsps.add("POST", MCP_URL, json=rpc_result({"tool": "axme.send", "status": "ok"}))
    rsps.add("POST", MCP_URL, json=rpc_result({"tool": "other", "status": "ok"}))
    rsps.add("POST", MCP_URL, json=rpc_result({"tool": "axme.send", "status": "ok"}))
    client.mcp_call_tool(
        "axme.send", arguments={"to": "a", "text": "b", "priority": None, "extra": {"x": 1}}
    )
    client.mcp_call_tool("other", arguments={"anything": 1})
    client.mcp_call_tool("axme.send", arguments={}, validate_input_schema=False)
    assert len(rsps.calls) == 3


def test_owner_injection_satisfies_required_owner(client, rsps) -> None:
    tool = {"name": "t", "inputSchema": {"required": ["owner_agent"], "properties": {}}}
    rsps.add("POST", MCP_URL, json=rpc_result({"tools": [tool]}))
    rsps.add("POST", MCP_URL, json=rpc_result({"tool": "t", "status": "ok"}))
    client.mcp_list_tools()
    client.mcp_call_tool("t", owner_agent="agent://o")
    with pytest.raises(ValueError, match="owner_agent"):
        client.mcp_call_tool("t")


def test_relisting_replaces_the_schema_cache(client, rsps) -> None:
    _cache_send_tool(client, rsps)
    rsps.add("POST", MCP_URL, json=rpc_result({"tools": []}))
    rsps.add("POST", MCP_URL, json=rpc_result({"tool": "axme.send", "status": "ok"}))
    client.mcp_list_tools()
    client.mcp_call_tool("axme.send", arguments={})


@pytest.mark.parametrize(
    ("code", "cls", "status"),
    [
        (-32001, AxmeAuthError, 403),
        (-32003, AxmeAuthError, 403),
        (-32004, AxmeRateLimitError, 429),
        (-32602, AxmeValidationError, 422),
        (-32000, AxmeServerError, 502),
        (-32600, AxmeServerError, 502),
        (-32601, AxmeServerError, 502),
        (-32603, AxmeServerError, 502),
        (-32700, AxmeServerError, 502),
        (-31999, AxmeAPIError, 400),
        (42, AxmeAPIError, 400),
        ("-32602", AxmeServerError, 502),
        (None, AxmeServerError, 502),
        (True, AxmeServerError, 502),
    ],
)
def test_rpc_error_mapping(client, rsps, code, cls, status) -> None:
    rsps.add("POST", MCP_URL, json=rpc_error(code, "tool failed", {"hint": 1}))
    with pytest.raises(AxmeAPIError) as info:
        client.mcp_call_tool("t")
    assert type(info.value) is cls
    assert info.value.status_code == status
    assert str(info.value) == f"HTTP {status}: tool failed"
    expected_code = code if isinstance(code, int) and not isinstance(code, bool) else -32000
    assert info.value.body == {"code": expected_code, "message": "tool failed", "data": {"hint": 1}}


def test_rpc_error_without_message_gets_a_default() -> None:
    error = mcp_error_from_rpc({"code": -32602})
    assert isinstance(error, AxmeValidationError)
    assert error.message == "MCP RPC error"
    assert error.body == {"code": -32602, "message": "MCP RPC error", "data": None}


@pytest.mark.parametrize(
    "answer",
    [{"jsonrpc": "2.0", "id": "x"}, {"result": ["not", "an", "object"]}, {"error": "denied"}],
)
def test_malformed_rpc_answers_are_server_errors(client, rsps, answer) -> None:
    rsps.add("POST", MCP_URL, json=answer)
    with pytest.raises(AxmeServerError) as info:
        client.mcp_initialize()
    assert info.value.status_code == 502
    assert "invalid MCP response" in info.value.message


def test_observer_sees_request_and_response(client_factory, rsps) -> None:
    events: list[dict] = []
    client = client_factory(mcp_observer=events.append)
    rsps.add("POST", MCP_URL, json=rpc_result({"tool": "t", "status": "ok", "data": {}}))
    client.mcp_call_tool("t", idempotency_key="k-obs")
    [req] = sent(rsps)
    assert events == [
        {"phase": "request", "method": "tools/call", "rpc_id": req.body["id"], "retryable": True},
        {
            "phase": "response",
            "method": "tools/call",
            "rpc_id": req.body["id"],
            "result_keys": ["data", "status", "tool"],
        },
    ]


def test_observer_sees_no_response_on_rpc_error(client_factory, rsps) -> None:
    events: list[dict] = []
    client = client_factory(mcp_observer=events.append)
    rsps.add("POST", MCP_URL, json=rpc_error(-32602))
    with pytest.raises(AxmeValidationError):
        client.mcp_list_tools()
    assert [e["phase"] for e in events] == ["request"]


def test_failing_observer_is_logged_and_does_not_fail_the_call(
    client_factory, rsps, caplog
) -> None:
    def observer(event: dict) -> None:
        raise RuntimeError("observer bug")

    client = client_factory(mcp_observer=observer)
    rsps.add("POST", MCP_URL, json=rpc_result({"protocolVersion": "2024-11-05"}))
    with caplog.at_level(logging.ERROR, logger="django_axme.client.mcp"):
        assert client.mcp_initialize() == {"protocolVersion": "2024-11-05"}
    assert sum("mcp_observer raised" in r.getMessage() for r in caplog.records) == 2


def test_check_tool_arguments_ignores_unknown_types_and_bad_schemas() -> None:
    check_tool_arguments("t", {"a": 1}, None)
    check_tool_arguments("t", {"a": 1}, {"properties": {"a": {"type": "uuid"}}})
    check_tool_arguments("t", {"a": 1}, {"required": "a", "properties": []})
    with pytest.raises(ValueError, match="'a'"):
        check_tool_arguments("t", {"a": 1}, {"properties": {"a": {"type": ["string", "uuid"]}}})
