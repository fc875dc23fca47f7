"""Each receiver call is isolated as ``with transaction.atomic(): receiver(...)`` would isolate
it, but its savepoint is opened only when the receiver first sends SQL: a receiver that does
not touch the database costs no statement, and one that does is rolled back alone when it
fails (its writes, and the ``on_commit`` callbacks it registered), whatever it did.

Runs on SQLite and (with DATABASE_URL) on PostgreSQL."""

from __future__ import annotations

import logging

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from django_axme import signals
from django_axme.models import PendingSignal, SyncCursor
from django_axme.sync import ingest_events
from tests.mirror.helpers import event, new_intent_id

pytestmark = pytest.mark.django_db(transaction=True)


def _one_transition(intent_id: str) -> list[dict]:
    return [event(intent_id, 1, "IN_PROGRESS")]


def _cursors() -> set[str]:
    return set(SyncCursor.objects.values_list("name", flat=True))


def test_a_receiver_that_does_not_touch_the_database_costs_no_savepoint(connected):
    def statements() -> list[str]:
        intent_id = new_intent_id()
        with CaptureQueriesContext(connection) as ctx:
            ingest_events(intent_id, _one_transition(intent_id))
        return [q["sql"] for q in ctx.captured_queries]

    without = statements()
    seen = []
    for _ in range(3):
        connected(signals.intent_status_changed, lambda sender, **kw: seen.append(kw["status"]))
    connected(signals.intent_created, lambda sender, **kw: seen.append("created"))
    with_them = statements()
    assert sorted(seen) == ["IN_PROGRESS"] * 3 + ["created"]
    assert len(with_them) == len(without)
    assert not PendingSignal.objects.exists()


def test_a_writing_receiver_gets_its_savepoint_before_its_first_statement(connected):
    order = []

    def writes(sender, intent, **kwargs):
        SyncCursor.objects.create(name=f"w:{intent.intent_id}")

    connected(signals.intent_status_changed, writes)
    intent_id = new_intent_id()
    with CaptureQueriesContext(connection) as ctx:
        ingest_events(intent_id, _one_transition(intent_id))
    for q in ctx.captured_queries:
        sql = q["sql"].upper()
        if "SAVEPOINT" in sql or "SYNCCURSOR" in sql:
            order.append("release" if "RELEASE" in sql else "sp" if "SAVEPOINT" in sql else "w")
    # the delivery's own statements open no savepoint; the receiver's insert sits in one
    assert order[-3:] == ["sp", "w", "release"], order
    assert _cursors() == {f"w:{intent_id}"}


def test_a_failing_receiver_loses_its_writes_and_callbacks_the_next_one_keeps_its_own(
    connected, caplog
):
    ran = []

    def callback_then_fails(sender, intent, **kwargs):
        transaction.on_commit(lambda: ran.append("dropped"))  # before any statement
        raise ValueError("receiver bug")

    def writes_then_fails(sender, intent, **kwargs):
        SyncCursor.objects.create(name="failed")
        transaction.on_commit(lambda: ran.append("dropped too"))
        raise ValueError("receiver bug")

    def writes(sender, intent, **kwargs):
        SyncCursor.objects.create(name="kept")
        transaction.on_commit(lambda: ran.append("kept"))

    connected(signals.intent_status_changed, callback_then_fails)
    connected(signals.intent_status_changed, writes_then_fails)
    connected(signals.intent_status_changed, writes)
    intent_id = new_intent_id()
    with caplog.at_level(logging.ERROR, logger="django_axme.signals"):
        ingest_events(intent_id, _one_transition(intent_id))
    assert _cursors() == {"kept"}
    assert ran == ["kept"]
    assert len([r for r in caplog.records if intent_id in r.getMessage()]) == 2
    assert not PendingSignal.objects.exists()


