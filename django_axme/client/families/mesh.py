"""Agent mesh: heartbeats with buffered metrics, agent health, kill switch, mesh events.

``client.mesh`` returns one :class:`MeshClient` per client, created on first use. The optional
background heartbeat is a daemon thread; closing the client stops it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from ._base import FamilyMixinBase, optional_params, path_segment, require_int

__all__ = ["MeshClient", "MeshMixin"]

logger = logging.getLogger("django_axme.client.mesh")

HEARTBEAT_THREAD_NAME = "axme-mesh-heartbeat"


class _RequestSender(Protocol):
    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json_body: Any = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]: ...


@dataclass
class _MetricsBuffer:
    """Metric observations not yet sent with a heartbeat."""

    total: int = 0
    succeeded: int = 0
    failed: int = 0
    latency_sum_ms: float = 0.0
    latency_samples: int = 0
    cost_usd: float = 0.0
    cost_samples: int = 0

    def add(self, other: _MetricsBuffer) -> None:
        self.total += other.total
        self.succeeded += other.succeeded
        self.failed += other.failed
        self.latency_sum_ms += other.latency_sum_ms
        self.latency_samples += other.latency_samples
        self.cost_usd += other.cost_usd
        self.cost_samples += other.cost_samples

    def as_metrics(self) -> dict[str, Any] | None:
        """The heartbeat ``metrics`` object, or None when nothing was observed."""
        if not self.total:
            return None
        metrics: dict[str, Any] = {
            "intents_total": self.total,
            "intents_succeeded": self.succeeded,
            "intents_failed": self.failed,
        }
        if self.latency_samples:
            metrics["avg_latency_ms"] = self.latency_sum_ms / self.latency_samples
        if self.cost_samples:
            metrics["cost_usd"] = self.cost_usd
        return metrics


class MeshClient:
    """Mesh operations of one client (``client.mesh``); same methods as the SDK's MeshClient.

    Thread-safe: metrics may be reported from any thread while the heartbeat thread sends them.
    """

    def __init__(self, client: _RequestSender) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._buffer = _MetricsBuffer()
        self._heartbeat_thread: threading.Thread | None = None
        self._heartbeat_stop = threading.Event()

    # -- heartbeat ---------------------------------------------------------------------------
    def heartbeat(
        self,
        *,
        metrics: dict[str, Any] | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/mesh/heartbeat``, with ``{"metrics": ...}`` when metrics are given, else
        no body. Retried on transport errors, 429 and 5xx (heartbeats are harmless to repeat)."""
        if metrics is not None and not isinstance(metrics, dict):
            raise ValueError(f"metrics must be a dict, got {type(metrics).__name__}")
        return self._client._request(
            "POST",
            "/v1/mesh/heartbeat",
            json_body={"metrics": metrics} if metrics else None,
            trace_id=trace_id,
        )

    def start_heartbeat(
        self,
        *,
        interval_seconds: float = 30.0,
        include_metrics: bool = True,
    ) -> None:
        """Send a heartbeat every ``interval_seconds`` from a daemon thread (first one after one
        interval). Does nothing if the thread already runs. A failed heartbeat is logged and its
        metrics are kept for the next one."""
        if isinstance(interval_seconds, bool) or not isinstance(interval_seconds, (int, float)):
            raise ValueError("interval_seconds must be a number")
        if interval_seconds <= 0:
            raise ValueError(f"interval_seconds must be > 0, got {interval_seconds!r}")
        with self._lock:
            if self._heartbeat_thread is not None and self._heartbeat_thread.is_alive():
                return
            self._heartbeat_stop = threading.Event()
            thread = threading.Thread(
                target=self._heartbeat_loop,
                args=(self._heartbeat_stop, float(interval_seconds), include_metrics),
                daemon=True,
                name=HEARTBEAT_THREAD_NAME,
            )
            self._heartbeat_thread = thread
        thread.start()

    def stop_heartbeat(self) -> None:
        """Stop the heartbeat thread (waits up to 5 s for a heartbeat in flight)."""
        with self._lock:
            thread, self._heartbeat_thread = self._heartbeat_thread, None
            self._heartbeat_stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)

    @property
    def heartbeat_running(self) -> bool:
        """Whether the background heartbeat thread is alive."""
        thread = self._heartbeat_thread
        return thread is not None and thread.is_alive()

    def _heartbeat_loop(
        self, stop: threading.Event, interval_seconds: float, include_metrics: bool
    ) -> None:
        while not stop.wait(timeout=interval_seconds):
            pending = self._take_metrics() if include_metrics else None
            try:
                self.heartbeat(metrics=pending.as_metrics() if pending else None)
            except Exception as exc:  # the loop must survive any failure
                logger.warning("mesh heartbeat failed: %s: %s", type(exc).__name__, exc)
                if pending is not None:
                    with self._lock:
                        self._buffer.add(pending)

    # -- metrics -----------------------------------------------------------------------------
    def report_metric(
        self,
        *,
        success: bool = True,
        latency_ms: float | None = None,
        cost_usd: float | None = None,
    ) -> None:
        """Record one handled intent; sent with the next background heartbeat."""
        with self._lock:
            buf = self._buffer
            buf.total += 1
            if success:
                buf.succeeded += 1
            else:
                buf.failed += 1
            if latency_ms is not None:
                buf.latency_sum_ms += float(latency_ms)
                buf.latency_samples += 1
            if cost_usd is not None:
                buf.cost_usd += float(cost_usd)
                buf.cost_samples += 1

    def _take_metrics(self) -> _MetricsBuffer | None:
        with self._lock:
            if not self._buffer.total:
                return None
            taken, self._buffer = self._buffer, _MetricsBuffer()
        return taken

    def _flush_metrics(self) -> dict[str, Any] | None:
        """Remove and return the buffered metrics as a heartbeat ``metrics`` object."""
        taken = self._take_metrics()
        return taken.as_metrics() if taken else None

    # -- agents and events -------------------------------------------------------------------
    def list_agents(
        self,
        *,
        limit: int = 100,
        health: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``GET /v1/mesh/agents?limit=[&health=]``: agents of the workspace with their health."""
        params = {"limit": str(require_int("limit", limit))}
        if health:
            params.update(optional_params(health=health))
        return self._client._request("GET", "/v1/mesh/agents", params=params, trace_id=trace_id)

    def get_agent(self, address_id: str, *, trace_id: str | None = None) -> dict[str, Any]:
        """``GET /v1/mesh/agents/{address_id}``: one agent with its metrics and events."""
        return self._client._request(
            "GET",
            f"/v1/mesh/agents/{path_segment('address_id', address_id)}",
            trace_id=trace_id,
        )

    def kill(self, address_id: str, *, trace_id: str | None = None) -> dict[str, Any]:
        """``POST /v1/mesh/agents/{address_id}/kill``: block all intents to and from the agent."""
        return self._client._request(
            "POST",
            f"/v1/mesh/agents/{path_segment('address_id', address_id)}/kill",
            trace_id=trace_id,
        )

    def resume(self, address_id: str, *, trace_id: str | None = None) -> dict[str, Any]:
        """``POST /v1/mesh/agents/{address_id}/resume``: lift a kill."""
        return self._client._request(
            "POST",
            f"/v1/mesh/agents/{path_segment('address_id', address_id)}/resume",
            trace_id=trace_id,
        )

    def list_events(
        self,
        *,
        limit: int = 50,
        event_type: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``GET /v1/mesh/events?limit=[&event_type=]``: recent kills, resumes, health changes."""
        params = {"limit": str(require_int("limit", limit))}
        if event_type:
            params.update(optional_params(event_type=event_type))
        return self._client._request("GET", "/v1/mesh/events", params=params, trace_id=trace_id)


_MESH_ATTR = "_axme_mesh_client"
_MESH_LOCK = threading.Lock()


class MeshMixin(FamilyMixinBase):
    @property
    def mesh(self) -> MeshClient:
        """The client's :class:`MeshClient` (one per client, created on first access)."""
        mesh = self.__dict__.get(_MESH_ATTR)
        if mesh is None:
            with _MESH_LOCK:
                mesh = self.__dict__.get(_MESH_ATTR)
                if mesh is None:
                    mesh = MeshClient(self)
                    self.__dict__[_MESH_ATTR] = mesh
        return mesh

    def close(self) -> None:
        """Stop the mesh heartbeat thread if one was started, then close the client."""
        mesh = self.__dict__.get(_MESH_ATTR)
        if mesh is not None:
            mesh.stop_heartbeat()
        parent_close = getattr(super(), "close", None)
        if parent_close is not None:
            parent_close()
