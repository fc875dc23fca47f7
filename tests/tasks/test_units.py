"""Fast checks of the outbox rows, leases and beat schedule (no worker, no network)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import transaction
from django.utils import timezone

import django_axme
from django_axme.celery import AXME_BEAT_SCHEDULE, beat_schedule
from django_axme.models import Intent, SendState
from django_axme.sync import leases
from django_axme.sync.outbox import (
    create_outbox_row,
    create_retry_attempt,
    idempotency_key_for,
    outbox_request,
    retry_body,
)

pytestmark = pytest.mark.django_db


def _row(**extra):
    body = {"intent_type": "intent.unit.v1", "to_agent": "agent://unit/x", "payload": {"a": 1}}
    return create_outbox_row({**body, **extra})


def test_outbox_row_is_pending_with_a_key_derived_from_the_row() -> None:
    row = _row()
    again = Intent.objects.get(pk=row.pk)
    assert again.send_state == SendState.PENDING
    assert again.intent_id is None
    assert again.idempotency_key == idempotency_key_for(again)
    assert str(again.pk) in again.idempotency_key and again.correlation_id in again.idempotency_key
    assert uuid.UUID(again.correlation_id)
    assert outbox_request(again)["payload"] == {"a": 1}
    assert _row().idempotency_key != again.idempotency_key


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"to_agent": ""}, "to_agent is required"),
        ({"intent_type": None}, "intent_type is required"),
        ({"correlation_id": "nope"}, "correlation_id must be a UUID"),
        ({"payload": [1]}, "payload must be a JSON object"),
        ({"deadline_at": "tomorrow"}, "deadline_at must be an ISO 8601"),
        ({"colour": "red"}, "unknown intent field"),
    ],
)
def test_bad_fields_are_named_and_nothing_is_written(fields, message) -> None:
    with pytest.raises(ValueError, match=message):
        _row(**fields)
    assert not Intent.objects.exists()


def test_send_intent_on_commit_enqueues_only_after_commit(
    django_capture_on_commit_callbacks, monkeypatch
) -> None:
    sent: list[int] = []
    monkeypatch.setattr("django_axme.outbox.enqueue_send", lambda pk, observe: sent.append(pk))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        row = django_axme.send_intent_on_commit(
            "intent.unit.v1", {"x": 1}, to_agent="agent://unit/x", extra={"max_reminders": 2}
        )
    assert len(callbacks) == 1
    assert sent == [row.pk]
    assert outbox_request(row)["max_reminders"] == 2


@pytest.mark.django_db(transaction=True)
def test_rolled_back_outbox_row_schedules_nothing(monkeypatch) -> None:
    sent: list[int] = []
    monkeypatch.setattr("django_axme.outbox.enqueue_send", lambda pk, observe: sent.append(pk))
    with pytest.raises(RuntimeError), transaction.atomic():
        django_axme.send_intent_on_commit("intent.unit.v1", {}, to_agent="agent://unit/x")
        raise RuntimeError
    assert sent == []
    assert not Intent.objects.exists()


def _remote(intent_id: str, **fields) -> Intent:
    return Intent.objects.create(intent_id=intent_id, intent_type="intent.unit.v1", **fields)


def test_one_observer_per_intent_and_expiry_hands_over() -> None:
    _remote("i-1")
    assert leases.claim_lease("i-1", "a", seconds=60)
    assert leases.claim_lease("i-1", "a", seconds=60)  # renewing our own lease
    assert not leases.claim_lease("i-1", "b", seconds=60)
    Intent.objects.filter(intent_id="i-1").update(
        observer_lease_until=timezone.now() - dt.timedelta(seconds=1)
    )
    assert leases.claim_lease("i-1", "b", seconds=60)
    assert not leases.release_lease("i-1", "a")  # a late release never frees a successor's
    assert leases.held_by("b") == {"i-1"}
    assert leases.release_lease("i-1", "b")
    assert leases.expired_open_intents(10) == ["i-1"]


def test_terminal_intents_are_never_leased() -> None:
    _remote("i-2", status="COMPLETED")
    _remote("i-3")
    assert not leases.claim_lease("i-2", "a", seconds=60)
    assert leases.claim_leases(["i-2", "i-3", "missing"], "a", seconds=60) == ["i-3"]
    assert leases.renew_leases("a", seconds=60) == 1


def test_retry_attempt_is_created_once_with_the_same_correlation() -> None:
    past = (timezone.now() - dt.timedelta(hours=1)).isoformat()
    original = _remote(
        "i-4",
        status="FAILED",
        to_agent="agent://unit/x",
        correlation_id=str(uuid.uuid4()),
        raw={"intent_id": "i-4", "payload": {"p": 1}, "deadline_at": past},
    )
    assert "deadline_at" not in retry_body(original)  # a passed deadline is dropped
    first = create_retry_attempt(original.pk)
    second = create_retry_attempt(original.pk)
    assert first.pk == second.pk
    assert first.attempt == 2 and first.retry_of_id == original.pk
    assert first.correlation_id == original.correlation_id
    assert first.send_state == SendState.PENDING
    assert outbox_request(first)["payload"] == {"p": 1}


def test_beat_schedule() -> None:
    assert set(AXME_BEAT_SCHEDULE) == {
        "axme-reconcile-open-intents",
        "axme-sync-inbox",
        "axme-reconcile-webhooks",
        "axme-poll-idle-intents",
        "axme-prune",
    }
    assert AXME_BEAT_SCHEDULE["axme-poll-idle-intents"]["schedule"] == 10.0
    fast = beat_schedule(reconcile_seconds=5, inbox_seconds=7, idle_poll_seconds=3)
    assert fast["axme-poll-idle-intents"]["task"] == "django_axme.tasks.poll_idle_intents"
    assert fast["axme-poll-idle-intents"]["schedule"] == 3.0
    assert fast["axme-reconcile-open-intents"]["schedule"] == 5.0
    assert fast["axme-sync-inbox"]["task"] == "django_axme.tasks.sync_inbox"
    assert fast["axme-reconcile-webhooks"]["schedule"] == 5.0
    with pytest.raises(ValueError, match="positive"):
        beat_schedule(reconcile_seconds=0)
    with pytest.raises(ValueError, match="positive"):
        beat_schedule(idle_poll_seconds=0)
