"""A transient database error ("database is locked") never ends an observer: the slice is
retried (Celery retry, same lease token), the event is mirrored, the chain goes on."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, OperationalError

from django_axme import signals, sync
from django_axme.models import Intent
from django_axme.sync import batch as sync_batch
from django_axme.tasks import observe_intent

pytestmark = pytest.mark.django_db(transaction=True)

BODY = {
    "intent_type": "shop.order.v1",
    "from_agent": "agent://demo/shop",
    "to_agent": "agent://demo/warehouse",
    "payload": {"order": 1},
}


@pytest.fixture
def fast_observer(settings, axme_mock, axme_settings) -> Any:
    settings.AXME = {**settings.AXME, "OBSERVE_WINDOW_SECONDS": 1, "TASK_MAX_RETRIES": 3}
    return axme_mock


@pytest.fixture
def continuations(monkeypatch) -> list[dict[str, Any]]:
    """The next slices the observer enqueues (recorded instead of sent to a broker)."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(observe_intent, "apply_async", lambda *a, **kw: calls.append(kw))
    return calls


def _fail_first_lock(monkeypatch, error: Exception) -> list[str]:
    """Make the writer's first row lock (inside its transaction) raise ``error``."""
    raised: list[str] = []
    real = sync_batch.lock_intents

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if not raised:
            raised.append(str(error))
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(sync_batch, "lock_intents", flaky)
    return raised


def test_database_is_locked_retries_the_slice_and_the_chain_goes_on(
    fast_observer, continuations, monkeypatch
) -> None:
    remote = fast_observer.create_intent(BODY)
    intent_id = remote["intent_id"]
    sync.ingest_intent(remote)
    fast_observer.transition(intent_id, "IN_PROGRESS")
    changed: list[str] = []

    def receiver(sender: Any, intent: Intent, **kwargs: Any) -> None:
        changed.append(intent.status)

    signals.intent_status_changed.connect(receiver, weak=False)
    raised = _fail_first_lock(monkeypatch, OperationalError("database is locked"))
    try:
        outcome = observe_intent.apply(args=(intent_id,))
    finally:
        signals.intent_status_changed.disconnect(receiver)

    assert raised == ["database is locked"]
    assert outcome.get() == "continued"  # the retried slice ran and asked for the next one
    row = Intent.objects.get(intent_id=intent_id)
    assert row.status == "IN_PROGRESS"
    assert row.last_seq == fast_observer.events(intent_id)[-1]["seq"]
    assert changed.count("IN_PROGRESS") == 1  # once, after the commit that succeeded
    [next_slice] = continuations
    assert next_slice["args"] == (intent_id,)
    assert next_slice["kwargs"]["lease_token"] == row.observer_token  # the lease is still held

    fast_observer.resolve(intent_id, "COMPLETED", result={"ok": True})
    assert observe_intent.apply(args=(intent_id,), kwargs=next_slice["kwargs"]).get() == (
        "terminal"
    )
    assert Intent.objects.get(intent_id=intent_id).status == "COMPLETED"


def test_an_integrity_error_is_not_retried_as_transient(
    fast_observer, continuations, monkeypatch
) -> None:
    remote = fast_observer.create_intent(BODY)
    sync.ingest_intent(remote)
    fast_observer.transition(remote["intent_id"], "IN_PROGRESS")
    _fail_first_lock(monkeypatch, IntegrityError("a real bug"))
    result = observe_intent.apply(args=(remote["intent_id"],))
    assert isinstance(result.result, IntegrityError)
    assert continuations == []


def test_multiplexed_slice_reads_again_what_it_could_not_ingest(fast_observer, monkeypatch) -> None:
    """``observe_many``'s writer gives up on a batch after three database errors: the intent
    stays open and the next slice reads those events again from the stored cursor."""
    from django_axme.observer import MultiplexedSlice
    from django_axme.sync import leases

    remote = fast_observer.create_intent(BODY)
    intent_id = remote["intent_id"]
    sync.ingest_intent(remote)
    before = Intent.objects.get(intent_id=intent_id).last_seq
    fast_observer.transition(intent_id, "IN_PROGRESS")
    fast_observer.resolve(intent_id, "COMPLETED", result={"ok": True})
    token = leases.new_token()
    assert leases.claim_leases([intent_id], token, seconds=30) == [intent_id]
    failures: list[int] = []
    real = sync_batch.lock_intents

    def locked_three_times(*args: Any, **kwargs: Any) -> Any:
        if len(failures) < 3:
            failures.append(1)
            raise OperationalError("database is locked")
        return real(*args, **kwargs)

    monkeypatch.setattr(sync_batch, "lock_intents", locked_three_times)

    def run_slice() -> Any:
        return MultiplexedSlice(
            fast_observer.client,
            [intent_id],
            token,
            slice_seconds=2,
            window_seconds=1,
            lease_seconds=30,
        ).run()

    first = run_slice()
    assert len(failures) == 3
    assert first.outcomes == {intent_id: "open"}  # not "terminal": its events were not stored
    assert Intent.objects.get(intent_id=intent_id).last_seq == before

    second = run_slice()
    assert second.outcomes == {intent_id: "terminal"}
    row = Intent.objects.get(intent_id=intent_id)
    assert (row.status, row.last_seq) == ("COMPLETED", fast_observer.events(intent_id)[-1]["seq"])
