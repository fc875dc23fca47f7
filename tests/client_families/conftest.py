"""Fixtures for the family tests: a client against a fake base URL, ``responses``, schemas."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
import responses

from tests.axme_spec import PUBLIC_API_SCHEMAS

BASE_URL = "http://axme.test"
API_KEY = "axme_sa_families_test-secret"


@cache
def _load_schema(name: str) -> dict[str, Any]:
    path = PUBLIC_API_SCHEMAS / f"{name}.v1.json"
    if not path.is_file():
        pytest.fail(f"no JSON Schema {path.name} in {PUBLIC_API_SCHEMAS}", pytrace=False)
    return json.loads(path.read_text(encoding="utf-8"))


def schema_errors(name: str, instance: Any) -> list[str]:
    """Messages of every violation of public_api schema ``name`` by ``instance`` (formats too)."""
    schema = _load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def make_client(**overrides: Any) -> Any:
    from django_axme.client import AxmeClient, AxmeClientConfig

    options: dict[str, Any] = {
        "base_url": BASE_URL,
        "api_key": API_KEY,
        "retry_backoff_seconds": 0.0,
        "retry_backoff_max_seconds": 0.0,
    }
    options.update(overrides)
    return AxmeClient(AxmeClientConfig(**options))


@pytest.fixture
def client() -> Iterator[Any]:
    c = make_client()
    yield c
    c.close()


@pytest.fixture
def client_factory() -> Iterator[Callable[..., Any]]:
    made: list[Any] = []

    def factory(**overrides: Any) -> Any:
        c = make_client(**overrides)
        made.append(c)
        return c

    yield factory
    for c in made:
        c.close()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


class SentRequest:
    """What one captured call put on the wire."""

    def __init__(self, call: Any) -> None:
        request = call.request
        split = urlsplit(request.url)
        self.method: str = request.method
        self.path: str = split.path
        self.raw_path: str = request.path_url.split("?", 1)[0]
        self.query: dict[str, list[str]] = parse_qs(split.query, keep_blank_values=True)
        self.headers = request.headers
        body = request.body
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        self.body: Any = json.loads(body) if body else None


def sent(mock: responses.RequestsMock) -> list[SentRequest]:
    return [SentRequest(call) for call in mock.calls]
