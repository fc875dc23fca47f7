"""Server-sent events on top of ``sseclient-py``, read incrementally from a streamed response."""

from __future__ import annotations

import json
import logging
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

import requests
import sseclient
import urllib3

logger = logging.getLogger("django_axme.client.sse")

STREAM_TIMEOUT_EVENT = "stream.timeout"


@dataclass(frozen=True)
class SSEFrame:
    """One dispatched frame: the event name and its JSON object payload."""

    event: str
    data: dict[str, Any]
    id: str | None = None


class _ChunkSource:
    """What ``sseclient.SSEClient`` reads: the response's bytes as they arrive, closable.

    Chunked responses go through ``iter_content(chunk_size=None)`` (one item per HTTP chunk).
    For a response without chunked encoding that call would read to the end of the window,
    so those are read with ``read1`` (whatever bytes are available) instead. Either way no
    window is buffered whole, and urllib3 errors surface as ``requests`` exceptions.
    """

    _READ_SIZE = 16384

    def __init__(self, response: requests.Response) -> None:
        self._response = response
        raw = response.raw
        if getattr(raw, "chunked", False) or not hasattr(raw, "read1"):
            self._chunks: Iterator[bytes] = response.iter_content(chunk_size=None)
        else:
            self._chunks = self._read1_chunks()

    def _read1_chunks(self) -> Iterator[bytes]:
        raw = self._response.raw
        while True:
            try:
                data = raw.read1(self._READ_SIZE, decode_content=True)
            except urllib3.exceptions.ProtocolError as exc:
                raise requests.exceptions.ChunkedEncodingError(exc) from exc
            except urllib3.exceptions.ReadTimeoutError as exc:
                raise requests.ConnectionError(exc) from exc
            except urllib3.exceptions.DecodeError as exc:
                raise requests.exceptions.ContentDecodingError(exc) from exc
            except (urllib3.exceptions.SSLError, OSError) as exc:
                raise requests.ConnectionError(exc) from exc
            if not data:
                return
            yield data

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        self._response.close()


def iter_frames(
    response: requests.Response, *, prefix: str = "intent.", context: str = ""
) -> Generator[SSEFrame, None, None]:
    """Yield the frames of an open SSE response whose event name starts with ``prefix``.

    Guarantees: frames come in wire order; multi-line ``data`` is joined with newlines;
    comment lines (keep-alives) are ignored; iteration ends after a ``stream.timeout`` frame
    or at end of stream; a frame whose data is not a JSON object is logged and skipped.
    Transport errors while reading (a cut connection) propagate to the caller. The response
    is closed when iteration ends or the generator is closed.
    """
    client = sseclient.SSEClient(_ChunkSource(response))
    try:
        for event in client.events():
            name = event.event or "message"
            if name == STREAM_TIMEOUT_EVENT:
                return
            if not name.startswith(prefix):
                logger.debug("SSE %s: ignoring %r frame", context, name)
                continue
            try:
                data = json.loads(event.data)
            except ValueError:
                logger.warning(
                    "SSE %s: skipping %r frame whose data is not JSON (%d chars)",
                    context,
                    name,
                    len(event.data),
                )
                continue
            if not isinstance(data, dict):
                logger.warning(
                    "SSE %s: skipping %r frame whose data is a JSON %s, not an object",
                    context,
                    name,
                    type(data).__name__,
                )
                continue
            yield SSEFrame(event=name, data=data, id=event.id)
    finally:
        client.close()
