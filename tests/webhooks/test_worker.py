"""With a real Celery worker: the emulator pushes to a live Django server, which records each
delivery and sends ``process_webhook_delivery`` to Redis; the worker processes it. The inbox
sync is off in the worker, so every approval arrives by push. Duplicated and reordered
deliveries still mirror each approval once and signal it once (in the worker)."""

from __future__ import annotations

import time
from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command

from django_axme.emulator import Emulator, EmulatorServer
from django_axme.models import Approval, WebhookDelivery
from tests.tasks import harness, recorder
from tests.tasks.conftest import (  # noqa: F401  (fixtures)
    API_KEY,
    redis_available,
    requires_postgres,
    var_dir,
    workers,
)
from tests.webhooks.conftest import OWNER
from tests.webhooks.test_live import open_approval

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.mark.postgres
@requires_postgres
def test_worker_processes_pushed_deliveries_once_each(
    live_server,
    webhook_settings,
    workers,  # noqa: F811
):
    if not redis_available():
        pytest.skip(f"Redis is not reachable at {harness.redis_url()}")
    emulator = Emulator(api_key=API_KEY)
    server = EmulatorServer(emulator).start()
    url = harness.redis_url()
    harness.flush_redis(url)
    webhook_settings.AXME = {
        **webhook_settings.AXME,
        "BASE_URL": server.url,
        "API_KEY": API_KEY,
        "WEBHOOK_URL": live_server.url + "/axme/webhook/",
        "WEBHOOK_PROCESSING": "celery",
    }
    from django_axme.conf import reset_client

    reset_client()
    worker = workers(
        axme_url=server.url,
        broker_url=url,
        name="webhooks",
        axme_settings={"INBOX_OWNER_AGENTS": [], "DEFAULT_OWNER_AGENT": OWNER},
    )
    worker.start()
    try:
        with harness.use_broker(url):
            call_command("axme_webhooks", "sync", stdout=StringIO())
            faults = emulator.webhooks.faults
            faults.duplicate, faults.reorder, faults.reorder_hold_seconds = 0.3, 0.3, 0.2
            ids = [open_approval(emulator, n) for n in range(10)]
            harness.wait_until(
                lambda: Approval.objects.count() == len(ids), 60, what="10 approvals by push"
            )
            assert emulator.webhooks.wait_idle(30)
            harness.wait_until(
                lambda: not WebhookDelivery.objects.filter(outcome="received").exists(),
                30,
                what="every delivery processed",
            )
            time.sleep(1.0)  # late duplicates would show up now
    finally:
        worker.stop()
        server.stop()
        emulator.close()
        reset_client()
    signals = recorder.read(str(workers.signal_log))
    requested = Counter(r["thread_id"] for r in signals if r["signal"] == "approval_requested")
    assert requested == Counter(ids)
    assert Counter(WebhookDelivery.objects.values_list("outcome", flat=True)) == Counter(
        {"processed": WebhookDelivery.objects.count()}
    )


@pytest.mark.postgres
@requires_postgres
def test_worker_sweeps_recover_a_dropped_delivery_and_an_unprocessed_row(
    live_server,
    webhook_settings,
    workers,  # noqa: F811
    monkeypatch,
):
    """The two safety nets, in a real worker: a delivery the emulator dropped (never reached
    Django) is caught by ``sync_inbox``; a delivery recorded whose task was lost (the process
    died between recording and processing) is processed by the reconcile sweep
    ``reprocess_webhook_deliveries``. Each approval is mirrored once and signalled once."""
    if not redis_available():
        pytest.skip(f"Redis is not reachable at {harness.redis_url()}")
    from django_axme import tasks
    from django_axme.tasks import webhooks as webhook_tasks

    emulator = Emulator(api_key=API_KEY)
    server = EmulatorServer(emulator).start()
    url = harness.redis_url()
    harness.flush_redis(url)
    webhook_settings.AXME = {
        **webhook_settings.AXME,
        "BASE_URL": server.url,
        "API_KEY": API_KEY,
        "WEBHOOK_URL": live_server.url + "/axme/webhook/",
        "WEBHOOK_PROCESSING": "celery",
    }
    from django_axme.conf import reset_client

    reset_client()
    worker = workers(
        axme_url=server.url,
        broker_url=url,
        name="webhook-sweeps",
        beat=False,  # the sweeps run when the test sends them
        axme_settings={
            "INBOX_OWNER_AGENTS": [OWNER],
            "DEFAULT_OWNER_AGENT": OWNER,
            "WEBHOOK_REPROCESS_AFTER_SECONDS": 0.5,
        },
    )
    worker.start()
    try:
        with harness.use_broker(url):
            call_command("axme_webhooks", "sync", stdout=StringIO())
            faults = emulator.webhooks.faults
            faults.drop = 1.0
            dropped = open_approval(emulator, 1)
            assert emulator.webhooks.wait_idle(30)
            faults.drop = 0.0
            assert not WebhookDelivery.objects.exists()

            # The view records the next deliveries, but their task never reaches the broker.
            monkeypatch.setattr(
                webhook_tasks.process_webhook_delivery, "apply_async", lambda *a, **k: None
            )
            unprocessed = open_approval(emulator, 2)
            assert emulator.webhooks.wait_idle(30)
            harness.wait_until(
                lambda: WebhookDelivery.objects.filter(thread_id=unprocessed).exists(),
                30,
                what="the delivery recorded",
            )
            assert set(WebhookDelivery.objects.values_list("outcome", flat=True)) == {"received"}
            assert not Approval.objects.exists()
            monkeypatch.undo()

            time.sleep(0.6)  # older than WEBHOOK_REPROCESS_AFTER_SECONDS
            webhook_tasks.reprocess_webhook_deliveries.apply_async()
            harness.wait_until(
                lambda: Approval.objects.filter(thread_id=unprocessed).exists(),
                60,
                what="the reconcile sweep processing the recorded delivery",
            )
            assert not WebhookDelivery.objects.filter(outcome="received").exists()
            assert not Approval.objects.filter(thread_id=dropped).exists()

            tasks.sync_inbox.apply_async()
            harness.wait_until(
                lambda: Approval.objects.filter(thread_id=dropped).exists(),
                60,
                what="the inbox sync catching the dropped delivery",
            )
            time.sleep(1.0)  # a second signal would show up now
    finally:
        worker.stop()
        server.stop()
        emulator.close()
        reset_client()
    assert sorted(Approval.objects.values_list("thread_id", flat=True)) == sorted(
        [dropped, unprocessed]
    )
    signals = recorder.read(str(workers.signal_log))
    requested = Counter(r["thread_id"] for r in signals if r["signal"] == "approval_requested")
    assert requested == Counter([dropped, unprocessed])
