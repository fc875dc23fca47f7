"""Bad input never gives a 500 or a hang: auth errors, malformed JSON, wrong types, and a sweep
over every operation of the AXME OpenAPI document with junk parameters and bodies."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from django_axme.emulator.http_types import EmulatorRequest

from .conftest import API_KEY, call, intent_body, load_openapi

WRONG_VALUES: dict[str, Any] = {
    "string": 12345,
    "integer": "not-a-number",
    "number": "NaN?",
    "boolean": "yes",
    "object": "not-an-object",
    "array": {"not": "an array"},
}


def test_missing_and_unknown_keys_get_401_in_the_documented_shape(gw):
    missing = call(gw, "GET", "/v1/capabilities", api_key=None)
    assert missing.status == 401
    assert missing.body["error"]["code"] == "missing_platform_api_key"
    assert missing.body["detail"] == missing.body["error"]["message"]
    wrong = call(gw, "GET", "/v1/capabilities", api_key="nope")
    assert wrong.status == 401 and wrong.body["error"]["code"] == "invalid_platform_api_key"
    assert "nope" not in json.dumps(wrong.body)


def test_bearer_key_and_actor_token(gw):
    bearer = call(
        gw, "GET", "/v1/capabilities", api_key=None, headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert bearer.status == 200
    # x-api-key plus an actor token in Authorization: the actor token is not a key
    both = call(gw, "GET", "/v1/capabilities", headers={"Authorization": "Bearer jwt.actor"})
    assert both.status == 200
    assert (
        call(
            gw,
            "GET",
            "/v1/capabilities",
            api_key=None,
            headers={"Authorization": "Bearer jwt.actor"},
        ).status
        == 401
    )
    assert call(gw, "GET", "/health", api_key=None).status == 200


def test_any_key_when_no_keys_are_configured(clock):
    from django_axme.emulator.core import Gateway

    gw = Gateway(None, clock=clock)
    assert call(gw, "GET", "/v1/capabilities", api_key="whatever").status == 200
    assert call(gw, "GET", "/v1/capabilities", api_key=None).status == 401


@pytest.mark.parametrize(
    ("raw", "status"),
    [(b"{", 400), (b"[1, 2]", 400), (b"null", 400), (b'"text"', 400), (b"\xff\xfe", 400)],
)
def test_malformed_bodies(gw, raw, status):
    answer = call(gw, "POST", "/v1/intents", raw=raw)
    assert answer.status == status
    assert answer.body["error"]["code"] == "malformed_json"
    assert "body" in answer.body["detail"]


@pytest.mark.parametrize(
    ("field", "value", "status"),
    [
        ("intent_type", "Notify", 422),
        ("correlation_id", "not-a-uuid", 422),
        ("to_agent", "x", 422),
        ("payload", [1], 422),
        ("deadline_at", "tomorrow", 422),
        ("max_reminders", 0, 422),
        ("max_reminders", True, 422),
        ("human_task", {"description": "no title"}, 422),
        ("payload", {"blob": "x" * 140000}, 413),
    ],
)
def test_create_validation_names_the_field(gw, field, value, status):
    answer = call(gw, "POST", "/v1/intents", intent_body(**{field: value}))
    assert answer.status == status
    assert answer.body["error"]["message"].startswith(field)
    assert answer.body["error"]["field"].startswith(field)
    if status == 422:  # the OpenAPI HTTPValidationError: an array of {loc, msg, type}
        (item,) = answer.body["detail"]
        assert item["loc"][0] == "body" and item["loc"][1] == field
        assert item["msg"].startswith(field) and item["type"] == "validation_error"
    else:
        assert answer.body["detail"].startswith(field)


def test_missing_required_fields(gw):
    for field in ("intent_type", "correlation_id", "to_agent", "payload"):
        body = intent_body()
        del body[field]
        answer = call(gw, "POST", "/v1/intents", body)
        assert answer.status == 422
        assert answer.body["detail"] == [
            {"loc": ["body", field], "msg": f"{field}: field required", "type": "validation_error"}
        ]


def test_unknown_route_and_method(gw):
    assert call(gw, "GET", "/v1/nothing-here").status == 404
    assert call(gw, "DELETE", "/v1/intents").status == 405


def _resolve(spec: dict[str, Any], schema: dict[str, Any] | None) -> dict[str, Any]:
    while schema and "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema or {}


def _wrong_body(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    body = {}
    for name, prop in (_resolve(spec, schema).get("properties") or {}).items():
        prop = _resolve(spec, prop)
        kind = prop.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "string")
        body[name] = WRONG_VALUES.get(kind or "string", 12345)
    return body


def _operations():
    spec = load_openapi()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield spec, path, method.upper(), op


def test_openapi_sweep_never_500(gw):
    spec = load_openapi()
    known = gw.create_intent(intent_body())["intent_id"]
    bodies: list[bytes] = [b"", b"{", b"[]", b"{}", b'{"unexpected": {"deep": [1, {"x": null}]}}']
    seen = 0
    for spec, path, method, op in _operations():
        schema = (
            ((op.get("requestBody") or {}).get("content") or {}).get("application/json") or {}
        ).get("schema")
        op_bodies = list(bodies)
        if schema:
            op_bodies.append(json.dumps(_wrong_body(spec, schema)).encode())
        query_names = [p["name"] for p in op.get("parameters", []) if p.get("in") == "query"]
        for filler in (known, str(uuid.uuid4()), "x", "a%2Fb"):
            concrete = path
            for part in path.split("/"):
                if part.startswith("{"):
                    concrete = concrete.replace(part, filler)
            for junk_query in (
                {},
                dict.fromkeys(query_names, "-1"),
                dict.fromkeys(query_names, ""),
            ):
                for body in op_bodies:
                    req = EmulatorRequest(
                        method,
                        concrete,
                        {k: [v] for k, v in junk_query.items()},
                        {"x-api-key": API_KEY, "content-type": "application/json"},
                        body,
                    )
                    resp = gw.handle(req)
                    seen += 1
                    assert resp.status < 500, (method, concrete, junk_query, body, resp.body)
                    if resp.stream is not None:
                        resp.stream.close()
                    else:
                        assert isinstance(json.loads(resp.body), dict) or resp.status == 200
                        if resp.status >= 400:
                            assert "detail" in json.loads(resp.body)
    assert seen > 2000


def test_mcp_json_rpc_errors(gw):
    def rpc(raw: bytes) -> dict[str, Any]:
        answer = call(gw, "POST", "/mcp", raw=raw)
        assert answer.status == 200
        return answer.body

    assert rpc(b"{oops")["error"]["code"] == -32700
    assert rpc(b"[]")["error"]["code"] == -32600
    assert rpc(b'{"id": 1, "method": "initialize"}')["error"]["code"] == -32600
    unknown = rpc(b'{"jsonrpc": "2.0", "id": 7, "method": "nope"}')
    assert unknown["error"]["code"] == -32601 and unknown["id"] == 7
    bad_tool = rpc(
        json.dumps(
            {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "axme.nope"}}
        ).encode()
    )
    assert bad_tool["error"]["code"] == -32602
    missing = rpc(
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "tools/call",
                "params": {"name": "axme.check_nick", "arguments": {}},
            }
        ).encode()
    )
    assert missing["error"]["code"] == -32602 and "nick" in missing["error"]["message"]
    tools = rpc(json.dumps({"jsonrpc": "2.0", "id": 4, "method": "tools/list"}).encode())
    for tool in tools["result"]["tools"]:
        assert tool["inputSchema"]["type"] == "object"
        assert set(tool["inputSchema"]["required"]) <= set(tool["inputSchema"]["properties"])
    sent = rpc(
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 5,
                "method": "tools/call",
                "params": {
                    "name": "axme.send",
                    "owner_agent": "agent://tests/me",
                    "arguments": {"to": "agent://tests/you", "text": "hi"},
                },
            }
        ).encode()
    )
    data = sent["result"]["data"]
    intent = gw.get_intent(data["intent_id"])
    assert intent["payload"] == {"text": "hi"} and intent["from_agent"] == "agent://tests/me"
    assert sent["result"]["status"] == "completed" and sent["result"]["tool"] == "axme.send"
