"""Following an intent's events: ``observe``, ``wait_for`` and single windows for tasks."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from django_axme.client._args import non_negative_int, path_segment
from django_axme.client.compat import canonical_statuses, is_terminal_event
from django_axme.client.errors import AxmeAPIError, AxmeTransportError
from django_axme.client.intents import IntentsMixin
from django_axme.client.streams import StreamCutError, StreamingMixin

logger = logging.getLogger("django_axme.client")

# Stream answers that mean "no SSE here, poll instead".
STREAM_UNAVAILABLE_STATUSES = frozenset({404, 405, 501})


class _SeqFilter:
    """Keeps the highest ``seq`` seen and drops events at or below it (duplicates, replays).
    Events without an integer ``seq`` pass through."""

    def __init__(self, since: int) -> None:
        self.last = since

    def accept(self, event: dict[str, Any]) -> bool:
        seq = event.get("seq")
        if isinstance(seq, bool) or not isinstance(seq, int):
            return True
        if seq <= self.last:
            return False
        self.last = seq
        return True


class ObserveMixin(IntentsMixin, StreamingMixin):
    """SSE-first event following with a polling fallback."""

    def _poll_events(
        self, intent_id: str, since: int, trace_id: str | None
    ) -> list[dict[str, Any]]:
        answer = self.list_intent_events(
            intent_id, since=since if since > 0 else None, trace_id=trace_id
        )
        events = answer.get("events")
        if not isinstance(events, list):
            raise AxmeAPIError(
                502, "invalid intent events payload: events must be a list", body=answer
            )
        valid = []
        for event in events:
            if isinstance(event, dict):
                valid.append(event)
            else:
                logger.warning(
                    "intent %s: skipping an event that is a %s, not an object",
                    intent_id,
                    type(event).__name__,
                )
        return valid

    def _intent_window(
        self, intent_id: str, since: int, wait_seconds: int, trace_id: str | None
    ) -> Iterator[dict[str, Any]]:
        return self._stream_window(
            f"/v1/intents/{path_segment(intent_id, 'intent_id')}/events/stream",
            params={"since": str(since), "wait_seconds": str(wait_seconds)},
            wait_seconds=wait_seconds,
            trace_id=trace_id,
            context=f"intent {intent_id}",
        )

    def observe_window(
        self,
        intent_id: str,
        *,
        since: int = 0,
        wait_seconds: int = 15,
        trace_id: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Read ONE stream window (for bounded Celery slices).

        Yields events with ``seq > since`` in strictly increasing ``seq`` order (duplicates
        and events at or below the last yielded ``seq`` are dropped). Returns at
        ``stream.timeout``, at end of stream, after a terminal event, or when the connection
        is cut mid-window (logged; the caller resumes from its cursor). When the stream is
        unavailable (404/405/501) it polls ``GET /events?since=`` once instead; an unknown
        intent then raises :class:`~django_axme.client.errors.AxmeNotFoundError`.
        """
        since = non_negative_int(since, "since")
        if isinstance(wait_seconds, bool) or not isinstance(wait_seconds, int) or wait_seconds < 1:
            raise ValueError(f"wait_seconds must be an integer >= 1, got {wait_seconds!r}")
        trace_id = self._trace_id(trace_id)
        seen = _SeqFilter(since)
        try:
            for event in self._intent_window(intent_id, since, wait_seconds, trace_id):
                if seen.accept(event):
                    yield event
                    if is_terminal_event(event):
                        return
            return
        except AxmeAPIError as exc:
            if exc.status_code not in STREAM_UNAVAILABLE_STATUSES:
                raise
        except StreamCutError as exc:
            logger.info("intent %s: window ended early (%s)", intent_id, exc)
            return
        for event in self._poll_events(intent_id, since, trace_id):
            if seen.accept(event):
                yield event
                if is_terminal_event(event):
                    return

    def observe(
        self,
        intent_id: str,
        *,
        since: int = 0,
        wait_seconds: int = 15,
        poll_interval_seconds: float = 1.0,
        timeout_seconds: float | None = None,
        trace_id: str | None = None,
        terminal_states: Iterable[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield the intent's events until a terminal one (inclusive) or the timeout.

        Each round reads one SSE window, then polls ``GET /events?since=<highest seq>``;
        when nothing new came it sleeps ``poll_interval_seconds``. A connection cut
        mid-window resumes from the highest ``seq`` seen: no event is repeated or lost.
        A stream answered with 404/405/501 switches to polling only. ``terminal_states``
        adds statuses to stop at (aliases RESOLVED, CANCELLED, EXPIRED accepted); the real
        terminal statuses always stop. Raises :class:`TimeoutError` after
        ``timeout_seconds``.
        """
        since = non_negative_int(since, "since")
        if isinstance(wait_seconds, bool) or not isinstance(wait_seconds, int) or wait_seconds < 1:
            raise ValueError(f"wait_seconds must be an integer >= 1, got {wait_seconds!r}")
        if poll_interval_seconds < 0:
            raise ValueError("poll_interval_seconds must be >= 0")
        if timeout_seconds is not None and timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be > 0 when given")
        path_segment(intent_id, "intent_id")
        stop_at = (
            canonical_statuses(terminal_states) if terminal_states is not None else frozenset()
        )
        return self._observe(
            intent_id,
            since,
            wait_seconds,
            poll_interval_seconds,
            timeout_seconds,
            trace_id or (str(uuid.uuid4()) if self._config.auto_trace_id else None),
            stop_at,
        )

    def _observe(
        self,
        intent_id: str,
        since: int,
        wait_seconds: int,
        poll_interval_seconds: float,
        timeout_seconds: float | None,
        trace_id: str | None,
        stop_at: frozenset[str],
    ) -> Iterator[dict[str, Any]]:
        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        seen = _SeqFilter(since)
        stream_available = True

        def seconds_left() -> float:
            if deadline is None:
                return float("inf")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"timed out while observing intent {intent_id}")
            return left

        while True:
            left = seconds_left()
            window = wait_seconds if deadline is None else max(1, min(wait_seconds, int(left)))
            if stream_available:
                try:
                    for event in self._intent_window(intent_id, seen.last, window, trace_id):
                        if seen.accept(event):
                            yield event
                            if is_terminal_event(event, stop_at):
                                return
                except AxmeAPIError as exc:
                    if exc.status_code not in STREAM_UNAVAILABLE_STATUSES:
                        raise
                    logger.info(
                        "intent %s: event stream unavailable (HTTP %d), polling",
                        intent_id,
                        exc.status_code,
                    )
                    stream_available = False
                except AxmeTransportError as exc:
                    logger.info("intent %s: %s; resuming after seq %d", intent_id, exc, seen.last)
            got_new = False
            for event in self._poll_events(intent_id, seen.last, trace_id):
                if seen.accept(event):
                    got_new = True
                    yield event
                    if is_terminal_event(event, stop_at):
                        return
            if not got_new:
                pause = min(poll_interval_seconds, seconds_left())
                if pause > 0:
                    time.sleep(pause)

    def wait_for(
        self,
        intent_id: str,
        *,
        since: int = 0,
        wait_seconds: int = 15,
        poll_interval_seconds: float = 1.0,
        timeout_seconds: float | None = None,
        trace_id: str | None = None,
        terminal_states: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """Block until the intent reaches a terminal state and return that terminal **event**
        (not the intent). ``terminal_states`` as in :meth:`observe`. Raises
        :class:`TimeoutError` after ``timeout_seconds``."""
        stop_at = (
            canonical_statuses(terminal_states) if terminal_states is not None else frozenset()
        )
        for event in self.observe(
            intent_id,
            since=since,
            wait_seconds=wait_seconds,
            poll_interval_seconds=poll_interval_seconds,
            timeout_seconds=timeout_seconds,
            trace_id=trace_id,
            terminal_states=terminal_states,
        ):
            if is_terminal_event(event, stop_at):
                return event
        raise RuntimeError(f"intent observation ended without a terminal event for {intent_id}")
