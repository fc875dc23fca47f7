"""Opening SSE windows and turning a cut connection into :class:`AxmeTransportError`."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

from django_axme.client.errors import AxmeTransportError
from django_axme.client.sse import iter_frames
from django_axme.client.transport import _TRANSPORT_ERRORS, BaseClient

# The server holds a window open for ``wait_seconds``; allow this much more before the read
# times out (keep-alive comments reset the timer).
STREAM_READ_GRACE_SECONDS = 15.0


class StreamCutError(AxmeTransportError):
    """The connection dropped after the stream had opened (frames before it were delivered)."""


class StreamingMixin(BaseClient):
    """Reads one SSE window at a time."""

    def _stream_window(
        self,
        path: str,
        *,
        params: Mapping[str, Any],
        wait_seconds: int,
        trace_id: str | None,
        context: str,
    ) -> Generator[dict[str, Any], None, None]:
        """Yield the JSON payload of each ``intent.*`` frame of one window, incrementally.

        Opening the stream follows the read retry rules; HTTP errors raise the
        :class:`~django_axme.client.errors.AxmeAPIError` family before anything is yielded.
        A connection cut while reading raises :class:`StreamCutError` (after the frames
        received so far were yielded), a subclass of
        :class:`AxmeTransportError`.
        """
        response = self._send(
            "GET",
            path,
            params=params,
            json_body=None,
            headers=self._call_headers(
                trace_id=trace_id, idempotency_key=None, extra={"Accept": "text/event-stream"}
            ),
            retryable=True,
            timeout=self._timeout(float(wait_seconds) + STREAM_READ_GRACE_SECONDS),
            stream=True,
        )
        frames = iter_frames(response, context=context)
        try:
            while True:
                try:
                    frame = next(frames)
                except StopIteration:
                    return
                except _TRANSPORT_ERRORS as exc:
                    raise StreamCutError(f"stream {context} was cut: {type(exc).__name__}") from exc
                yield frame.data
        finally:
            frames.close()
