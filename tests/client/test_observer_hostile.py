"""The observer task against a stream of endless keep-alives (issue 12, High 3): a 5 s window
returns on time through ``observe_intent`` -> ``observe_window_slice`` -> the client."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import connection

from django_axme import tasks
from django_axme.conf import reset_client
from django_axme.models import Intent

from . import hostile
from .conftest import API_KEY

# The task runs in a helper thread (its own connection): rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def gateway(settings):
    events = json.dumps({"ok": True, "events": []}).encode()
    behaviour = hostile.routes(
        {
            "/events/stream": hostile.sse(hostile.keepalives_forever(0.2)),
            "/events": hostile.fixed(200, events),
        }
    )
    with hostile.hostile_server(behaviour) as server:
        settings.AXME = {
            **getattr(settings, "AXME", {}),
            "BASE_URL": server.url,
            "API_KEY": API_KEY,
            "TIMEOUT_SECONDS": 0.5,
            "CONNECT_TIMEOUT_SECONDS": 0.5,
            "MAX_RETRIES": 0,
            "OBSERVE_WINDOW_SECONDS": 5,
            "OBSERVER_LEASE_SECONDS": 30,
        }
        reset_client()
        yield server
    reset_client()


def test_observe_intent_with_a_5s_window_returns_against_endless_keepalives(
    gateway, monkeypatch
) -> None:
    intent_id = str(uuid.uuid4())
    Intent.objects.create(
        intent_id=intent_id, intent_type="t.v1", status="IN_PROGRESS", payload={}, raw={}
    )
    enqueued: list[tuple] = []
    monkeypatch.setattr(
        tasks.observe_intent, "apply_async", lambda *a, **k: enqueued.append((a, k))
    )

    def run() -> object:
        try:
            return tasks.observe_intent.apply(args=(intent_id,)).get()
        finally:
            connection.close()  # the helper thread's own connection

    result, error, elapsed = hostile.run_bounded(run, 20)
    assert error is None, error
    assert result == "continued"
    assert len(enqueued) == 1  # the next slice, resuming from the stored cursor
    # window 5 s + TIMEOUT_SECONDS 0.5 + CONNECT_TIMEOUT_SECONDS 0.5
    assert 5 <= elapsed < 7.5
    assert any("/events/stream?since=0" in line for line in gateway.requests)
