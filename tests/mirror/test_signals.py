"""Signals are delivered after a real commit, never after a rollback, and a failing receiver
is isolated and logged."""

from __future__ import annotations

import logging

import pytest
from django.db import transaction

from django_axme import signals
from django_axme.models import Intent
from django_axme.sync import ingest_events, ingest_intent
from tests.mirror.helpers import event, new_intent_id

pytestmark = pytest.mark.django_db(transaction=True)


def test_signals_wait_for_the_outer_commit(recorder):
    intent_id = new_intent_id()
    with transaction.atomic():
        ingest_intent({"intent_id": intent_id, "intent_type": "t.x.v1"})
        ingest_events(intent_id, [event(intent_id, 1, "SUBMITTED")])
        assert recorder.calls == []  # nothing before commit
    assert recorder.names() == ["intent_created", "intent_status_changed"]


def test_rolled_back_outer_transaction_sends_no_signal(recorder):
    intent_id = new_intent_id()

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        ingest_intent({"intent_id": intent_id, "intent_type": "t.x.v1"})
        ingest_events(
            intent_id, [event(intent_id, 1, "IN_PROGRESS"), event(intent_id, 2, "COMPLETED")]
        )
        raise Boom
    assert recorder.calls == []
    assert not Intent.objects.filter(intent_id=intent_id).exists()
    # the news arrives again later: now it is signalled, once
    ingest_events(intent_id, [event(intent_id, 1, "IN_PROGRESS"), event(intent_id, 2, "COMPLETED")])
    assert recorder.names().count("intent_completed") == 1
    assert recorder.names().count("intent_created") == 1


def test_rolled_back_savepoint_drops_only_its_signals(recorder):
    first, second = new_intent_id(), new_intent_id()
    with transaction.atomic():
        ingest_events(first, [event(first, 1, "SUBMITTED")])
        try:
            with transaction.atomic():
                ingest_events(second, [event(second, 1, "SUBMITTED")])
                raise RuntimeError("inner failure")
        except RuntimeError:
            pass
    ids = {c.kwargs["intent"].intent_id for c in recorder.calls}
    assert ids == {first}


def test_failing_receiver_is_logged_and_isolated(recorder, caplog):
    intent_id = new_intent_id()
    after: list[str] = []

    def broken(sender, **kwargs):
        raise ValueError("receiver bug")

    def later(sender, status, **kwargs):
        after.append(status)

    signals.intent_status_changed.connect(broken, weak=False)
    signals.intent_status_changed.connect(later, weak=False)
    try:
        with caplog.at_level(logging.ERROR, logger="django_axme.signals"):
            result = ingest_events(
                intent_id, [event(intent_id, 1, "IN_PROGRESS"), event(intent_id, 2, "COMPLETED")]
            )
    finally:
        signals.intent_status_changed.disconnect(broken)
        signals.intent_status_changed.disconnect(later)
    assert after == ["IN_PROGRESS", "COMPLETED"]  # later receivers still ran
    assert recorder.names().count("intent_completed") == 1  # other signals still sent
    failures = [r for r in caplog.records if r.name == "django_axme.signals"]
    assert len(failures) == 2
    assert all(intent_id in r.getMessage() and "receiver bug" in r.getMessage() for r in failures)
    assert all(r.exc_info and r.exc_info[0] is ValueError for r in failures)
    row = Intent.objects.get(pk=result.intent.pk)  # the mirror was not undone
    assert (row.status, row.last_seq) == ("COMPLETED", 2)


def test_signal_arguments(recorder):
    intent_id = new_intent_id()
    ingest_events(
        intent_id,
        [
            event(intent_id, 1, "IN_PROGRESS"),
            event(intent_id, 2, "WAITING", "WAITING_FOR_TOOL"),
            event(intent_id, 3, "FAILED", details={"error": {"code": "x"}}),
        ],
    )
    changed = recorder.named("intent_status_changed")
    assert set(changed[0].kwargs) == {"intent", "previous_status", "status", "event"}
    assert set(recorder.named("intent_waiting")[0].kwargs) == {"intent", "event"}
    failed = recorder.named("intent_failed")[0].kwargs
    assert set(failed) == {"intent", "event"}
    assert failed["event"].seq == 3 and failed["intent"].error == {"code": "x"}
    assert recorder.names() == [
        "intent_created",
        "intent_status_changed",
        "intent_status_changed",
        "intent_waiting",
        "intent_status_changed",
        "intent_failed",
    ]


@pytest.mark.parametrize(
    ("status", "name"),
    [
        ("COMPLETED", "intent_completed"),
        ("CANCELED", "intent_canceled"),
        ("TIMED_OUT", "intent_timed_out"),
    ],
)
def test_each_terminal_signal(recorder, status, name):
    intent_id = new_intent_id()
    ingest_events(intent_id, [event(intent_id, 1, "IN_PROGRESS"), event(intent_id, 2, status)])
    assert recorder.names().count(name) == 1


def test_events_that_change_no_status_are_signalled_once(recorder):
    intent_id = new_intent_id()
    waiting = event(intent_id, 1, "WAITING", "WAITING_FOR_HUMAN")
    reminder = event(intent_id, 2, "WAITING", "WAITING_FOR_HUMAN", event_type="intent.reminder")
    assigned = event(
        intent_id, 3, "WAITING", "WAITING_FOR_HUMAN", event_type="intent.human_task_assigned"
    )
    other = event(intent_id, 4, "WAITING", "WAITING_FOR_HUMAN", event_type="intent.noted")
    ingest_events(intent_id, [waiting, reminder])
    ingest_events(intent_id, [waiting, reminder, assigned, other])  # a replay and two new
    received = recorder.named("intent_event_received")
    assert [r.kwargs["event"].event_type for r in received] == [
        "intent.reminder",
        "intent.human_task_assigned",
    ]
    assert set(received[0].kwargs) == {"intent", "event"}
    assert recorder.names().count("intent_status_changed") == 1  # the reminder moved nothing
    # A later batch; replaying it tells nothing again.
    escalated = event(intent_id, 6, "WAITING", "WAITING_FOR_HUMAN", event_type="intent.escalated")
    ingest_events(intent_id, [escalated])
    ingest_events(intent_id, [escalated])
    assert len(recorder.named("intent_event_received")) == 3
