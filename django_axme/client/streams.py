"""Opening SSE windows and turning a cut connection into :class:`AxmeTransportError`."""

from __future__ import annotations

import logging
from collections.abc import Generator, Mapping
from typing import Any

from django_axme.client.errors import AxmeResponseTooLargeError, AxmeTransportError
from django_axme.client.secrets import scrub_traceback
from django_axme.client.sse import SSELimitError, iter_frames
from django_axme.client.transport import _TRANSPORT_ERRORS, BaseClient

logger = logging.getLogger("django_axme.client")

# The server holds a window open for ``wait_seconds``; allow this much more before the read
# times out (keep-alive comments reset the timer).
STREAM_READ_GRACE_SECONDS = 15.0


class StreamCutError(AxmeTransportError):
    """The connection dropped after the stream had opened (frames before it were delivered)."""


class SSEEventTooLargeError(StreamCutError, AxmeResponseTooLargeError):
    """A line or an event of the stream passed ``config.max_sse_event_bytes`` (``limit``); the
    stream was closed there. The frames before it were delivered: resume from their ``seq``
    (the observers read the rest from the events list, whose cap is
    ``config.max_response_bytes``)."""


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
        :class:`AxmeTransportError`; a line or event over ``config.max_sse_event_bytes``
        raises :class:`SSEEventTooLargeError` (a :class:`StreamCutError`).

        The window ends (returns) at its wall-clock deadline, ``wait_seconds +
        timeout_seconds + connect_timeout_seconds`` after the attempt that opened it started,
        whatever the server sends (keep-alives, a trickle, nothing): the socket is shut down
        then.
        """
        window_seconds = (
            float(wait_seconds)
            + self._config.timeout_seconds
            + self._config.connect_timeout_seconds
        )
        exchange = self._exchange(
            "GET",
            path,
            params=params,
            json_body=None,
            headers=self._call_headers(
                trace_id=trace_id, idempotency_key=None, extra={"Accept": "text/event-stream"}
            ),
            retryable=True,
            timeout=self._timeout(float(wait_seconds) + STREAM_READ_GRACE_SECONDS),
            attempt_seconds=window_seconds,
            stream=True,
        )
        deadline = exchange.deadline
        frames = iter_frames(
            exchange.response,
            context=context,
            max_event_bytes=self._config.max_sse_event_bytes,
            deadline=deadline,
        )
        try:
            while True:
                if deadline.passed():
                    logger.info("stream %s: window deadline reached; ending it", context)
                    return
                try:
                    frame = next(frames)
                except StopIteration:
                    return
                except SSELimitError as exc:
                    raise SSEEventTooLargeError(
                        f"stream {context} ended: {exc}", limit=exc.limit
                    ) from None
                except _TRANSPORT_ERRORS as exc:
                    if deadline.passed():
                        logger.info("stream %s: window deadline reached; ending it", context)
                        return
                    scrub_traceback(exc)
                    raise StreamCutError(f"stream {context} was cut: {type(exc).__name__}") from exc
                yield frame.data
        finally:
            frames.close()
            deadline.cancel()
