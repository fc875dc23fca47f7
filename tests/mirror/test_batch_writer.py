"""``sync.ingest_batch``: many intents in one transaction, a fixed number of SQL queries.

Runs on SQLite and (with DATABASE_URL) on PostgreSQL. The query count is taken without
receivers connected (the test project's are disconnected for that test): each receiver call
runs in its own savepoint (two statements), which is the receivers' cost, not the writer's.
"""

from __future__ import annotations

import logging
from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_axme import signals, sync
from django_axme.models import Intent, IntentEvent, PendingSignal
from tests.mirror.helpers import event, long_history, new_intent_id

pytestmark = pytest.mark.django_db(transaction=True)


def _histories(intents: int, per_intent: int, start: int = 1) -> list[tuple[str, list[dict]]]:
    ids = [new_intent_id() for _ in range(intents)]
    statuses = ["IN_PROGRESS", "WAITING", "IN_PROGRESS", "COMPLETED"]
    return [
        (
            i,
            [
                event(
                    i,
                    seq,
                    statuses[(seq - 1) % 4],
                    "WAITING_FOR_TOOL" if statuses[(seq - 1) % 4] == "WAITING" else None,
                )
                for seq in range(start, start + per_intent)
            ],
        )
        for i in ids
    ]


@pytest.fixture
def no_receivers():
    """Disconnect every receiver of the public signals (the test project's included) for the
    duration of a test, then put them back."""
    saved = {}
    for name in signals.__all__:
        signal = getattr(signals, name)
        with signal.lock:
            saved[name] = list(signal.receivers)
            signal.receivers = []
            signal.sender_receivers_cache.clear()
    yield
    for name, receivers in saved.items():
        signal = getattr(signals, name)
        with signal.lock:
            signal.receivers = receivers
            signal.sender_receivers_cache.clear()


def _count(items) -> int:
    with CaptureQueriesContext(connection) as ctx:
        sync.ingest_batch(items)
    return len(ctx.captured_queries)


def _next(items, n: int) -> list[tuple[str, list[dict]]]:
    """The next ``n`` events of each intent, each one a transition (IN_PROGRESS <-> WAITING)."""
    out = []
    for intent_id, events in items:
        status, more = events[-1]["status"], []
        for seq in range(events[-1]["seq"] + 1, events[-1]["seq"] + 1 + n):
            status = "WAITING" if status == "IN_PROGRESS" else "IN_PROGRESS"
            reason = "WAITING_FOR_TOOL" if status == "WAITING" else None
            more.append(event(intent_id, seq, status, reason))
        out.append((intent_id, more))
    return out


def test_query_count_does_not_grow_with_the_batch(no_receivers) -> None:
    small = _histories(10, 1)  # 10 events across 10 intents (IN_PROGRESS)
    large = _histories(500, 2)  # 1,000 events across 500 intents (IN_PROGRESS, WAITING)
    counts = {"new intents": (_count(small), _count(large))}
    assert IntentEvent.objects.count() == 10 + 1000
    assert not PendingSignal.objects.exists()  # every signal delivered in the one pass
    # The same intents again, with new events (existing rows, an UPDATE of each).
    small_more, large_more = _next(small, 1), _next(large, 2)
    counts["known intents"] = (_count(small_more), _count(large_more))
    # A replay of everything: all duplicates, nothing written, nothing signalled.
    counts["replay"] = (_count(small + small_more), _count(large + large_more))
    for what, (few, many) in counts.items():
        assert few == many, f"{what}: {few} queries for 10 events, {many} for 1,000"
    assert IntentEvent.objects.count() == 20 + 2000
    assert counts["new intents"][0] <= 16, counts  # a fixed handful, not one per intent


