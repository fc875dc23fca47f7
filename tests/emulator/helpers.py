"""Small helpers shared by the emulator tests."""

from __future__ import annotations

import json
import uuid
from typing import Any

import requests

WORKER = "agent://tests/worker"
APPROVER = "agent://tests/approver"
BOSS = "agent://tests/boss"
SENDER = "agent://tests/sender"


def intent_body(to_agent: str = WORKER, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "intent_type": "tests.work.v1",
        "correlation_id": str(uuid.uuid4()),
        "from_agent": SENDER,
        "to_agent": to_agent,
        "payload": {"n": 1},
    }
    body.update(extra)
    return body


def headers(api_key: str) -> dict[str, str]:
    return {"x-api-key": api_key, "content-type": "application/json"}


def create(base_url: str, api_key: str, to_agent: str = WORKER, **extra: Any) -> str:
    r = requests.post(
        f"{base_url}/v1/intents",
        json=intent_body(to_agent, **extra),
        headers=headers(api_key),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return r.json()["intent_id"]


def parse_frames(raw: bytes) -> list[tuple[str, Any]]:
    """Split an SSE body into (event name, decoded data) pairs; comments are skipped."""
    frames = []
    for block in raw.split(b"\n\n"):
        name, data = "message", []
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data.append(line[5:].strip())
        if data:
            frames.append((name, json.loads(b"\n".join(data))))
    return frames


def stream_events(
    base_url: str, api_key: str, intent_id: str, since: int = 0, wait_seconds: int = 2
) -> list[tuple[str, Any]]:
    r = requests.get(
        f"{base_url}/v1/intents/{intent_id}/events/stream",
        params={"since": since, "wait_seconds": wait_seconds},
        headers=headers(api_key),
        timeout=wait_seconds + 10,
    )
    assert r.status_code == 200, r.text
    return parse_frames(r.content)


def event_seqs(frames: list[tuple[str, Any]]) -> list[int]:
    return [data["seq"] for name, data in frames if name.startswith("intent.")]
