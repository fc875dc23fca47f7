"""axme_prune: retention of closed intents, old events and expired ledger rows, in batches."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_axme.ledger import DatabaseIdempotencyStore
from django_axme.models import IdempotencyRecord, Intent, IntentEvent
from django_axme.sync import ingest_events
from django_axme.sync.prune import prune
from tests.mirror.helpers import event, new_intent_id

pytestmark = pytest.mark.django_db


def make_intent(final: str, *, age_days: int, events: int = 3) -> Intent:
    intent_id = new_intent_id()
    history = [event(intent_id, s, "IN_PROGRESS") for s in range(1, events)]
    history.append(event(intent_id, events, final))
    row = ingest_events(intent_id, history).intent
    old = timezone.now() - dt.timedelta(days=age_days)
    Intent.objects.filter(pk=row.pk).update(updated_at=old)
    IntentEvent.objects.filter(intent=row).update(received_at=old)
    return row


@pytest.fixture
def data():
    store = DatabaseIdempotencyStore()
    store.record("live", "POST /v1/intents", "a" * 64, {"ok": True})
    for i in range(3):
        store.record(f"expired-{i}", "POST /v1/intents", "a" * 64, {"ok": True})
    IdempotencyRecord.objects.filter(key__startswith="expired").update(
        expires_at=timezone.now() - dt.timedelta(hours=1)
    )
    return {
        "old_closed": [make_intent("COMPLETED", age_days=120) for _ in range(5)],
        "old_open": make_intent("IN_PROGRESS", age_days=120),  # open: kept, old events go
        "new_closed": make_intent("FAILED", age_days=1),
    }


def run(*args):
    out = StringIO()
    call_command("axme_prune", *args, stdout=out)
    return out.getvalue()


def test_dry_run_counts_and_deletes_nothing(data):
    output = run("--dry-run")
    assert "Would delete 5 intent(s), 18 event(s), 3 ledger row(s)." in output
    assert Intent.objects.count() == 7
    assert IdempotencyRecord.objects.count() == 4


def test_prune_in_batches(data):
    output = run("--batch-size", "2")
    assert "Deleted 5 intent(s), 18 event(s), 3 ledger row(s)" in output
    remaining = set(Intent.objects.values_list("pk", flat=True))
    assert remaining == {data["old_open"].pk, data["new_closed"].pk}
    assert not IntentEvent.objects.filter(intent=data["old_open"]).exists()
    assert IntentEvent.objects.filter(intent=data["new_closed"]).count() == 3
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["live"]
    counts = prune(batch_size=2)  # nothing left to do
    assert (counts.intents, counts.events, counts.ledger) == (0, 0, 0)


def test_batches_are_bounded(data):
    counts = prune(batch_size=2)
    # 5 intents -> 3 batches, 3 old events of the open intent -> 2, 3 ledger rows -> 2
    assert counts.batches == 7
    assert (counts.intents, counts.events, counts.ledger) == (5, 18, 3)


def test_retention_setting_is_used(data, settings):
    settings.AXME = {**settings.AXME, "RETENTION_DAYS": 365}
    assert "Deleted 0 intent(s), 0 event(s), 3 ledger row(s)" in run()


def test_bad_arguments_name_the_problem():
    with pytest.raises(CommandError, match="batch_size must be >= 1"):
        run("--batch-size", "0")