def test_batch_signals_each_transition_once_after_commit(recorder) -> None:
    known = new_intent_id()
    sync.ingest_events(known, [event(known, 1, "CREATED")])
    recorder.clear()
    fresh = new_intent_id()
    history = long_history(fresh, 30)
    results = sync.ingest_batch(
        [
            (known, [event(known, 2, "IN_PROGRESS")]),
            (fresh, history[:10]),
            (Intent.objects.get(intent_id=known), [event(known, 3, "COMPLETED")]),
            (fresh, history[10:]),
            ("", [event("x", 1, "IN_PROGRESS")]),  # unusable id: skipped
        ]
    )
    assert [r.intent.intent_id for r in results] == [known, fresh]
    assert [r.created for r in results] == [False, True]
    assert results[1].stored == 30
    row = Intent.objects.get(intent_id=known)
    assert (row.status, row.last_seq) == ("COMPLETED", 3)
    assert Intent.objects.get(intent_id=fresh).status == "COMPLETED"
    names = Counter(recorder.names())
    assert names["intent_created"] == 1
    assert names["intent_completed"] == 2
    mine = [
        c.kwargs["event"].seq
        for c in recorder.named("intent_status_changed")
        if c.kwargs["intent"].intent_id == known
    ]
    assert mine == [2, 3]
    per_fresh = [
        c.kwargs["event"].seq
        for c in recorder.named("intent_status_changed")
        if c.kwargs["intent"].intent_id == fresh
    ]
    assert per_fresh == sorted(per_fresh)  # one intent's signals in seq order

    recorder.clear()
    again = sync.ingest_batch([(known, [event(known, 3, "COMPLETED")]), (fresh, history)])
    assert [r.stored for r in again] == [0, 0]
    assert [r.duplicates for r in again] == [1, 30]
    assert recorder.names() == []


def test_a_failing_receiver_costs_no_other_intent(caplog) -> None:
    ids = [new_intent_id() for _ in range(3)]
    seen: list[str] = []

    def receiver(sender, intent, **kwargs):
        if intent.intent_id == ids[1]:
            raise RuntimeError("this receiver broke")
        seen.append(intent.intent_id)

    signals.intent_completed.connect(receiver, weak=False)
    try:
        with caplog.at_level(logging.ERROR, logger="django_axme.signals"):
            sync.ingest_batch([(i, [event(i, 1, "COMPLETED")]) for i in ids])
    finally:
        signals.intent_completed.disconnect(receiver)
    assert sorted(seen) == sorted([ids[0], ids[2]])
    assert ids[1] in caplog.text and "this receiver broke" in caplog.text
    assert not PendingSignal.objects.exists()
    assert set(Intent.objects.values_list("status", flat=True)) == {"COMPLETED"}


def test_bad_event_data_is_skipped_with_the_intent_named(caplog) -> None:
    good, bad = new_intent_id(), new_intent_id()
    with caplog.at_level(logging.WARNING, logger="django_axme.sync"):
        results = sync.ingest_batch(
            [
                (good, [event(good, 1, "IN_PROGRESS")]),
                (bad, [{"seq": "one"}, event(bad, 2, "IN_PROGRESS", actor="a\x00b")]),
            ]
        )
    assert [r.stored for r in results] == [1, 1]
    assert results[1].skipped == 1
    assert f"intent {bad}: skipped a malformed event" in caplog.text
    assert IntentEvent.objects.get(intent__intent_id=bad).actor == "a\ufffdb"


def test_refresh_intents_writes_many_intents_in_one_batch(axme_emulator, axme_settings, recorder):
    """Over real HTTP: the events of every intent go to the writer in one ``ingest_batch``
    call; an intent the gateway does not know costs no other."""
    import django_axme
    from django_axme.services.refresh import refresh_intents
    from django_axme.sync import batch as batch_module

    client = django_axme.get_client()
    body = {
        "intent_type": "shop.order.v1",
        "to_agent": "agent://demo/warehouse",
        "from_agent": "agent://demo/shop",
        "payload": {"order": 1},
    }
    ids = [client.create_intent(body)["intent_id"] for _ in range(5)]
    for intent_id in ids:
        axme_emulator.transition(intent_id, "IN_PROGRESS")
        axme_emulator.resolve(intent_id, "COMPLETED", result={"ok": intent_id})
    calls: list[int] = []
    real = batch_module.ingest_batch

    def counting(items):
        items = list(items)
        calls.append(len(items))
        return real(items)

    sync_module = __import__("django_axme.sync", fromlist=["ingest_batch"])
    original, sync_module.ingest_batch = sync_module.ingest_batch, counting
    try:
        outcomes = refresh_intents(client, [*ids, "00000000-0000-4000-8000-000000000000"])
    finally:
        sync_module.ingest_batch = original
    assert calls == [5]
    assert isinstance(outcomes["00000000-0000-4000-8000-000000000000"], Exception)
    for intent_id in ids:
        row = Intent.objects.get(intent_id=intent_id)
        assert (row.status, row.result) == ("COMPLETED", {"ok": intent_id})
        assert outcomes[intent_id].stored == len(axme_emulator.events(intent_id))
    assert len(recorder.named("intent_completed")) == 5
    assert refresh_intents(client, ids)[ids[0]].stored == 0  # idempotent
