"""Following an intent's events: ``observe``, ``wait_for`` and single windows for tasks."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Generator, Iterable, Iterator
from contextlib import closing
from typing import Any

from django_axme.client._args import non_negative_int, path_segment
from django_axme.client.compat import canonical_statuses, is_terminal_event
from django_axme.client.deadline import calls_end_by
from django_axme.client.errors import AxmeAPIError, AxmeTransportError
from django_axme.client.intents import IntentsMixin
from django_axme.client.ordering import EventOrderer
from django_axme.client.streams import SSEEventTooLargeError, StreamCutError, StreamingMixin

logger = logging.getLogger("django_axme.client")

# Stream answers that mean "no SSE here, poll instead".
STREAM_UNAVAILABLE_STATUSES = frozenset({404, 405, 501})


def _bounded(
    events: Iterator[dict[str, Any]], monotonic_at: float | None
) -> Iterator[dict[str, Any]]:
    """Iterate ``events`` with every HTTP call made while advancing it ending by
    ``monotonic_at`` (see :func:`~django_axme.client.deadline.calls_end_by`); the limit is
    not in force while the consumer handles a yielded event. Closes ``events`` at the end."""
    with closing(events):  # type: ignore[type-var]
        while True:
            with calls_end_by(monotonic_at):
                try:
                    event = next(events)
                except StopIteration:
                    return
            yield event


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
    ) -> Generator[dict[str, Any], None, None]:
        return self._stream_window(
            f"/v1/intents/{path_segment(intent_id, 'intent_id')}/events/stream",
            params={"since": str(since), "wait_seconds": str(wait_seconds)},
            wait_seconds=wait_seconds,
            trace_id=trace_id,
            context=f"intent {intent_id}",
        )

    def _fill_gap(
        self, intent_id: str, order: EventOrderer, trace_id: str | None
    ) -> list[dict[str, Any]]:
        """Read the events the stream skipped from ``GET /events?since=<last>``; return
        everything that releases, in ``seq`` order."""
        logger.info(
            "intent %s: seq %s missing on the stream; reading them from the events list",
            intent_id,
            ", ".join(str(s) for s in order.missing()),
        )
        return order.fill(self._poll_events(intent_id, order.last, trace_id))

    def _ordered_window(
        self, intent_id: str, order: EventOrderer, wait_seconds: int, trace_id: str | None
    ) -> Iterator[dict[str, Any]]:
        """One stream window from ``order.last``, put in ``seq`` order by ``order``.

        An event that arrives ahead of a missing ``seq`` is held until the stream delivers
        the missing one; when the hole stays open too long (see
        :class:`~django_axme.client.ordering.EventOrderer`) or the window ends with it open,
        the missing events are read from the events list and released before the held
        event. A cut connection is re-raised (as :class:`StreamCutError`) after that fill.
        HTTP errors opening the stream raise before anything is yielded.
        """
        cut: StreamCutError | None = None
        with closing(self._intent_window(intent_id, order.last, wait_seconds, trace_id)) as frames:
            try:
                for event in frames:
                    yield from order.offer(event)
                    if order.gap_overdue():
                        yield from self._fill_gap(intent_id, order, trace_id)
            except StreamCutError as exc:
                cut = exc
        if order.has_gap:
            yield from self._fill_gap(intent_id, order, trace_id)
        if cut is not None:
            raise cut

    def observe_window(
        self,
        intent_id: str,
        *,
        since: int = 0,
        wait_seconds: int = 15,
        trace_id: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Read ONE stream window (for bounded Celery slices).

        Yields each event with ``seq > since`` once, in ``seq`` order, without gaps:
        duplicates and events at or below the last yielded ``seq`` are dropped, and an
        event that arrives ahead of a missing ``seq`` (frames swapped or lost on the
        stream) is held back until the missing events arrive on the stream or are read
        from ``GET /events?since=<last yielded seq>``. The highest ``seq`` yielded is
        therefore a safe cursor to resume from. Returns at ``stream.timeout``, at end of
        stream, right after a terminal event, at the window's wall-clock deadline
        (``wait_seconds + timeout_seconds + connect_timeout_seconds``, whatever the server
        sends), or when the connection is cut mid-window (logged; the caller resumes from
        its cursor). When the stream is unavailable (404/405/501), or a line or event on it
        passes ``max_sse_event_bytes``, it polls ``GET /events?since=`` once instead; an
        unknown intent then raises
        :class:`~django_axme.client.errors.AxmeNotFoundError`.
        """
        since = non_negative_int(since, "since")
        if isinstance(wait_seconds, bool) or not isinstance(wait_seconds, int) or wait_seconds < 1:
            raise ValueError(f"wait_seconds must be an integer >= 1, got {wait_seconds!r}")
        trace_id = self._trace_id(trace_id)
        order = EventOrderer(since, context=f"intent {intent_id}")
        try:
            for event in self._ordered_window(intent_id, order, wait_seconds, trace_id):
                yield event
                if is_terminal_event(event):
                    return
            return
        except AxmeAPIError as exc:
            if exc.status_code not in STREAM_UNAVAILABLE_STATUSES:
                raise
        except SSEEventTooLargeError as exc:
            logger.warning(
                "intent %s: %s; reading the events after seq %d from the events list",
                intent_id,
                exc,
                order.last,
            )
        except StreamCutError as exc:
            logger.info("intent %s: window ended early (%s)", intent_id, exc)
            return
        for event in order.fill(self._poll_events(intent_id, order.last, trace_id)):
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

        Yields each event with ``seq > since`` once, in ``seq`` order, without gaps: an
        event that arrives ahead of a missing ``seq`` is held back until the missing ones
        arrive on the stream or are read from ``GET /events?since=<last yielded seq>``;
        duplicates and replays are dropped. Each round reads one SSE window, then polls
        ``GET /events?since=<highest seq>``; when nothing new came it sleeps
        ``poll_interval_seconds``. A connection cut mid-window resumes from the highest
        ``seq`` yielded. A stream answered with 404/405/501 switches to polling only.
        ``terminal_states`` adds statuses to stop at (aliases RESOLVED, CANCELLED, EXPIRED
        accepted); the real terminal statuses always stop. Raises :class:`TimeoutError`
        after ``timeout_seconds``: every HTTP call made for it ends by then (a gateway that
        never answers yields ``TimeoutError`` at about ``timeout_seconds``, not a transport
        error after the call's own deadline).
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
        order = EventOrderer(since, context=f"intent {intent_id}")
        stream_available = True

        def seconds_left() -> float:
            if deadline is None:
                return float("inf")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"timed out while observing intent {intent_id}")
            return left

        def timed_out() -> bool:
            return deadline is not None and time.monotonic() >= deadline - 0.05

        while True:
            left = seconds_left()
            window = wait_seconds if deadline is None else max(1, min(wait_seconds, int(left)))
            if stream_available:
                try:
                    for event in _bounded(
                        self._ordered_window(intent_id, order, window, trace_id), deadline
                    ):
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
                    if timed_out():
                        raise TimeoutError(f"timed out while observing intent {intent_id}") from exc
                    logger.info("intent %s: %s; resuming after seq %d", intent_id, exc, order.last)
            try:
                with calls_end_by(deadline):
                    polled = self._poll_events(intent_id, order.last, trace_id)
            except AxmeTransportError as exc:
                if timed_out():
                    raise TimeoutError(f"timed out while observing intent {intent_id}") from exc
                raise
            got_new = False
            for event in order.fill(polled):
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
