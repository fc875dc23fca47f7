"""Server-sent events on top of ``sseclient-py``, read incrementally from a streamed response."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

import requests
import sseclient

from django_axme.client.deadline import Deadline
from django_axme.client.limits import decoded_chunks

logger = logging.getLogger("django_axme.client.sse")

STREAM_TIMEOUT_EVENT = "stream.timeout"


@dataclass(frozen=True)
class SSEFrame:
    """One dispatched frame: the event name and its JSON object payload."""

    event: str
    data: dict[str, Any]
    id: str | None = None


MAX_LINES_PER_EVENT = 64
_LINE_END = re.compile(rb"\r\n|\r|\n")


class SSELimitError(requests.exceptions.ContentDecodingError):
    """A line or an event of the stream passed its cap (raised while reading, like a
    transport error; :mod:`django_axme.client.streams` turns it into a typed error)."""

    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class EventFramer:
    """Cuts a byte stream into whole SSE events, in linear time, within caps.

    :meth:`feed` takes bytes as they arrive and returns the complete events they finish, each
    as its lines joined by ``\\n`` and ending with a blank line (``\\n\\n``). Comment lines
    (``:`` keep-alives) are dropped here. A line, or an event, longer than ``max_event_bytes``
    or an event of more than :data:`MAX_LINES_PER_EVENT` lines raises :class:`SSELimitError`
    as soon as the cap is passed, so memory stays within the cap plus one chunk. Work is
    linear in the bytes fed (a ``bytearray`` per line and per event; one regex scan per
    chunk), whatever the chunking.
    """

    def __init__(self, max_event_bytes: int) -> None:
        self._max = max_event_bytes
        self._line = bytearray()
        self._event = bytearray()
        self._lines = 0
        self._after_cr = False

    def _end_line(self, out: list[bytes]) -> None:
        line = self._line
        if not line:
            if self._event:
                self._event += b"\n"
                out.append(bytes(self._event))
                self._event = bytearray()
                self._lines = 0
        elif not line.startswith(b":"):
            self._lines += 1
            if self._lines > MAX_LINES_PER_EVENT:
                raise SSELimitError(
                    f"an SSE event has more than {MAX_LINES_PER_EVENT} lines", self._max
                )
            if len(self._event) + len(line) + 1 > self._max:
                raise SSELimitError(
                    f"an SSE event is larger than max_sse_event_bytes={self._max}", self._max
                )
            self._event += line
            self._event += b"\n"
        self._line = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        """Consume ``chunk``; return the events it completes, in order."""
        out: list[bytes] = []
        pos = 0
        if self._after_cr and chunk[:1] == b"\n":
            pos = 1  # the LF of a CRLF split across chunks
        self._after_cr = False
        for match in _LINE_END.finditer(chunk, pos):
            self._append(chunk, pos, match.start())
            self._end_line(out)
            pos = match.end()
            if match.group() == b"\r" and pos == len(chunk):
                self._after_cr = True
        self._append(chunk, pos, len(chunk))
        return out

    def _append(self, chunk: bytes, start: int, end: int) -> None:
        if end <= start:
            return
        if len(self._line) + (end - start) > self._max:
            raise SSELimitError(
                f"an SSE line is longer than max_sse_event_bytes={self._max}", self._max
            )
        self._line += chunk[start:end]


class _EventSource:
    """What ``sseclient.SSEClient`` reads: one whole event per item (see
    :class:`EventFramer`), from the response's decoded bytes as they arrive; closable.

    Feeding sseclient-py whole events keeps its parsing linear: its reader concatenates the
    lines of one event (at most :data:`MAX_LINES_PER_EVENT`, at most the cap in bytes)
    instead of every chunk of an arbitrarily long line.
    """

    def __init__(
        self, response: requests.Response, max_event_bytes: int, deadline: Deadline | None
    ) -> None:
        self._response = response
        self._framer = EventFramer(max_event_bytes)
        # No cap on the whole stream (a window may carry many events); the framer caps each.
        self._chunks = decoded_chunks(response, sys.maxsize, what="event stream", deadline=deadline)
        self._ready: list[bytes] = []

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        while not self._ready:
            # Undecodable bytes become U+FFFD (sseclient-py would raise on them).
            self._ready = [
                event.decode("utf-8", "replace").encode("utf-8")
                for event in reversed(self._framer.feed(next(self._chunks)))
            ]
        return self._ready.pop()

    def close(self) -> None:
        self._response.close()


def iter_frames(
    response: requests.Response,
    *,
    prefix: str = "intent.",
    context: str = "",
    max_event_bytes: int = 4 * 1024 * 1024,
    deadline: Deadline | None = None,
) -> Generator[SSEFrame, None, None]:
    """Yield the frames of an open SSE response whose event name starts with ``prefix``.

    Guarantees: frames come in wire order; multi-line ``data`` is joined with newlines;
    comment lines (keep-alives) are ignored; iteration ends after a ``stream.timeout`` frame
    or at end of stream; a frame whose data is not a JSON object is logged and skipped.
    Transport errors while reading (a cut connection) propagate to the caller, and so does
    :class:`SSELimitError` for a line or event over ``max_event_bytes``, and
    ``requests.ConnectionError`` for bytes arriving after ``deadline`` passed. The response
    is closed when iteration ends or the generator is closed.
    """
    client = sseclient.SSEClient(_EventSource(response, max_event_bytes, deadline))
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
