"""The signal outbox: signals are recorded with the mirror change, delivered in a transaction
of their own (receivers' database writes commit with the delivery), and a delivery that was
interrupted (an exception that is not an ``Exception``, or a process killed mid-delivery) is
delivered again, once, by ``deliver_pending_signals``."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, transaction

from django_axme import signals
from django_axme.models import Intent, PendingSignal, SyncCursor
from django_axme.sync import (
    decision_sent,
    deliver_pending_signals,
    ingest_events,
    ingest_intent,
    ingest_thread,
    record_decision,
)
from django_axme.sync import dispatch as dispatch_module
from tests.mirror.helpers import event, new_intent_id
from tests.mirror.test_approvals import thread_for, waiting_intent
from tests.mirror.test_concurrency import run_writers

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(__file__).resolve().parents[2]
#: The signals of ``history()``, in the order they are recorded and delivered.
HISTORY_SIGNALS = [
    "intent_created",
    "intent_status_changed",
    "intent_status_changed",
    "intent_waiting",
    "intent_status_changed",
    "intent_completed",
]


class Interrupted(BaseException):
    """Aborts a delivery the way a KeyboardInterrupt or SystemExit would."""


def history(intent_id: str) -> list[dict]:
    return [
        event(intent_id, 1, "IN_PROGRESS"),
        event(intent_id, 2, "WAITING", "WAITING_FOR_TOOL"),
        event(intent_id, 3, "COMPLETED"),
    ]


def test_signals_are_rows_until_delivered_and_none_are_left(recorder):
    intent_id = new_intent_id()
    with transaction.atomic():
        ingest_events(intent_id, history(intent_id))
        pending = list(PendingSignal.objects.values_list("signal", flat=True))
        assert pending == HISTORY_SIGNALS
        assert recorder.calls == []
    assert recorder.names() == pending
    assert not PendingSignal.objects.exists()


def test_receiver_writes_commit_with_the_delivery_and_a_failing_one_is_rolled_back(
    recorder, connected, caplog
):
    intent_id = new_intent_id()

    def writes_then_fails(sender, event, **kwargs):
        SyncCursor.objects.create(name=f"failed:{event.seq}")
        raise ValueError("receiver bug")

    def writes(sender, event, **kwargs):
        SyncCursor.objects.create(name=f"kept:{event.seq}")

    connected(signals.intent_status_changed, writes_then_fails)
    connected(signals.intent_status_changed, writes)
    with caplog.at_level(logging.ERROR, logger="django_axme.signals"):
        ingest_events(intent_id, history(intent_id))
    names = set(SyncCursor.objects.values_list("name", flat=True))
    assert names == {"kept:1", "kept:2", "kept:3"}  # the failing receiver's writes undone
    assert len([r for r in caplog.records if intent_id in r.getMessage()]) == 3
    assert not PendingSignal.objects.exists()  # the failures still count as delivered
    assert recorder.names().count("intent_completed") == 1


def test_interrupted_delivery_stays_pending_and_is_delivered_once_later(recorder, connected):
    intent_id = new_intent_id()
    armed = [True]

    def interrupts_once(sender, event, **kwargs):
        SyncCursor.objects.create(name=f"effect:{event.seq}")
        if armed[0] and event.seq == 2:
            raise Interrupted

    connected(signals.intent_status_changed, interrupts_once)
    with pytest.raises(Interrupted):
        ingest_events(intent_id, history(intent_id))
    row = Intent.objects.get(intent_id=intent_id)
    assert (row.status, row.last_seq) == ("COMPLETED", 3)  # the mirror is committed
    # The whole delivery rolled back: its rows are pending, the receiver's writes are gone
    # (including seq 1's, delivered before the interruption in the same transaction).
    assert PendingSignal.objects.filter(intent=row).count() == 6
    assert not SyncCursor.objects.filter(name__startswith="effect:").exists()
    armed[0] = False
    recorder.clear()

    assert deliver_pending_signals() == 6
    assert deliver_pending_signals() == 0  # nothing twice
    assert sorted(SyncCursor.objects.values_list("name", flat=True)) == [
        "effect:1",
        "effect:2",
        "effect:3",
    ]
    # rebuilt from the stored ids: same signals, same arguments, same order
    assert recorder.names() == HISTORY_SIGNALS
    changes = recorder.named("intent_status_changed")
    assert [
        (c.kwargs["event"].seq, c.kwargs["previous_status"], c.kwargs["status"]) for c in changes
    ] == [(1, "CREATED", "IN_PROGRESS"), (2, "IN_PROGRESS", "WAITING"), (3, "WAITING", "COMPLETED")]
    assert all(c.kwargs["intent"].pk == row.pk for c in changes)
    assert set(recorder.named("intent_waiting")[0].kwargs) == {"intent", "event"}


def test_recovery_waits_for_its_age_and_keeps_new_signals_behind_old_ones(recorder, monkeypatch):
    intent_id = new_intent_id()
    monkeypatch.setattr(dispatch_module, "_deliver_after_commit", lambda keys, cache: None)
    ingest_events(intent_id, history(intent_id)[:1])  # "crash" after commit: left pending
    assert deliver_pending_signals(older_than_seconds=60) == 0
    monkeypatch.undo()
    ingest_events(intent_id, history(intent_id)[1:])  # its delivery takes the old ones first
    assert not PendingSignal.objects.exists()
    seqs = [c.kwargs["event"].seq for c in recorder.named("intent_status_changed")]
    assert seqs == [1, 2, 3]
    assert recorder.names()[0] == "intent_created"


def test_approval_signals_are_rebuilt_with_decision_and_user(recorder, monkeypatch):
    user = get_user_model().objects.create_user("carol")
    monkeypatch.setattr(dispatch_module, "_deliver_after_commit", lambda keys, cache: None)
    intent_id = waiting_intent()
    approval = ingest_thread(thread_for(intent_id))
    decision = record_decision(approval, user=user, decision="approve", note="ok")
    decision_sent(decision, {"ok": True})
    ingest_events(intent_id, [event(intent_id, 3, "COMPLETED")])
    assert recorder.calls == []
    pending = PendingSignal.objects.count()
    assert pending >= 7  # created, 2 transitions (+ waiting), requested, completion, decided
    assert deliver_pending_signals() == pending
    requested = recorder.named("approval_requested")
    decided = recorder.named("approval_decided")
    assert len(requested) == len(decided) == 1
    assert requested[0].kwargs["approval"].pk == approval.pk
    assert decided[0].kwargs["decision"].pk == decision.pk
    assert decided[0].kwargs["user"] == user
    assert decided[0].kwargs["approval"].status == "approved"
    names = recorder.names()
    assert names.index("approval_requested") < names.index("approval_decided")
    assert names.index("intent_waiting") < names.index("approval_requested")
    assert not PendingSignal.objects.exists()


def test_approval_of_an_unmirrored_intent_is_signalled_by_approval(recorder, monkeypatch):
    monkeypatch.setattr(dispatch_module, "_deliver_after_commit", lambda keys, cache: None)
    remote = new_intent_id()
    approval = ingest_thread(thread_for(remote, waiting_reason="WAITING_FOR_HUMAN"))
    row = PendingSignal.objects.get()
    assert (row.intent_id, row.approval_id, row.remote_intent_id) == (None, approval.pk, remote)
    assert deliver_pending_signals() == 1
    assert recorder.named("approval_requested")[0].kwargs["approval"].pk == approval.pk


def test_concurrent_recoverers_deliver_each_signal_once_in_order(recorder, monkeypatch, connected):
    monkeypatch.setattr(dispatch_module, "_deliver_after_commit", lambda keys, cache: None)
    ids = [new_intent_id() for _ in range(12)]
    for intent_id in ids:
        ingest_events(intent_id, history(intent_id))
    assert PendingSignal.objects.count() == 6 * len(ids)
    monkeypatch.undo()

    def slow_writer(sender, intent, event, **kwargs):
        SyncCursor.objects.create(name=f"{intent.intent_id}:{event.seq}")
        time.sleep(0.002)

    connected(signals.intent_status_changed, slow_writer)
    counts: list[int] = []
    lock = threading.Lock()

    def recoverer(i):
        def run():
            n = deliver_pending_signals()
            with lock:
                counts.append(n)

        return run

    errors = run_writers(recoverer)
    assert errors == []
    assert sum(counts) == 6 * len(ids)
    assert not PendingSignal.objects.exists()
    changes = recorder.named("intent_status_changed")
    seen = Counter((c.kwargs["intent"].intent_id, c.kwargs["event"].seq) for c in changes)
    assert set(seen.values()) == {1} and len(seen) == 3 * len(ids)
    assert SyncCursor.objects.filter(name__contains=":").count() == 3 * len(ids)
    for intent_id in ids:  # one intent's signals never overtake each other
        seqs = [c.kwargs["event"].seq for c in changes if c.kwargs["intent"].intent_id == intent_id]
        assert seqs == [1, 2, 3]


KILLED_MID_DELIVERY = """
import os, signal, sys
import django
django.setup()
from django_axme import signals
from django_axme.models import SyncCursor
from django_axme.sync import ingest_events

