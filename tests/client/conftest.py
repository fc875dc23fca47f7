"""Fixtures for the client unit tests: a client on a fake host and a `responses` mock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from django_axme.client import AxmeClient, AxmeClientConfig

BASE = "http://axme.test"
API_KEY = "axme_sa_test_S3CRET-key-value"


def make_client(**overrides: Any) -> AxmeClient:
    options: dict[str, Any] = {
        "base_url": BASE,
        "api_key": API_KEY,
        "retry_backoff_seconds": 0.0,
        "max_retries": 2,
    }
    options.update(overrides)
    return AxmeClient(AxmeClientConfig(**options))


class SleepRecorder:
    """Replaces the client's retry sleep; records the requested delays."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> SleepRecorder:
    recorder = SleepRecorder()
    monkeypatch.setattr(AxmeClient, "_sleep", lambda self, s: recorder(s))
    return recorder


@pytest.fixture
def client(sleeps: SleepRecorder) -> Iterator[AxmeClient]:
    c = make_client()
    yield c
    c.close()


def body_of(call: Any) -> Any:
    raw = call.request.body
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode()
    return json.loads(raw)


def sse(*frames: str) -> bytes:
    """Join SSE frames (each given without its trailing blank line)."""
    return "".join(f + "\n\n" for f in frames).encode()


def event_frame(
    seq: int,
    event_type: str = "intent.in_progress",
    status: str = "IN_PROGRESS",
    intent_id: str = "it-1",
) -> str:
    data = {
        "intent_id": intent_id,
        "seq": seq,
        "event_type": event_type,
        "status": status,
        "at": "2026-01-01T00:00:00Z",
    }
    return f"id: {seq}\nevent: {event_type}\ndata: {json.dumps(data)}"


TIMEOUT_FRAME = 'event: stream.timeout\ndata: {"ok": true}'