def test_a_receiver_that_swallows_an_error_in_atomic_without_savepoint_is_rolled_back(
    connected,
):
    def swallows(sender, intent, **kwargs):
        SyncCursor.objects.create(name="swallowed")
        try:
            with transaction.atomic(savepoint=False):
                SyncCursor.objects.create(name="swallowed")  # unique name: refused
        except IntegrityError:
            pass  # the transaction is marked for rollback

    def sets_rollback(sender, intent, **kwargs):
        SyncCursor.objects.create(name="asked for rollback")
        transaction.set_rollback(True)

    def writes(sender, intent, **kwargs):
        SyncCursor.objects.create(name="kept")

    connected(signals.intent_status_changed, swallows)
    connected(signals.intent_status_changed, sets_rollback)
    connected(signals.intent_status_changed, writes)
    intent_id = new_intent_id()
    ingest_events(intent_id, _one_transition(intent_id))
    assert _cursors() == {"kept"}
    assert not PendingSignal.objects.exists()


def test_nested_atomic_blocks_of_a_receiver_are_undone_with_it(connected, caplog):
    def nested_then_fails(sender, intent, **kwargs):
        with transaction.atomic():
            SyncCursor.objects.create(name="inner")
        SyncCursor.objects.create(name="outer")
        raise ValueError("after its own blocks")

    def nested(sender, intent, **kwargs):
        with transaction.atomic():
            SyncCursor.objects.create(name="kept inner")

    connected(signals.intent_status_changed, nested_then_fails)
    connected(signals.intent_status_changed, nested)
    intent_id = new_intent_id()
    with caplog.at_level(logging.ERROR, logger="django_axme.signals"):
        ingest_events(intent_id, _one_transition(intent_id))
    assert _cursors() == {"kept inner"}


def test_a_receiver_that_breaks_the_transaction_and_hides_it_does_not_break_the_delivery(
    connected, caplog
):
    """On PostgreSQL a failed statement aborts the transaction: releasing the receiver's
    savepoint then fails, so it is rolled back and logged (as ``atomic`` does); SQLite keeps
    the transaction usable, so the receiver's other write is kept there, as with ``atomic``."""

    def hides_an_error(sender, intent, **kwargs):
        SyncCursor.objects.create(name="dup")
        try:  # a raw statement: nothing marks the transaction for rollback
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {SyncCursor._meta.db_table} (name, value, updated_at) "
                    "VALUES ('dup', '', CURRENT_TIMESTAMP)"
                )
        except IntegrityError:
            pass

    def writes(sender, intent, **kwargs):
        SyncCursor.objects.create(name="kept")

    connected(signals.intent_status_changed, hides_an_error)
    connected(signals.intent_status_changed, writes)
    intent_id = new_intent_id()
    with caplog.at_level(logging.ERROR, logger="django_axme.signals"):
        ingest_events(intent_id, _one_transition(intent_id))
    postgres = connection.vendor == "postgresql"
    assert _cursors() == ({"kept"} if postgres else {"kept", "dup"})
    logged = [r for r in caplog.records if intent_id in r.getMessage()]
    assert len(logged) == (1 if postgres else 0)
    assert not PendingSignal.objects.exists()


def test_a_row_recorded_by_another_thread_of_this_process_is_delivered_with_its_instances(
    connected,
):
    """A delivery that claims a committed row whose after-commit delivery (in the thread that
    recorded it) has not claimed it yet hands over that writer's instance; once that delivery
    is over, the row is rebuilt from the database."""
    from django_axme.models import Intent
    from django_axme.sync import deliver_pending_signals, handover

    got = []
    connected(signals.intent_created, lambda sender, intent, **kw: got.append(intent))
    row = Intent.objects.create(intent_id=new_intent_id(), intent_type="t")
    mine = Intent.objects.get(pk=row.pk)  # the writer's instance, in "the other thread"
    shared = PendingSignal.objects.create(signal="intent_created", intent=row)
    rebuilt = PendingSignal.objects.create(signal="intent_created", intent=row)
    handover.publish({shared.pk: {"intent": mine}})
    try:
        assert deliver_pending_signals() == 2
    finally:
        handover.withdraw({shared.pk: {}})
    assert len(got) == 2 and got[0] is mine  # pk order: the shared row first
    assert got[1] is not mine and got[1].pk == row.pk  # read again from the database
    assert not PendingSignal.objects.filter(pk__in=[shared.pk, rebuilt.pk]).exists()