def receiver(sender, event, **kwargs):
    SyncCursor.objects.create(name=f"killed:{event.seq}")
    if event.seq == 2:
        os.kill(os.getpid(), signal.SIGKILL)

signals.intent_status_changed.connect(receiver, weak=False)
intent_id = sys.argv[1]
ingest_events(intent_id, [
    {"intent_id": intent_id, "seq": 1, "event_type": "intent.in_progress", "status": "IN_PROGRESS"},
    {"intent_id": intent_id, "seq": 2, "event_type": "intent.waiting", "status": "WAITING",
     "waiting_reason": "WAITING_FOR_TOOL"},
    {"intent_id": intent_id, "seq": 3, "event_type": "intent.completed", "status": "COMPLETED"},
])
print("not killed")
"""


def test_process_killed_mid_delivery_loses_nothing(recorder, connected):
    from tests.tasks.harness import database_url

    intent_id = new_intent_id()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "testproject.settings",
        "DATABASE_URL": database_url(),
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "testproject")]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLED_MID_DELIVERY), intent_id],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    row = Intent.objects.get(intent_id=intent_id)
    assert (row.status, row.last_seq) == ("COMPLETED", 3)
    # killed inside the delivery transaction: its claim and the receiver's writes rolled back
    assert PendingSignal.objects.filter(intent=row).count() == 6
    assert not SyncCursor.objects.filter(name__startswith="killed:").exists()

    def survivor(sender, event, **kwargs):
        SyncCursor.objects.create(name=f"recovered:{event.seq}")

    connected(signals.intent_status_changed, survivor)
    assert deliver_pending_signals() == 6
    assert deliver_pending_signals() == 0
    assert sorted(SyncCursor.objects.values_list("name", flat=True)) == [
        "recovered:1",
        "recovered:2",
        "recovered:3",
    ]
    assert recorder.names().count("intent_completed") == 1


def test_worker_start_hook_delivers_and_never_crashes(recorder, monkeypatch, caplog):
    from django_axme import tasks

    intent_id = new_intent_id()
    monkeypatch.setattr(dispatch_module, "_deliver_after_commit", lambda keys, cache: None)
    ingest_intent({"intent_id": intent_id, "intent_type": "t.x.v1"})
    monkeypatch.undo()
    assert tasks.deliver_signals_at_worker_start(sender=None) == 1
    assert recorder.names() == ["intent_created"]

    def not_migrated(**kwargs):
        raise DatabaseError('relation "django_axme_pendingsignal" does not exist')

    monkeypatch.setattr("django_axme.sync.deliver_pending_signals", not_migrated)
    with caplog.at_level(logging.WARNING, logger="django_axme.tasks"):
        assert tasks.deliver_signals_at_worker_start(sender=None) == 0
    assert "does not exist" in caplog.text


def test_deliver_pending_signals_rejects_a_negative_age():
    with pytest.raises(ValueError, match="older_than_seconds"):
        deliver_pending_signals(older_than_seconds=-1)
