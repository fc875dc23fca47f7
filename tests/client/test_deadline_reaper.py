"""The deadline thread fires every deadline on time whatever the order they were armed in:
it is woken only when a new deadline is the earliest, and otherwise finds the later ones when
it wakes for the earlier."""

from __future__ import annotations

import time

from django_axme.client.deadline import start_deadline


def _wait_expired(deadline, limit: float) -> float:
    end = time.monotonic() + limit
    while not deadline.expired and time.monotonic() < end:
        time.sleep(0.005)
    return time.monotonic()


def test_an_earlier_deadline_armed_after_a_later_one_fires_on_time():
    late = start_deadline(5.0)
    early = start_deadline(0.1)
    fired = _wait_expired(early, 2.0)
    assert early.expired and not late.expired
    assert fired - (early.at) < 0.5
    late.cancel()


def test_later_deadlines_behind_cancelled_earlier_ones_still_fire():
    cancelled = [start_deadline(0.05 + i * 0.01) for i in range(20)]
    for d in cancelled:
        d.cancel()
    kept = [start_deadline(0.2 + i * 0.05) for i in range(3)]
    for d in kept:
        fired = _wait_expired(d, 2.0)
        assert d.expired, "a deadline armed behind others never fired"
        assert fired - d.at < 0.5
    assert not any(d.expired for d in cancelled)
