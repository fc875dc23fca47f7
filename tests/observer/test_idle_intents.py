"""Idle intents (issue 14, item 3) against the emulator over real HTTP, tasks run in-process.

An intent waiting for a human and silent for ``OBSERVER_IDLE_AFTER_SECONDS`` leaves the live
stream (no reader, no lease, no observer restarted by the reconcile sweep), is re-read by
``poll_idle_intents`` with a backed-off interval, is woken by the inbox feed, and returns to
a live observer once it moved. The next observer slices are recorded instead of sent to a
broker.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from django_axme import signals, sync
from django_axme.emulator import ApprovalScript
from django_axme.models import Approval, Intent
from django_axme.observer import multiplex
from django_axme.sync import idle
from django_axme.tasks import (
    observe_intent,
    observe_many,
    poll_idle_intents,
    reconcile_open_intents,
    start_observing,
    sync_inbox,
)

pytestmark = pytest.mark.django_db(transaction=True)

OWNER = "agent://test/approvers"
APPROVER = "agent://test/approver"  # WAITING for a human at once; COMPLETED once approved
SLOW_APPROVER = "agent://test/slow-approver"  # approved: IN_PROGRESS, and stays open


@pytest.fixture
def axme_agents() -> dict[str, Any]:
    return {
        APPROVER: ApprovalScript(owner_agent=OWNER),
        SLOW_APPROVER: ApprovalScript(owner_agent=OWNER, completed=None),
    }


@pytest.fixture
def env(axme_emulator: Any, axme_settings: Any, settings: Any, monkeypatch) -> Iterator[Any]:
    settings.AXME = {
        **settings.AXME,
        "OBSERVER_IDLE_AFTER_SECONDS": 1,
        "OBSERVE_WINDOW_SECONDS": 2,
        "INBOX_OWNER_AGENTS": [OWNER],
        "MAX_RETRIES": 0,
    }
    enqueued: list[tuple[str, tuple[Any, ...]]] = []
    monkeypatch.setattr(
        observe_intent, "apply_async", lambda args=(), **kw: enqueued.append(("one", args))
    )
    monkeypatch.setattr(
        observe_many, "apply_async", lambda args=(), **kw: enqueued.append(("many", args))
    )
    changes: list[tuple[str, str]] = []

    def receiver(sender: Any, intent: Intent, **kwargs: Any) -> None:
        changes.append((intent.intent_id or "", str(kwargs["status"])))

    signals.intent_status_changed.connect(receiver, weak=False)
    try:
        yield SimpleNamespace(
            emulator=axme_emulator,
            client=axme_emulator.client(),
            enqueued=enqueued,
            changes=changes,
        )
    finally:
        signals.intent_status_changed.disconnect(receiver)
        for pool in list(multiplex._pools.values()):
            pool.stop_all()  # readers a still-open slice left for its next slice


def _waiting(env: Any, agent: str = APPROVER) -> str:
    remote = env.emulator.create_intent(
        {"intent_type": "intent.test.idle.v1", "to_agent": agent, "payload": {}}
    )
    intent_id = remote["intent_id"]
    env.emulator.wait_for_status(intent_id, {"WAITING"}, timeout=10)
    sync.ingest_intent(env.client.get_intent(intent_id))
    return intent_id


def _gone_idle(env: Any, agent: str = APPROVER) -> str:
    """An intent observed by one ``observe_many`` slice until it went idle."""
    intent_id = _waiting(env, agent)
    counts = observe_many(intent_ids=[intent_id], slice_seconds=2.5)
    assert counts == {"busy": 0, "idle": 1}
    assert env.enqueued == []  # no next slice: nothing left to follow live
    return intent_id


def _make_due(intent_id: str) -> None:
    Intent.objects.filter(intent_id=intent_id).update(
        next_poll_at=timezone.now() - timedelta(seconds=1)
    )


def _seconds_to_next_poll(intent_id: str) -> float:
    row = Intent.objects.get(intent_id=intent_id)
    assert row.next_poll_at is not None
    return (row.next_poll_at - timezone.now()).total_seconds()


def test_backoff_doubles_from_ten_seconds_to_ten_minutes() -> None:
    assert [idle.poll_interval(n) for n in range(9)] == [
        10,
        20,
        40,
        80,
        160,
        320,
        600,
        600,
        600,
    ]


def test_a_waiting_intent_goes_idle_costs_no_stream_and_is_polled_with_backoff(env) -> None:
    intent_id = _gone_idle(env)

    row = Intent.objects.get(intent_id=intent_id)
    assert row.status == "WAITING" and row.idle_since is not None
    assert row.observer_token == "" and row.observer_lease_until is None
    assert 7 < _seconds_to_next_poll(intent_id) <= 10
    # No reader holds its stream any more, and nothing puts it back on one.
    assert not any(intent_id in pool.readers for pool in multiplex._pools.values())
    assert intent_id not in Intent.objects.orphaned().remote_ids()
    assert start_observing([intent_id]) == 0
    assert reconcile_open_intents()["observers"] == 0
    assert env.enqueued == []

    assert poll_idle_intents()["polled"] == 0  # not due yet: not read
    for polls, interval in ((1, 20), (2, 40), (3, 80)):
        _make_due(intent_id)
        assert poll_idle_intents() == {"polled": 1, "woken": 0, "observers": 0, "backed_off": 1}
        row = Intent.objects.get(intent_id=intent_id)
        assert row.idle_polls == polls and row.idle_since is not None
        assert interval - 3 < _seconds_to_next_poll(intent_id) <= interval
    assert env.enqueued == []


def test_an_approval_given_elsewhere_reaches_its_signal_through_the_poll(env) -> None:
    intent_id = _gone_idle(env)
    env.client.approve_inbox_thread(intent_id, {"comment": "fine"}, owner_agent=OWNER)
    env.emulator.wait_for_status(intent_id, {"COMPLETED"}, timeout=10)
    assert (intent_id, "COMPLETED") not in env.changes  # nobody streams it

    _make_due(intent_id)
    assert poll_idle_intents() == {"polled": 1, "woken": 1, "observers": 0, "backed_off": 0}

    row = Intent.objects.get(intent_id=intent_id)
    assert row.status == "COMPLETED" and row.idle_since is None and row.next_poll_at is None
    ours = [s for i, s in env.changes if i == intent_id]
    assert ours[ours.index("WAITING") :] == ["WAITING", "IN_PROGRESS", "COMPLETED"]  # each once
    assert env.enqueued == []  # terminal: no observer needed


def test_the_inbox_feed_wakes_an_idle_intent_and_the_poll_returns_it_to_a_live_stream(
    env,
) -> None:
    intent_id = _waiting(env, SLOW_APPROVER)
    sync_inbox(owner_agents=[OWNER])  # the thread is mirrored, the feed's cursor stored
    assert Approval.objects.filter(thread_id=intent_id).exists()
    assert observe_many(intent_ids=[intent_id], slice_seconds=2.5) == {"busy": 0, "idle": 1}
    assert sync_inbox(owner_agents=[OWNER]) == {OWNER: 0}  # nothing moved: no wake-up
    assert _seconds_to_next_poll(intent_id) > 5

    env.client.approve_inbox_thread(intent_id, {"comment": "go"}, owner_agent=OWNER)
    env.emulator.wait_for_status(intent_id, {"IN_PROGRESS"}, timeout=10)
    sync_inbox(owner_agents=[OWNER])

    # The wake-up read the intent at once (its signal is sent) and made its poll due now.
    row = Intent.objects.get(intent_id=intent_id)
    assert row.status == "IN_PROGRESS"
    assert [s for i, s in env.changes if i == intent_id][-1] == "IN_PROGRESS"
    assert _seconds_to_next_poll(intent_id) <= 0
    assert env.enqueued == []

    # The poll sees it moved since it went idle and hands it back to a live observer.
    assert poll_idle_intents() == {"polled": 1, "woken": 1, "observers": 1, "backed_off": 0}
    assert env.enqueued == [("one", (intent_id,))]
    row = Intent.objects.get(intent_id=intent_id)
    assert row.idle_since is None and row.next_poll_at is None and row.idle_polls == 0
    assert intent_id in Intent.objects.without_live_observer().remote_ids()
    ours = [s for i, s in env.changes if i == intent_id]
    assert ours[ours.index("WAITING") :] == ["WAITING", "IN_PROGRESS"]  # signalled once


def test_a_missed_wake_up_is_caught_by_the_poll(env) -> None:
    intent_id = _waiting(env, SLOW_APPROVER)
    assert observe_many(intent_ids=[intent_id], slice_seconds=2.5) == {"busy": 0, "idle": 1}
    env.client.approve_inbox_thread(intent_id, {"comment": "go"}, owner_agent=OWNER)
    env.emulator.wait_for_status(intent_id, {"IN_PROGRESS"}, timeout=10)
    # No inbox sync ran (its wake-up was lost): the due poll reads the move itself.
    _make_due(intent_id)
    assert poll_idle_intents() == {"polled": 1, "woken": 1, "observers": 1, "backed_off": 0}
    assert Intent.objects.get(intent_id=intent_id).status == "IN_PROGRESS"
    assert env.enqueued == [("one", (intent_id,))]


def test_intents_that_move_or_a_zero_setting_stay_on_the_live_stream(env, settings) -> None:
    intent_id = _waiting(env)
    settings.AXME = {**settings.AXME, "OBSERVER_IDLE_AFTER_SECONDS": 0}
    counts = observe_many(intent_ids=[intent_id], slice_seconds=2.5)
    assert counts == {"busy": 0, "open": 1}
    assert Intent.objects.get(intent_id=intent_id).idle_since is None
    assert [name for name, _args in env.enqueued] == ["many"]

    # A longer quiet period than the intent's silence: it stays live too.
    settings.AXME = {**settings.AXME, "OBSERVER_IDLE_AFTER_SECONDS": 3600}
    assert idle.let_go_quiet([intent_id], "whatever", 3600) == []
    assert Intent.objects.quiet_waiting(3600).filter(intent_id=intent_id).count() == 0
    assert Intent.objects.quiet_waiting(0.001).filter(intent_id=intent_id).count() == 1


def test_observe_intent_lets_a_quiet_waiting_intent_go_idle(env) -> None:
    intent_id = _waiting(env)
    assert observe_intent.apply(args=(intent_id,)).get() == "idle"
    row = Intent.objects.get(intent_id=intent_id)
    assert row.idle_since is not None and row.observer_token == ""
    assert env.enqueued == []  # no next slice


class _Calls:
    """Counts the client's reads of one kind while a test runs (the HTTP calls stay real)."""

    def __init__(self, monkeypatch: Any) -> None:
        from django_axme.client import AxmeClient

        self.counts: dict[str, int] = {"get_intent": 0, "list_intent_events": 0}
        for name in self.counts:
            original = getattr(AxmeClient, name)

            def counted(client: Any, *args: Any, _name: str = name, _f: Any = original, **kw: Any):
                self.counts[_name] += 1
                return _f(client, *args, **kw)

            monkeypatch.setattr(AxmeClient, name, counted)


