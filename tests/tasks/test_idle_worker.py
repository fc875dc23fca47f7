"""Idle intents in a real worker process (with its beat) against the emulator's HTTP server.

An intent waiting for a human goes idle in the worker (``OBSERVER_IDLE_AFTER_SECONDS=2``):
no lease, no stream. Approved elsewhere, its signal arrives through the inbox sync's wake-up
or the idle poll (both on the worker's beat, every 2 s), once, and the poll clears the idle
mark.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import transaction

import django_axme
from django_axme.models import Intent
from tests.tasks import harness, recorder
from tests.tasks.conftest import APPROVER_AGENT, OWNER, WorkerFactory, make_client
from tests.tasks.harness import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

IDLE_REPORT = r"observe_(intent|many)\[[^]]+\] succeeded in .*'idle'"


def test_an_idle_intent_in_a_worker_gets_its_approval_given_elsewhere(
    workers: WorkerFactory, live_emulator: SimpleNamespace, var_dir: Any
) -> None:
    url, options = harness.filesystem_broker(var_dir)
    worker = workers(
        axme_url=live_emulator.url,
        broker_url=url,
        name="idle",
        concurrency=4,
        axme_settings={"OBSERVER_IDLE_AFTER_SECONDS": 2},
    )
    worker.start()
    with harness.use_broker(url, options):
        with transaction.atomic():
            row = django_axme.send_intent_on_commit(
                "intent.test.idle.v1", {}, to_agent=APPROVER_AGENT
            )
        idle = wait_until(
            lambda: Intent.objects.filter(pk=row.pk, idle_since__isnull=False).first(),
            60,
            what="the waiting intent gone idle",
        )
        assert idle.status == "WAITING"
        assert idle.observer_token == "" and idle.observer_lease_until is None
        wait_until(  # the observer task itself reported letting it go
            lambda: re.search(IDLE_REPORT, worker.logs()),
            10,
            what="an observer reporting 'idle'",
        )

        make_client(live_emulator.url).approve_inbox_thread(
            idle.intent_id, {"comment": "fine"}, owner_agent=OWNER
        )
        done = wait_until(
            lambda: Intent.objects.filter(
                pk=row.pk, status="COMPLETED", idle_since__isnull=True
            ).first(),
            60,
            what="the approval mirrored and the idle mark cleared",
        )
    assert done.intent_id == idle.intent_id
    wait_until(
        lambda: any(
            r["signal"] == "intent_status_changed" and r["status"] == "COMPLETED"
            for r in recorder.read(str(workers.signal_log))
        ),
        20,
        what="the COMPLETED signal",
    )
    changes = [
        r["status"]
        for r in recorder.read(str(workers.signal_log))
        if r["signal"] == "intent_status_changed" and r["intent_id"] == idle.intent_id
    ]
    assert changes.count("COMPLETED") == 1 and changes.count("WAITING") == 1
