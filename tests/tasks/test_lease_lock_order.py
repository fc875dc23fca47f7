"""Lease updates lock intent rows in primary-key order, as the batched writer does, so a lease
renewal running beside a writer's batch cannot deadlock (PostgreSQL).

Found with ``benchmarks/scaleout.py --intents 5000``: four worker processes, an ``observe_many``
slice's renewal (one ``UPDATE`` over its 1,250 rows, locking them in scan order) and a writer's
``SELECT ... ORDER BY pk FOR UPDATE`` took the same rows in opposite orders; PostgreSQL aborted
the renewal ("deadlock detected") and the slice task with it.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from django_axme.models import Intent
from django_axme.sync import leases
from tests.tasks.conftest import requires_postgres

pytestmark = [pytest.mark.postgres, requires_postgres, pytest.mark.django_db(transaction=True)]


def _make(intent_id: str) -> Intent:
    return Intent.objects.create(
        intent_id=intent_id,
        intent_type="t.v1",
        status="IN_PROGRESS",
        observer_token="tok",
        observer_lease_until=timezone.now() + dt.timedelta(seconds=60),
    )


def test_a_lease_renewal_beside_a_writer_batch_does_not_deadlock() -> None:
    first, second = _make("first"), _make("second")
    # A new version of the first row lands after the second in the table: a scan (what a bare
    # UPDATE follows) now meets the second row first, a writer locks the first one first.
    Intent.objects.filter(pk=first.pk).update(last_heard_at=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {Intent._meta.db_table} WHERE observer_token = %s", ["tok"])
        assert [pk for (pk,) in cursor.fetchall()] == [second.pk, first.pk]

    errors: list[BaseException] = []
    holds_first = threading.Event()

    def writer() -> None:  # what sync.batch.lock_intents does, one row at a time
        try:
            with transaction.atomic():
                list(Intent.objects.select_for_update().filter(pk=first.pk))
                holds_first.set()
                time.sleep(0.5)  # the renewal starts meanwhile
                list(Intent.objects.select_for_update().filter(pk=second.pk))
        except BaseException as exc:
            errors.append(exc)
        finally:
            holds_first.set()
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    assert holds_first.wait(5)
    try:
        renewed = leases.renew_leases("tok", seconds=90)
    except BaseException as exc:
        errors.append(exc)
        renewed = -1
    thread.join(10)
    assert not errors, errors
    assert renewed == 2