def test_an_unchanged_idle_intent_costs_one_request_per_poll(env, monkeypatch) -> None:
    intent_id = _gone_idle(env)
    calls = _Calls(monkeypatch)
    _make_due(intent_id)
    assert poll_idle_intents() == {"polled": 1, "woken": 0, "observers": 0, "backed_off": 1}
    assert calls.counts == {"get_intent": 0, "list_intent_events": 1}

    # An intent with news is read in full (its snapshot too) and signalled once.
    env.client.approve_inbox_thread(intent_id, {"comment": "fine"}, owner_agent=OWNER)
    env.emulator.wait_for_status(intent_id, {"COMPLETED"}, timeout=10)
    _make_due(intent_id)
    assert poll_idle_intents() == {"polled": 1, "woken": 1, "observers": 0, "backed_off": 0}
    assert calls.counts["get_intent"] == 1
    assert Intent.objects.get(intent_id=intent_id).status == "COMPLETED"
    ours = [s for i, s in env.changes if i == intent_id]
    assert ours[ours.index("WAITING") :] == ["WAITING", "IN_PROGRESS", "COMPLETED"]


def test_an_intent_the_inbox_feed_covers_is_only_swept(env, settings) -> None:
    settings.AXME = {**settings.AXME, "OBSERVER_IDLE_SWEEP_SECONDS": 1800}
    covered = _waiting(env, SLOW_APPROVER)
    sync_inbox(owner_agents=[OWNER])  # its approval thread is mirrored: the feed covers it
    uncovered = _waiting(env, SLOW_APPROVER)  # its thread not mirrored yet
    counts = observe_many(intent_ids=[covered, uncovered], slice_seconds=2.5)
    assert counts == {"busy": 0, "idle": 2}
    assert idle.covered_by_inbox([covered, uncovered]) == {covered}
    assert 1795 < _seconds_to_next_poll(covered) <= 1800
    assert 7 < _seconds_to_next_poll(uncovered) <= 10

    _make_due(covered)
    _make_due(uncovered)
    assert poll_idle_intents()["backed_off"] == 2
    assert 1795 < _seconds_to_next_poll(covered) <= 1800  # the sweep, not the backoff
    assert 17 < _seconds_to_next_poll(uncovered) <= 20

    # With no inbox synchronised, nothing is covered: the backoff applies again.
    settings.AXME = {**settings.AXME, "INBOX_OWNER_AGENTS": []}
    assert idle.covered_by_inbox([covered, uncovered]) == set()


