"""Event ingestion: idempotent, ordered by seq, terminal is final, malformed data skipped."""

from __future__ import annotations

import logging

import pytest

from django_axme.models import Intent, IntentEvent
from django_axme.sync import ingest_events, ingest_intent
from tests.mirror.helpers import event, expected_transitions, long_history, new_intent_id

pytestmark = pytest.mark.django_db


@pytest.fixture
def intent_id():
    return new_intent_id()


@pytest.fixture
def intent(intent_id, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return ingest_intent({"intent_id": intent_id, "intent_type": "test.thing.v1"})


def ingest(capture, intent, events):
    with capture(execute=True):
        return ingest_events(intent, events)


def test_history_applies_in_order_and_signals_each_transition(
    intent, intent_id, recorder, django_capture_on_commit_callbacks
):
    history = long_history(intent_id, 40)
    result = ingest(django_capture_on_commit_callbacks, intent, history)
    assert result.stored == 40
    expected = expected_transitions(history)
    assert [
        (t.event.seq, t.previous_status, t.status, t.waiting_reason) for t in result.transitions
    ] == expected
    changes = recorder.named("intent_status_changed")
    assert [
        (c.kwargs["event"].seq, c.kwargs["previous_status"], c.kwargs["status"]) for c in changes
    ] == [(seq, prev, status) for seq, prev, status, _ in expected if prev != status]
    assert len(recorder.named("intent_completed")) == 1
    assert len(recorder.named("intent_waiting")) == sum(1 for t in expected if t[2] == "WAITING")
    intent.refresh_from_db()
    assert (intent.status, intent.last_seq, intent.result) == ("COMPLETED", 40, {"ok": True})
    assert IntentEvent.objects.filter(intent=intent).count() == 40


def test_duplicates_change_nothing_and_signal_nothing(
    intent, intent_id, recorder, django_capture_on_commit_callbacks
):
    history = long_history(intent_id, 12, final="FAILED")
    ingest(django_capture_on_commit_callbacks, intent, history[:8])
    recorder.clear()
    before = Intent.objects.get(pk=intent.pk)
    result = ingest(django_capture_on_commit_callbacks, intent, history[:8] + history[3:5])
    assert (result.stored, result.transitions, result.duplicates) == (0, [], 10)
    assert recorder.calls == []
    after = Intent.objects.get(pk=intent.pk)
    assert (after.status, after.waiting_reason, after.last_seq) == (
        before.status,
        before.waiting_reason,
        before.last_seq,
    )


def test_late_event_is_stored_but_never_moves_status_backwards(
    intent, intent_id, recorder, django_capture_on_commit_callbacks
):
    ingest(django_capture_on_commit_callbacks, intent, [event(intent_id, 1, "CREATED")])
    ingest(django_capture_on_commit_callbacks, intent, [event(intent_id, 5, "IN_PROGRESS")])
    recorder.clear()
    result = ingest(
        django_capture_on_commit_callbacks,
        intent,
        [event(intent_id, 3, "DELIVERED"), event(intent_id, 2, "SUBMITTED")],
    )
    assert (result.stored, result.late, result.transitions) == (2, 2, [])
    assert recorder.calls == []
    intent.refresh_from_db()
    assert (intent.status, intent.last_seq) == ("IN_PROGRESS", 5)
    assert list(intent.events.values_list("seq", flat=True)) == [1, 2, 3, 5]


def test_out_of_order_batch_is_sorted_by_seq(
    intent, intent_id, recorder, django_capture_on_commit_callbacks
):
    batch = [
        event(intent_id, 4, "IN_PROGRESS"),
        event(intent_id, 2, "SUBMITTED"),
        event(intent_id, 5, "WAITING", "WAITING_FOR_HUMAN"),
        event(intent_id, 3, "DELIVERED"),
    ]
    result = ingest(django_capture_on_commit_callbacks, intent, batch)
    assert [t.status for t in result.transitions] == [
        "SUBMITTED",
        "DELIVERED",
        "IN_PROGRESS",
        "WAITING",
    ]
    assert [c.kwargs["status"] for c in recorder.named("intent_status_changed")] == [
        "SUBMITTED",
        "DELIVERED",
        "IN_PROGRESS",
        "WAITING",
    ]
    waiting = recorder.named("intent_waiting")
    assert len(waiting) == 1 and waiting[0].kwargs["event"].seq == 5
    intent.refresh_from_db()
    assert (intent.status, intent.waiting_reason) == ("WAITING", "WAITING_FOR_HUMAN")


def test_terminal_status_is_final(intent, intent_id, recorder, django_capture_on_commit_callbacks):
    ingest(
        django_capture_on_commit_callbacks,
        intent,
        [event(intent_id, 1, "IN_PROGRESS"), event(intent_id, 2, "CANCELED", reason="stop")],
    )
    recorder.clear()
    result = ingest(
        django_capture_on_commit_callbacks,
        intent,
        [event(intent_id, 3, "IN_PROGRESS"), event(intent_id, 4, "COMPLETED")],
    )
    assert (result.stored, result.transitions) == (2, [])
    assert recorder.calls == []
    intent.refresh_from_db()
    assert (intent.status, intent.last_seq) == ("CANCELED", 4)


def test_unknown_status_is_kept_raw_and_logged(
    intent, intent_id, recorder, caplog, django_capture_on_commit_callbacks
):
    with caplog.at_level(logging.WARNING, logger="django_axme.sync"):
        result = ingest(
            django_capture_on_commit_callbacks,
            intent,
            [event(intent_id, 1, "SUBMITTED"), event(intent_id, 2, "PARKED_ON_MARS")],
        )
    assert result.transitions[-1].status == "PARKED_ON_MARS"
    intent.refresh_from_db()
    assert intent.status == "PARKED_ON_MARS"
    assert intent.get_status_display() == "PARKED_ON_MARS"
    assert any(
        "PARKED_ON_MARS" in r.getMessage() and intent_id in r.getMessage() for r in caplog.records
    )
    assert recorder.named("intent_status_changed")[-1].kwargs["status"] == "PARKED_ON_MARS"


@pytest.mark.parametrize(
    "bad",
    [
        "not an event",
        None,
        ["a", "list"],
        {"event_type": "intent.created", "status": "CREATED"},
        {"seq": "3", "event_type": "intent.delivered", "status": "DELIVERED"},
        {"seq": 2.5, "status": "DELIVERED"},
        {"seq": True, "status": "DELIVERED"},
        {"seq": 0, "status": "DELIVERED"},
        {"seq": 3, "status": "DELIVERED", "intent_id": "someone-else"},
    ],
)
def test_malformed_events_are_logged_and_skipped(
    intent, intent_id, bad, caplog, django_capture_on_commit_callbacks
):
    with caplog.at_level(logging.WARNING, logger="django_axme.sync"):
        result = ingest(
            django_capture_on_commit_callbacks,
            intent,
            [event(intent_id, 1, "SUBMITTED"), bad, event(intent_id, 2, "DELIVERED")],
        )
    assert (result.stored, result.skipped) == (2, 1)
    assert any(
        "malformed" in r.getMessage() and intent_id in r.getMessage() for r in caplog.records
    )
    intent.refresh_from_db()
    assert intent.status == "DELIVERED"


def test_event_without_status_advances_cursor_only(
    intent, intent_id, recorder, django_capture_on_commit_callbacks
):
    reminder = event(intent_id, 2, "IN_PROGRESS", event_type="intent.reminder")
    del reminder["status"]
    ingest(
        django_capture_on_commit_callbacks, intent, [event(intent_id, 1, "IN_PROGRESS"), reminder]
    )
    intent.refresh_from_db()
    assert (intent.status, intent.last_seq) == ("IN_PROGRESS", 2)
    assert len(recorder.named("intent_status_changed")) == 1


def test_terminal_event_without_status_is_derived_from_type(
    intent, intent_id, django_capture_on_commit_callbacks
):
    done = {"seq": 1, "event_type": "intent.failed", "details": {"error": {"code": "boom"}}}
    ingest(django_capture_on_commit_callbacks, intent, [done])
    intent.refresh_from_db()
    assert (intent.status, intent.error) == ("FAILED", {"code": "boom"})


def test_events_for_an_unmirrored_id_create_the_row_once(
    recorder, django_capture_on_commit_callbacks
):
    intent_id = new_intent_id()
    created = event(intent_id, 1, "CREATED", details={"intent_type": "orders.ship.v1"})
    with django_capture_on_commit_callbacks(execute=True):
        first = ingest_events(intent_id, [created])
    with django_capture_on_commit_callbacks(execute=True):
        second = ingest_events(intent_id, [event(intent_id, 2, "SUBMITTED")])
    assert first.created and not second.created
    assert first.intent.pk == second.intent.pk
    row = Intent.objects.get(intent_id=intent_id)
    assert (row.intent_type, row.status) == ("orders.ship.v1", "SUBMITTED")
    assert len(recorder.named("intent_created")) == 1


def test_batch_is_one_transaction(intent, intent_id, monkeypatch):
    from django_axme.sync import events as events_module

    def explode(row, transitions):
        raise RuntimeError("receiver queue broke")

    monkeypatch.setattr(events_module, "_signals_of", explode)
    with pytest.raises(RuntimeError):
        ingest_events(intent, [event(intent_id, 1, "SUBMITTED"), event(intent_id, 2, "DELIVERED")])
    intent.refresh_from_db()
    assert (intent.status, intent.last_seq) == ("CREATED", 0)
    assert not IntentEvent.objects.filter(intent=intent).exists()


def test_ingest_intent_maps_snapshot_and_does_not_move_status(
    recorder, django_capture_on_commit_callbacks
):
    intent_id = new_intent_id()
    snapshot = {
        "ok": True,
        "intent": {
            "intent_id": intent_id,
            "intent_type": "orders.ship.v1",
            "status": "COMPLETED",
            "from_agent": "agent://shop",
            "to_agent": "agent://warehouse",
            "correlation_id": "c0ffee00-0000-4000-8000-000000000000",
            "payload": {"order": 7},
            "created_at": "2026-01-02T03:04:05Z",
            "policy_generation": 3,
            "human_task": {"title": "Ship?"},
            "surprise": "kept in raw",
        },
    }
    with django_capture_on_commit_callbacks(execute=True):
        row = ingest_intent(snapshot)
    with django_capture_on_commit_callbacks(execute=True):
        again = ingest_intent(snapshot["intent"])
    assert row.pk == again.pk
    row.refresh_from_db()
    assert row.status == "CREATED"  # status comes from events only
    assert (row.intent_type, row.to_agent, row.payload, row.policy_generation) == (
        "orders.ship.v1",
        "agent://warehouse",
        {"order": 7},
        3,
    )
    assert row.remote_created_at.isoformat() == "2026-01-02T03:04:05+00:00"
    assert row.raw["surprise"] == "kept in raw"
    assert [c.kwargs["intent"].pk for c in recorder.named("intent_created")] == [row.pk]


def test_ingest_intent_attaches_remote_id_to_outbox_row(
    recorder, django_capture_on_commit_callbacks
):
    local = Intent.objects.create(intent_type="orders.ship.v1", send_state="pending")
    intent_id = new_intent_id()
    with django_capture_on_commit_callbacks(execute=True):
        row = ingest_intent({"intent_id": intent_id, "status": "SUBMITTED"}, local=local)
    assert row.pk == local.pk
    local.refresh_from_db()
    assert (local.intent_id, local.send_state) == (intent_id, "sent")
    assert len(recorder.named("intent_created")) == 1


def test_ingest_intent_requires_an_id():
    with pytest.raises(ValueError, match="intent_id"):
        ingest_intent({"status": "CREATED"})
