"""Transport-neutral request and response types shared by the emulator core and its front doors.

The core (:class:`django_axme.emulator.core.Gateway`) consumes an :class:`EmulatorRequest` and
returns an :class:`EmulatorResponse`. Front doors (the HTTP server, the ``responses`` adapter)
translate to and from these types and never look inside the gateway state.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KEEPALIVE_FRAME", "EmulatorRequest", "EmulatorResponse"]

#: The keep-alive comment frame a streaming response yields while nothing happens.
KEEPALIVE_FRAME = b": keep-alive\n\n"


@dataclass
class EmulatorRequest:
    """One HTTP request as the gateway sees it.

    ``headers`` keys are lower-case; ``query`` maps each parameter to all of its values in
    order (like :func:`urllib.parse.parse_qs` with ``keep_blank_values=True``); ``path`` has no
    query string.
    """

    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def query_value(self, name: str, default: str | None = None) -> str | None:
        """Return the first value of query parameter ``name`` (or ``default``)."""
        values = self.query.get(name)
        if not values:
            return default
        return values[0]

    def header(self, name: str, default: str | None = None) -> str | None:
        """Return header ``name`` (case-insensitive) or ``default``."""
        return self.headers.get(name.lower(), default)


@dataclass
class EmulatorResponse:
    """One HTTP response.

    For a streaming (SSE) response ``stream`` is set and ``body`` is empty: the iterator yields
    exactly one complete SSE frame per item (bytes ending in ``b"\\n\\n"``): event frames,
    keep-alive comments (:data:`KEEPALIVE_FRAME`) and the final ``stream.timeout`` frame.
    Closing the iterator (``close()``) stops it promptly.
    """

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: Iterator[bytes] | None = None

    @classmethod
    def json(
        cls, status: int, payload: Any, headers: dict[str, str] | None = None
    ) -> EmulatorResponse:
        """Build a JSON response (compact, UTF-8, ``content-type: application/json``)."""
        merged = {"content-type": "application/json"}
        if headers:
            merged.update(headers)
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return cls(status=status, headers=merged, body=body)

    def json_body(self) -> Any:
        """Decode ``body`` as JSON (raises ``ValueError`` for a streaming or non-JSON body)."""
        if self.stream is not None:
            raise ValueError("streaming response has no JSON body")
        return json.loads(self.body.decode("utf-8"))
