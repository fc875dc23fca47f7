"""``client.mesh``: routes of the SDK's MeshClient, metrics buffer and background heartbeat."""

from __future__ import annotations

import threading
import time

import pytest

from django_axme.client.families import MeshClient
from django_axme.client.families.mesh import HEARTBEAT_THREAD_NAME

from .conftest import BASE_URL, sent

HEARTBEAT_URL = BASE_URL + "/v1/mesh/heartbeat"


def _wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_mesh_is_one_lazily_created_client(client) -> None:
    seen: list[MeshClient] = []
    threads = [threading.Thread(target=lambda: seen.append(client.mesh)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert isinstance(seen[0], MeshClient)
    assert all(m is seen[0] for m in seen)


@pytest.mark.parametrize(
    ("call", "method", "path", "query"),
    [
        (lambda m: m.list_agents(), "GET", "/v1/mesh/agents", {"limit": ["100"]}),
        (
            lambda m: m.list_agents(limit=5, health="degraded"),
            "GET",
            "/v1/mesh/agents",
            {"limit": ["5"], "health": ["degraded"]},
        ),
        (lambda m: m.get_agent("addr_1"), "GET", "/v1/mesh/agents/addr_1", {}),
        (lambda m: m.kill("addr_1"), "POST", "/v1/mesh/agents/addr_1/kill", {}),
        (lambda m: m.resume("addr_1"), "POST", "/v1/mesh/agents/addr_1/resume", {}),
        (lambda m: m.list_events(), "GET", "/v1/mesh/events", {"limit": ["50"]}),
        (
            lambda m: m.list_events(limit=10, event_type="kill"),
            "GET",
            "/v1/mesh/events",
            {"limit": ["10"], "event_type": ["kill"]},
        ),
    ],
)
def test_mesh_routes(client, rsps, call, method, path, query) -> None:
    rsps.add(method, BASE_URL + path, json={"ok": True})
    assert call(client.mesh) == {"ok": True}
    [req] = sent(rsps)
    assert (req.method, req.path, req.query, req.body) == (method, path, query, None)


def test_heartbeat_body(client, rsps) -> None:
    rsps.add("POST", HEARTBEAT_URL, json={"ok": True})
    rsps.add("POST", HEARTBEAT_URL, json={"ok": True})
    rsps.add("POST", HEARTBEAT_URL, json={"ok": True})
    client.mesh.heartbeat()
    client.mesh.heartbeat(metrics={})
    client.mesh.heartbeat(metrics={"intents_total": 3}, trace_id="hb-1")
    first, second, third = sent(rsps)
    assert first.body is None and second.body is None
    assert third.body == {"metrics": {"intents_total": 3}}
    assert third.headers["X-Trace-Id"] == "hb-1"


def test_heartbeat_is_retried(client, rsps) -> None:
    rsps.add("POST", HEARTBEAT_URL, status=503)
    rsps.add("POST", HEARTBEAT_URL, json={"ok": True})
    assert client.mesh.heartbeat() == {"ok": True}
    assert len(rsps.calls) == 2


def test_report_metric_aggregates() -> None:
    mesh = MeshClient(client=None)  # type: ignore[arg-type]
    assert mesh._flush_metrics() is None
    mesh.report_metric(success=True, latency_ms=100)
    mesh.report_metric(success=False, latency_ms=300, cost_usd=0.25)
    mesh.report_metric(cost_usd=0.5)
    assert mesh._flush_metrics() == {
        "intents_total": 3,
        "intents_succeeded": 2,
        "intents_failed": 1,
        "avg_latency_ms": 200.0,
        "cost_usd": 0.75,
    }
    assert mesh._flush_metrics() is None


def test_background_heartbeat_sends_buffered_metrics_and_stops_on_close(client, rsps) -> None:
    rsps.add("POST", HEARTBEAT_URL, json={"ok": True})
    mesh = client.mesh
    mesh.report_metric(success=True, latency_ms=40)
    mesh.start_heartbeat(interval_seconds=0.05)
    mesh.start_heartbeat(interval_seconds=0.05)  # already running: no second thread
    assert [t.name for t in threading.enumerate()].count(HEARTBEAT_THREAD_NAME) == 1
    assert _wait_for(lambda: len(rsps.calls) >= 2)
    bodies = [r.body for r in sent(rsps)]
    assert bodies[0] == {
        "metrics": {
            "intents_total": 1,
            "intents_succeeded": 1,
            "intents_failed": 0,
            "avg_latency_ms": 40.0,
        }
    }
    assert bodies[1] is None, "metrics are sent once"
    client.close()
    assert not mesh.heartbeat_running
    count = len(rsps.calls)
    time.sleep(0.2)
    assert len(rsps.calls) == count


def test_failed_heartbeat_keeps_metrics_for_the_next_one(client_factory, rsps, caplog) -> None:
    client = client_factory(max_retries=0)
    rsps.add("POST", HEARTBEAT_URL, status=500, json={"error": "down"})
    rsps.add("POST", HEARTBEAT_URL, json={"ok": True})
    mesh = client.mesh
    mesh.report_metric(success=False)
    mesh.start_heartbeat(interval_seconds=0.05)
    assert _wait_for(lambda: len(rsps.calls) >= 2)
    mesh.stop_heartbeat()
    first, second = sent(rsps)[:2]
    expected = {"metrics": {"intents_total": 1, "intents_succeeded": 0, "intents_failed": 1}}
    assert first.body == second.body == expected
    assert any("mesh heartbeat failed" in r.getMessage() for r in caplog.records)
    assert not any("families_test-secret" in r.getMessage() for r in caplog.records)


def test_heartbeat_can_restart_after_stop(client, rsps) -> None:
    rsps.add("POST", HEARTBEAT_URL, json={"ok": True})
    mesh = client.mesh
    mesh.start_heartbeat(interval_seconds=0.05)
    mesh.stop_heartbeat()
    assert not mesh.heartbeat_running
    mesh.start_heartbeat(interval_seconds=0.05)
    assert mesh.heartbeat_running
    assert _wait_for(lambda: len(rsps.calls) >= 1)
    mesh.stop_heartbeat()
