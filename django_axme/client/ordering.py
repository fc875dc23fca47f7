"""Putting an intent's events back into ``seq`` order: each once, ascending, without holes."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

logger = logging.getLogger("django_axme.client")

# How long a hole may stay open on the stream, in frames held behind it and in seconds,
# before the missing events are read from the events list.
MAX_HELD_EVENTS = 16
MAX_HOLD_SECONDS = 1.0


def event_seq(event: dict[str, Any]) -> int | None:
    """The event's integer ``seq``, or None when it has none (booleans are not numbers)."""
    seq = event.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int):
        return None
    return seq


class EventOrderer:
    """Releases an intent's events each exactly once, in strictly increasing ``seq``, without gaps.

    The server numbers an intent's events 1, 2, 3, ... with no holes, so an event whose
    ``seq`` is more than one above the last released one means the stream swapped or lost
    frames. Such an event is held back; the events that close the hole (from the stream or
    from :meth:`fill`) release it. Events at or below the last released ``seq`` and events
    already held are duplicates and are dropped. Events without an integer ``seq`` are
    released as they come.

    ``last`` is the highest ``seq`` released so far: a caller that resumes from it neither
    repeats nor loses an event.
    """

    def __init__(
        self,
        since: int,
        *,
        context: str = "",
        max_held: int = MAX_HELD_EVENTS,
        max_hold_seconds: float = MAX_HOLD_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.last = since
        self._context = context
        self._max_held = max_held
        self._max_hold_seconds = max_hold_seconds
        self._clock = clock
        self._held: dict[int, dict[str, Any]] = {}
        self._hole_opened_at = 0.0

    @property
    def has_gap(self) -> bool:
        """True while events are held behind a missing ``seq``."""
        return bool(self._held)

    def missing(self) -> list[int]:
        """The ``seq`` numbers that hold back the held events, ascending."""
        if not self._held:
            return []
        return [s for s in range(self.last + 1, max(self._held)) if s not in self._held]

    def gap_overdue(self) -> bool:
        """True when the hole has held back ``max_held`` events or stayed open for
        ``max_hold_seconds``: time to read the missing events from the events list."""
        if not self._held:
            return False
        if len(self._held) >= self._max_held:
            return True
        return self._clock() - self._hole_opened_at >= self._max_hold_seconds

    def offer(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Take one event as it arrived; return the events it releases, in ``seq`` order."""
        seq = event_seq(event)
        if seq is None:
            return [event]
        if seq <= self.last or seq in self._held:
            return []
        if seq > self.last + 1:
            if not self._held:
                self._hole_opened_at = self._clock()
            self._held[seq] = event
            return []
        released = [event]
        self.last = seq
        while self.last + 1 in self._held:
            self.last += 1
            released.append(self._held.pop(self.last))
        if self._held:  # a further hole: its wait starts now
            self._hole_opened_at = self._clock()
        return released

    def fill(self, listed: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Merge the events list (``GET /events?since=<last>``) and release everything.

        The list is the server's record, so after it nothing is held: should it lack a
        ``seq`` (a server that breaks the gap-free numbering) the held events are released
        over the hole with a warning instead of being held forever.
        """
        released: list[dict[str, Any]] = []
        for event in listed:
            released.extend(self.offer(event))
        if self._held:
            logger.warning(
                "%s: the server has no event with seq %s; releasing seq %s anyway",
                self._context or "events",
                ", ".join(str(s) for s in self.missing()),
                ", ".join(str(s) for s in sorted(self._held)),
            )
            for seq in sorted(self._held):
                released.append(self._held.pop(seq))
                self.last = seq
        return released
