"""Agent addresses and the agent intent stream (``listen``)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

from django_axme.client._args import non_negative_int, path_segment
from django_axme.client.streams import StreamCutError, StreamingMixin

logger = logging.getLogger("django_axme.client")


def _agent_path(address: str) -> str:
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"address must be a non-empty string, got {address!r}")
    bare = address.strip().removeprefix("agent://")
    return path_segment(bare, "address", allow_slash=True)


class AgentsMixin(StreamingMixin):
    """SDK 0.2.0 agent methods."""

    def list_agents(
        self,
        *,
        org_id: str,
        workspace_id: str,
        limit: int | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``GET /v1/agents?org_id=&workspace_id=[&limit=]``."""
        params = {
            "org_id": org_id,
            "workspace_id": workspace_id,
            "limit": None if limit is None else str(limit),
        }
        return self._request("GET", "/v1/agents", params=params, trace_id=trace_id)

    def get_agent(self, address: str, *, trace_id: str | None = None) -> dict[str, Any]:
        """``GET /v1/agents/{org}/{workspace}/{name}`` (``agent://`` prefix optional)."""
        return self._request("GET", f"/v1/agents/{_agent_path(address)}", trace_id=trace_id)

    def listen(
        self,
        address: str,
        *,
        since: int = 0,
        wait_seconds: int = 15,
        timeout_seconds: float | None = None,
        status: str | None = None,
        trace_id: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield the intents delivered to an agent address, window after window, forever
        (or until ``timeout_seconds``: :class:`TimeoutError`).

        Remembers the highest ``seq`` and reconnects with ``since=<seq>`` after each window
        and after a cut connection, so nothing is repeated or lost. ``status`` is the
        server's comma-separated status filter.
        """
        path = f"/v1/agents/{_agent_path(address)}/intents/stream"
        since = non_negative_int(since, "since")
        if isinstance(wait_seconds, bool) or not isinstance(wait_seconds, int) or wait_seconds < 1:
            raise ValueError(f"wait_seconds must be an integer >= 1, got {wait_seconds!r}")
        if timeout_seconds is not None and timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be > 0 when given")
        trace = trace_id or (str(uuid.uuid4()) if self._config.auto_trace_id else None)
        return self._listen(path, address, since, wait_seconds, timeout_seconds, status, trace)

    def _listen(
        self,
        path: str,
        address: str,
        since: int,
        wait_seconds: int,
        timeout_seconds: float | None,
        status: str | None,
        trace_id: str | None,
    ) -> Iterator[dict[str, Any]]:
        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        last = since
        while True:
            window = wait_seconds
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"timed out while listening on {address}")
                window = max(1, min(wait_seconds, int(left)))
            params = {"since": str(last), "wait_seconds": str(window)}
            if status:
                params["status"] = status
            try:
                for event in self._stream_window(
                    path,
                    params=params,
                    wait_seconds=window,
                    trace_id=trace_id,
                    context=f"agent {address}",
                ):
                    seq = event.get("seq")
                    if isinstance(seq, int) and not isinstance(seq, bool):
                        if seq <= last:
                            continue
                        last = seq
                    yield event
            except StreamCutError as exc:
                logger.info("listen %s: %s; resuming after seq %d", address, exc, last)
