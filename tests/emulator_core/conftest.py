"""Fixtures for the emulator core tests: a gateway with a controllable clock, a helper that
calls ``Gateway.handle`` directly, and JSON Schema validation against the AXME schemas
vendored in ``tests/data/axme``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cache
from typing import Any

import jsonschema
import pytest

from django_axme.emulator.core import Gateway
from django_axme.emulator.http_types import EmulatorRequest, EmulatorResponse
from django_axme.emulator.state_util import parse_ts
from tests.axme_spec import OPENAPI_PATH, PUBLIC_API_SCHEMAS

API_KEY = "axme_sa_core_test-key"


class FakeClock:
    """A settable UTC clock for the gateway."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 15, 12, 0, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class Answer:
    status: int
    body: Any
    response: EmulatorResponse


def call(
    gw: Gateway,
    method: str,
    path: str,
    body: Any = None,
    *,
    query: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
    api_key: str | None = API_KEY,
) -> Answer:
    """Send one request straight to ``Gateway.handle`` and decode the JSON answer."""
    hdrs = {"content-type": "application/json"}
    if api_key is not None:
        hdrs["x-api-key"] = api_key
    hdrs.update({k.lower(): v for k, v in (headers or {}).items()})
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    q = {k: [str(v)] for k, v in (query or {}).items()}
    resp = gw.handle(EmulatorRequest(method, path, q, hdrs, data))
    decoded = None
    if resp.stream is None and resp.body:
        decoded = json.loads(resp.body)
    return Answer(resp.status, decoded, resp)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def gw(clock: FakeClock) -> Gateway:
    return Gateway([API_KEY], clock=clock, keepalive_seconds=0.2)


def intent_body(**overrides: Any) -> dict[str, Any]:
    import uuid

    body = {
        "intent_type": "notify.message.v1",
        "correlation_id": str(uuid.uuid4()),
        "from_agent": "agent://tests/sender",
        "to_agent": "agent://tests/receiver",
        "payload": {"text": "hello"},
    }
    body.update(overrides)
    return body


# ---------------------------------------------------------------------------- JSON Schemas


def _format_checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parse_ts(value)
        return True

    @checker.checks("uri")
    def _uri(value: object) -> bool:
        return not isinstance(value, str) or value.startswith(("http://", "https://"))

    return checker


@cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    path = PUBLIC_API_SCHEMAS / f"{name}.v1.json"
    if not path.exists():
        pytest.fail(f"no such AXME schema: {path}")
    schema = json.loads(path.read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=_format_checker())


def assert_schema(name: str, payload: Any) -> None:
    """Fail with every schema error of ``payload`` against ``<name>.v1.json``."""
    errors = sorted(_validator(name).iter_errors(payload), key=lambda e: list(e.path))
    if errors:
        lines = [f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors[:10]]
        pytest.fail(f"{name} schema violations:\n" + "\n".join(lines))


def load_openapi() -> dict[str, Any]:
    if not OPENAPI_PATH.exists():
        pytest.fail(f"AXME OpenAPI document not found at {OPENAPI_PATH}")
    return json.loads(OPENAPI_PATH.read_text())
