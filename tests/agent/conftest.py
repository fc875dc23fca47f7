"""Fixtures of the agent-side tests: a live emulator, AXME settings serving one address, and a
clean handler registry per test."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from django_axme.agent import registry

ADDRESS = "agent://tests/ws/fulfiller"
SENDER = "agent://tests/ws/sender"


@pytest.fixture
def handlers() -> Iterator[Any]:
    """The process registry, emptied for the test and restored afterwards."""
    import django_axme.agent.handlers as reg

    saved = {k: list(v) for k, v in registry._handlers.items()}
    registry.clear()
    was = reg._discovered
    reg._discovered = True  # nothing else to discover in the test project
    yield registry
    registry.clear()
    registry._handlers.update(saved)
    reg._discovered = was


@pytest.fixture
def agent_env(axme_emulator: Any, settings: Any, handlers: Any) -> SimpleNamespace:
    """``settings.AXME`` pointing at the live emulator and serving :data:`ADDRESS`, with short
    windows and no heartbeat; ``run`` enqueues inline (the Celery task's body)."""
    settings.AXME = {
        "BASE_URL": axme_emulator.url,
        "API_KEY": axme_emulator.api_key,
        "MAX_RETRIES": 0,
        "AGENT_ADDRESSES": [ADDRESS],
        "AGENT_WINDOW_SECONDS": 1,
        "AGENT_LEASE_SECONDS": 5,
        "AGENT_HEARTBEAT_SECONDS": 0,
    }
    from django_axme.agent.runner import run_job

    ran: list[str] = []

    def inline(pk: int) -> None:
        ran.append(run_job(pk, token=f"test-{pk}"))

    return SimpleNamespace(emulator=axme_emulator, inline=inline, ran=ran)


@pytest.fixture
def sdk(axme_emulator: Any) -> Iterator[Any]:
    axme_sdk = pytest.importorskip("axme_sdk", reason="the official SDK needs Python >= 3.11")
    client = axme_sdk.AxmeClient(
        axme_sdk.AxmeClientConfig(
            base_url=axme_emulator.url, api_key=axme_emulator.api_key, max_retries=2
        )
    )
    yield client
    client.close()


def send(sdk: Any, intent_type: str, payload: dict[str, Any] | None = None) -> str:
    return str(
        sdk.send_intent(
            {
                "intent_type": intent_type,
                "from_agent": SENDER,
                "to_agent": ADDRESS,
                "payload": payload or {"n": 1},
            }
        )
    )
