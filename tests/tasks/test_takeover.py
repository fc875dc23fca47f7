"""The reconcile sweep schedules a successor at the end of each lease that was not renewed on
time (its worker probably died), so a dead worker's intents are taken over within the lease
time instead of at the first sweep after it ends; live observers are never displaced."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from django_axme.models import Intent
from django_axme.tasks import periodic
from django_axme.tasks.observe import observe_many

pytestmark = pytest.mark.django_db


def _make(intent_id: str, token: str, seconds_left: float | None, status: str = "IN_PROGRESS"):
    until = None if seconds_left is None else timezone.now() + dt.timedelta(seconds=seconds_left)
    return Intent.objects.create(
        intent_id=intent_id,
        intent_type="t.v1",
        status=status,
        observer_token=token,
        observer_lease_until=until,
    )


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch, settings: Any) -> list[dict[str, Any]]:
    settings.AXME = {**settings.AXME, "OBSERVER_LEASE_SECONDS": 30, "OBSERVER_BATCH_SIZE": 2}
    calls: list[dict[str, Any]] = []

    def apply_async(args: Any = (), kwargs: Any = None, **options: Any) -> None:
        calls.append({"ids": sorted(args[0]), **options})

    monkeypatch.setattr(observe_many, "apply_async", apply_async)
    return calls


def test_unrenewed_leases_get_a_successor_at_their_end(enqueued: list[dict[str, Any]]) -> None:
    _make("renewed", "live", 29)  # renewed on time: at least 2/3 of the lease left
    for n in range(3):  # one dead token: its leases end together (one renew UPDATE)
        _make(f"dead-{n}", "dead", 10)
    Intent.objects.filter(observer_token="dead").update(
        observer_lease_until=Intent.objects.get(intent_id="dead-0").observer_lease_until
    )
    _make("other", "dead-too", 5)
    _make("expired", "gone", -1)  # already orphaned: start_observing's business
    _make("free", "", None)
    _make("finished", "dead", 3, status="COMPLETED")

    assert periodic.schedule_takeovers() == 4

    assert [c["ids"] for c in enqueued] == [["other"], ["dead-0", "dead-1"], ["dead-2"]]
    countdowns = [c["countdown"] for c in enqueued]
    assert 4.5 < countdowns[0] <= 5.3
    assert 9.5 < countdowns[1] == countdowns[2] <= 10.3


def test_reconcile_schedules_takeovers(enqueued: list[dict[str, Any]]) -> None:
    _make("dead-0", "dead", 8)
    result = periodic.reconcile_open_intents.run()
    assert result["takeovers"] == 1
    assert [c["ids"] for c in enqueued] == [["dead-0"]]
    assert 7.5 < enqueued[0]["countdown"] <= 8.3