def test_a_quiet_waiting_intent_goes_idle_when_claimed_without_a_stream(env) -> None:
    from django_axme.services.refresh import refresh_intent

    intent_id = _waiting(env)
    refresh_intent(env.client, intent_id)  # its events stored: WAITING in the mirror
    an_hour_ago = timezone.now() - timedelta(hours=1)
    row = Intent.objects.get(intent_id=intent_id)
    row.events.update(received_at=an_hour_ago)
    Intent.objects.filter(pk=row.pk).update(created_at=an_hour_ago)

    started = timezone.now()
    assert observe_many(intent_ids=[intent_id], slice_seconds=30) == {"busy": 0, "idle": 1}
    assert (timezone.now() - started).total_seconds() < 5  # no slice was run
    assert not any(intent_id in pool.readers for pool in multiplex._pools.values())
    row = Intent.objects.get(intent_id=intent_id)
    assert row.idle_since is not None and row.observer_token == ""
    assert env.enqueued == []


def test_a_completion_delivery_to_reply_to_wakes_an_idle_intent(env) -> None:
    from django_axme.services.inbox import completion_inboxes

    reply_to = "agent://test/replies"
    remote = env.emulator.create_intent(
        {
            "intent_type": "intent.test.idle.v1",
            "to_agent": "agent://test/unscripted",
            "reply_to": reply_to,
            "payload": {},
        }
    )
    intent_id = remote["intent_id"]
    env.emulator.transition(intent_id, "WAITING", waiting_reason="WAITING_FOR_TOOL")
    sync.ingest_intent(env.client.get_intent(intent_id))
    assert observe_many(intent_ids=[intent_id], slice_seconds=2.5) == {"busy": 0, "idle": 1}
    assert completion_inboxes() == [reply_to]
    assert _seconds_to_next_poll(intent_id) > 5

    env.emulator.resolve(intent_id, "COMPLETED", result={"done": True})
    sync_inbox.apply().get()  # the owners' inboxes, then the reply_to inbox of idle intents

    # The completion thread woke it: read at once (signalled once) and its poll due now.
    assert Intent.objects.get(intent_id=intent_id).status == "COMPLETED"
    assert [s for i, s in env.changes if i == intent_id].count("COMPLETED") == 1
    assert _seconds_to_next_poll(intent_id) <= 0
    assert poll_idle_intents()["woken"] == 1
    assert completion_inboxes() == []  # nothing idle waits on that inbox any more
