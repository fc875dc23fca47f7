"""The single timer thread behind the simulated agents."""

from __future__ import annotations

import threading
import time

import pytest

from django_axme.emulator.scheduler import Scheduler


def test_callbacks_run_in_due_order_then_scheduling_order():
    scheduler = Scheduler()
    ran: list[str] = []
    done = threading.Event()
    try:
        scheduler.call_later(0.15, lambda: (ran.append("late"), done.set()))
        scheduler.call_later(0.05, lambda: ran.append("b"))
        scheduler.call_later(0.0, lambda: ran.append("first"))
        scheduler.call_later(0.05, lambda: ran.append("c"))
        assert done.wait(2)
        assert ran == ["first", "b", "c", "late"]
    finally:
        scheduler.close()


def test_cancel_and_failing_callback_do_not_stop_the_scheduler():
    scheduler = Scheduler()
    ran: list[str] = []
    done = threading.Event()
    try:
        timer = scheduler.call_later(0.02, lambda: ran.append("cancelled"))
        timer.cancel()
        scheduler.call_later(0.01, lambda: 1 / 0)
        scheduler.call_later(0.05, lambda: (ran.append("after"), done.set()))
        assert done.wait(2)
        assert ran == ["after"]
    finally:
        scheduler.close()


def test_never_runs_early_and_one_thread_for_many_timers():
    scheduler = Scheduler()
    started = time.monotonic()
    times: list[float] = []
    threads: set[int] = set()
    done = threading.Event()

    def record():
        times.append(time.monotonic() - started)
        threads.add(threading.get_ident())
        if len(times) == 200:
            done.set()

    try:
        for _ in range(200):
            scheduler.call_later(0.1, record)
        assert done.wait(5)
        assert min(times) >= 0.1
        assert len(threads) == 1
    finally:
        scheduler.close()


def test_closed_scheduler_refuses_and_negative_delay_is_an_error():
    scheduler = Scheduler()
    with pytest.raises(ValueError, match="delay"):
        scheduler.call_later(-1, lambda: None)
    scheduler.close()
    with pytest.raises(RuntimeError, match="closed"):
        scheduler.call_later(0, lambda: None)
