"""One timer thread for every delayed action of the emulator (simulated agents, restarts).

A :class:`Scheduler` keeps a heap of due callbacks and runs them, in due-time order (ties in
scheduling order), on a single daemon thread. Nothing here knows about intents.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Scheduler", "Timer"]

logger = logging.getLogger(__name__)


@dataclass(order=True)
class Timer:
    """A scheduled callback; :meth:`cancel` prevents it from running if it has not started."""

    due: float
    order: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        """Cancel the callback (no effect once it has started running)."""
        self.cancelled = True


class Scheduler:
    """Runs callbacks after a delay on one background thread.

    Guarantees: a callback runs at most once, never before its delay has passed, and callbacks
    run one at a time in (due time, scheduling order). A callback that raises is logged and does
    not stop the scheduler. The thread starts on the first :meth:`call_later` and stops on
    :meth:`close`.
    """

    def __init__(self, name: str = "axme-emulator-scheduler") -> None:
        self._name = name
        self._heap: list[Timer] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Schedule ``callback`` to run ``delay`` seconds from now (0 = as soon as possible)."""
        if delay < 0:
            raise ValueError(f"delay must be >= 0 seconds, got {delay!r}")
        with self._cond:
            if self._closed:
                raise RuntimeError("scheduler is closed")
            timer = Timer(time.monotonic() + delay, next(self._counter), callback)
            heapq.heappush(self._heap, timer)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify()
        return timer

    def pending(self) -> int:
        """Number of scheduled callbacks not yet run or cancelled."""
        with self._cond:
            return sum(1 for t in self._heap if not t.cancelled)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread; callbacks not yet due are dropped. Idempotent."""
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    while self._heap and self._heap[0].cancelled:
                        heapq.heappop(self._heap)
                    if not self._heap:
                        self._cond.wait()
                        continue
                    wait = self._heap[0].due - time.monotonic()
                    if wait <= 0:
                        timer = heapq.heappop(self._heap)
                        break
                    self._cond.wait(wait)
            if timer.cancelled:
                continue
            try:
                timer.callback()
            except Exception:
                logger.exception("emulator scheduled callback failed")
