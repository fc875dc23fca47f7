"""The receivers of signals recorded in one transaction get the writer's own instances, however
many ``queue_signals`` calls recorded them (the first after-commit delivery claims the rows of
all of them): on PostgreSQL no re-read of the intent. A call rolled back with its savepoint
delivers nothing, an entry is used only for the row it describes, and what rolled-back calls
leave behind stays bounded. On SQLite (whose keys a rollback hands out again) the rows of the
other calls are re-read, as before.

Runs on SQLite and (with DATABASE_URL) on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from django_axme import signals
from django_axme.models import Intent, PendingSignal
from django_axme.sync import deliver_pending_signals, handover
from django_axme.sync.dispatch import Outgoing, queue_signals
from tests.mirror.helpers import new_intent_id

pytestmark = pytest.mark.django_db(transaction=True)

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the table is used on PostgreSQL only"
)


@pytest.fixture(autouse=True)
def _empty_table():
    handover.recorded_here().clear()
    yield
    handover.recorded_here().clear()


def _listen(connected) -> list[tuple[str, Intent]]:
    got: list[tuple[str, Intent]] = []
    connected(signals.intent_created, lambda sender, intent, **kw: got.append(("created", intent)))
    connected(
        signals.intent_status_changed,
        lambda sender, intent, **kw: got.append(("changed", intent)),
    )
    return got


def _changed(row: Intent) -> Outgoing:
    return Outgoing(
        signals.intent_status_changed, intent=row, previous_status="CREATED", status="SUBMITTED"
    )


def _intent_reads(queries: list[dict]) -> list[str]:
    table = Intent._meta.db_table
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith("SELECT") and table in q["sql"]
    ]


def test_signals_recorded_by_several_calls_are_delivered_in_order_with_the_writers_instances(
    connected,
):
    got = _listen(connected)
    with CaptureQueriesContext(connection) as ctx, transaction.atomic():
        row = Intent.objects.create(intent_id=new_intent_id(), intent_type="t")
        queue_signals([Outgoing(signals.intent_created, intent=row)])
        queue_signals([_changed(row)])
    assert [name for name, _ in got] == ["created", "changed"]
    assert all(instance.pk == row.pk for _, instance in got)
    assert got[0][1] is row
    if connection.vendor == "postgresql":
        assert got[1][1] is row
        assert _intent_reads(ctx.captured_queries) == []
    assert not PendingSignal.objects.exists()
    assert handover.recorded_here() == {}


def test_a_call_rolled_back_with_its_savepoint_delivers_nothing(connected):
    got = _listen(connected)
    with transaction.atomic():
        row = Intent.objects.create(intent_id=new_intent_id(), intent_type="t")
        with pytest.raises(RuntimeError), transaction.atomic():
            queue_signals([Outgoing(signals.intent_created, intent=row)])
            raise RuntimeError("undo")
        queue_signals([_changed(row)])
    assert [(name, instance is row) for name, instance in got] == [("changed", True)]
    assert not PendingSignal.objects.exists()
    # the rolled-back row's entry stays behind (PostgreSQL never hands its key out again)
    assert len(handover.recorded_here()) == (1 if connection.vendor == "postgresql" else 0)


@postgres_only
def test_an_entry_is_used_only_for_the_row_it_describes(connected):
    got = _listen(connected)
    row = Intent.objects.create(intent_id=new_intent_id(), intent_type="t")
    other = Intent.objects.create(intent_id=new_intent_id(), intent_type="t")
    pending = PendingSignal.objects.create(signal="intent_created", intent=row)
    decoy = Intent(pk=row.pk, intent_id=row.intent_id, intent_type="decoy")
    table = handover.recorded_here()
    for wrong in (
        handover.identity("intent_created", other.pk, None, None, None, {}),
        handover.identity("intent_completed", row.pk, None, None, None, {}),
        handover.identity("intent_created", row.pk, None, None, None, {"status": "X"}),
    ):
        table[pending.pk] = (wrong, {"intent": decoy})
        assert deliver_pending_signals() == 1
        assert got.pop()[1].intent_type == "t"  # read from the database
        pending = PendingSignal.objects.create(signal="intent_created", intent=row)
    right = handover.identity("intent_created", row.pk, None, None, None, {})
    table[pending.pk] = (right, {"intent": decoy})
    assert deliver_pending_signals() == 1
    assert got.pop()[1] is decoy


@postgres_only
def test_entries_left_by_rolled_back_transactions_are_dropped_past_the_bound(
    connected, monkeypatch
):
    got = _listen(connected)
    monkeypatch.setattr(handover, "RECORDED_HERE_MAX", 2)
    for _ in range(3):
        with pytest.raises(RuntimeError), transaction.atomic():
            row = Intent.objects.create(intent_id=new_intent_id(), intent_type="t")
            queue_signals([Outgoing(signals.intent_created, intent=row)])
            raise RuntimeError("undo")
    assert len(handover.recorded_here()) == 3
    with transaction.atomic():
        row = Intent.objects.create(intent_id=new_intent_id(), intent_type="t")
        queue_signals([Outgoing(signals.intent_created, intent=row)])
    assert handover.recorded_here() == {}  # cleared before the call; its own entry delivered
    assert [(name, instance is row) for name, instance in got] == [("created", True)]
