"""Processing a delivery: read AXME (live emulator over HTTP), hand the answer to the one
writer. Duplicates, reordering, a crash between recording and processing: each approval is
mirrored once and ``approval_requested`` fires once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

import django_axme
from django_axme.client import AxmeServerError
from django_axme.models import Approval, Intent, WebhookDelivery
from django_axme.services import webhooks as service
from django_axme.tasks import webhooks as webhook_tasks
from tests.webhooks.conftest import OWNER, delivery_body, signed_headers

pytestmark = pytest.mark.django_db

URL = "/axme/webhook/"


@pytest.fixture
def live(axme_emulator, axme_settings, webhook_settings, django_capture_on_commit_callbacks):
    webhook_settings.AXME = {
        **webhook_settings.AXME,
        "BASE_URL": axme_emulator.url,
        "API_KEY": axme_emulator.api_key,
    }
    return axme_emulator


def open_approval(emulator, n=1) -> str:
    client = django_axme.get_client()
    intent_id = client.create_intent(
        {
            "intent_type": "shop.order.v1",
            "to_agent": "agent://demo/warehouse",
            "from_agent": "agent://demo/shop",
            "payload": {"order": n},
        }
    )["intent_id"]
    emulator.transition(intent_id, "IN_PROGRESS")
    emulator.gateway.open_human_task(
        intent_id, owner_agent=OWNER, title=f"Ship order {n}?", allowed_outcomes=["approved"]
    )
    return intent_id


def deliver(capture, event_type, intent_id, **fields):
    body = delivery_body(
        event_type=event_type,
        payload={"thread_id": intent_id, "intent_id": intent_id, "owner_agent": OWNER},
        **fields,
    )
    with capture(execute=True):
        response = Client().post(
            URL, data=body, content_type="application/json", **signed_headers(body)
        )
    assert response.status_code == 200, response.content
    return body


def test_thread_created_mirrors_the_approval_once(
    live, recorder, django_capture_on_commit_callbacks
):
    intent_id = open_approval(live)
    body = deliver(django_capture_on_commit_callbacks, "inbox.thread_created", intent_id)
    approval = Approval.objects.get(thread_id=intent_id)
    assert (approval.status, approval.intent.intent_id) == ("pending", intent_id)
    assert len(recorder.named("approval_requested")) == 1
    row = WebhookDelivery.objects.get()
    assert (row.outcome, row.attempts) == ("processed", 1) and row.processed_at

    # The same delivery again (AXME retried after a lost answer): nothing is done again.
    with django_capture_on_commit_callbacks(execute=True):
        Client().post(URL, data=body, content_type="application/json", **signed_headers(body))
    # A later delivery about the same thread: read again, nothing new to signal.
    deliver(django_capture_on_commit_callbacks, "inbox.thread_updated", intent_id)
    assert Approval.objects.count() == 1
    assert len(recorder.named("approval_requested")) == 1
    assert WebhookDelivery.objects.count() == 2


def test_reordered_deliveries_end_with_one_approval_and_one_signal(
    live, recorder, django_capture_on_commit_callbacks
):
    first, second = open_approval(live, 1), open_approval(live, 2)
    # "updated" before "created", and the second approval before the first.
    for event_type, intent_id in [
        ("inbox.thread_updated", second),
        ("inbox.thread_updated", first),
        ("inbox.thread_created", second),
        ("inbox.thread_created", first),
    ]:
        deliver(django_capture_on_commit_callbacks, event_type, intent_id)
    assert set(Approval.objects.values_list("thread_id", flat=True)) == {first, second}
    requested = [c.kwargs["approval"].thread_id for c in recorder.named("approval_requested")]
    assert sorted(requested) == sorted([first, second])


def test_a_delivery_naming_only_an_intent_refreshes_it(
    live, recorder, django_capture_on_commit_callbacks
):
    intent_id = open_approval(live)
    body = delivery_body(event_type="intent.lifecycle", payload={"intent_id": intent_id, "seq": 4})
    with django_capture_on_commit_callbacks(execute=True):
        Client().post(URL, data=body, content_type="application/json", **signed_headers(body))
    intent = Intent.objects.get(intent_id=intent_id)
    assert (intent.status, intent.waiting_reason) == ("WAITING", "WAITING_FOR_HUMAN")
    assert WebhookDelivery.objects.get().outcome == "processed"


def test_a_delivery_naming_nothing_is_ignored(live, django_capture_on_commit_callbacks):
    body = delivery_body(event_type="invite.accepted", payload={"invite": "x"})
    with django_capture_on_commit_callbacks(execute=True):
        Client().post(URL, data=body, content_type="application/json", **signed_headers(body))
    assert WebhookDelivery.objects.get().outcome == "ignored"


def test_crash_between_recording_and_processing_is_recovered_by_the_sweep(
    live, recorder, django_capture_on_commit_callbacks, monkeypatch, settings
):
    intent_id = open_approval(live)
    settings.AXME = {
        **settings.AXME,
        "WEBHOOK_PROCESSING": "celery",
        "WEBHOOK_REPROCESS_AFTER_SECONDS": 60,
    }
    # The worker never gets the message (the process died after recording).
    monkeypatch.setattr(webhook_tasks.process_webhook_delivery, "apply_async", lambda *a, **k: None)
    deliver(django_capture_on_commit_callbacks, "inbox.thread_created", intent_id)
    assert WebhookDelivery.objects.get().outcome == "received"
    assert not Approval.objects.exists()

    # A delivery recorded just now is left to its task...
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_tasks.reprocess_webhook_deliveries() == {}
    assert not Approval.objects.exists()
    # ...and processed by the sweep once it is older than WEBHOOK_REPROCESS_AFTER_SECONDS
    # (backdated rather than waited for: a 1 ms threshold raced the test's own speed).
    WebhookDelivery.objects.update(received_at=timezone.now() - timedelta(seconds=61))
    with django_capture_on_commit_callbacks(execute=True):
        counts = webhook_tasks.reprocess_webhook_deliveries()
    assert counts == {"processed": 1}
    assert Approval.objects.get().thread_id == intent_id
    assert len(recorder.named("approval_requested")) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_tasks.reprocess_webhook_deliveries() == {}  # nothing due any more
    assert len(recorder.named("approval_requested")) == 1


def test_transient_error_marks_failed_and_the_retry_processes_it(
    live, recorder, django_capture_on_commit_callbacks, monkeypatch
):
    intent_id = open_approval(live)
    real = service._apply
    calls = {"n": 0}

    def flaky(client, row):
        calls["n"] += 1
        if calls["n"] == 1:
            raise AxmeServerError(503, "gateway unavailable")
        return real(client, row)

    monkeypatch.setattr(service, "_apply", flaky)
    body = delivery_body(
        event_type="inbox.thread_created",
        payload={"thread_id": intent_id, "intent_id": intent_id, "owner_agent": OWNER},
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post(
            URL, data=body, content_type="application/json", **signed_headers(body)
        )
    # Inline processing failed: 503, so that AXME retries; the row is kept, failed.
    assert response.status_code == 503
    row = WebhookDelivery.objects.get()
    assert (row.outcome, row.attempts, row.processed_at) == ("failed", 1, None)
    assert "503" in row.error
    # AXME's retry (same delivery id) processes the recorded row again.
    with django_capture_on_commit_callbacks(execute=True):
        again = Client().post(
            URL, data=body, content_type="application/json", **signed_headers(body)
        )
    assert again.status_code == 200
    row.refresh_from_db()
    assert (row.outcome, row.attempts) == ("processed", 2)
    assert len(recorder.named("approval_requested")) == 1


def test_unknown_thread_is_a_final_failure_not_retried(live, django_capture_on_commit_callbacks):
    deliver(django_capture_on_commit_callbacks, "inbox.thread_updated", "no-such-thread")
    row = WebhookDelivery.objects.get()
    assert row.outcome == "failed" and row.processed_at is not None
    assert service.due_deliveries(0) == []


def test_a_delivery_about_an_idle_intent_makes_its_poll_due_now(
    live, recorder, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from django_axme.services.refresh import refresh_intent
    from django_axme.sync import idle, leases

    intent_id = open_approval(live)
    refresh_intent(django_axme.get_client(), intent_id)
    assert leases.claim_lease(intent_id, "observer-token", seconds=60)
    assert idle.mark_idle([intent_id], "observer-token") == [intent_id]
    later = timezone.now() + timedelta(minutes=5)

    def due_now() -> bool:
        row = Intent.objects.get(intent_id=intent_id)
        return row.idle_since is not None and row.next_poll_at <= timezone.now()

    for event_type, payload in [
        ("intent.lifecycle", {"intent_id": intent_id, "seq": 4}),
        ("inbox.thread_updated", {"thread_id": intent_id, "intent_id": intent_id}),
    ]:
        Intent.objects.filter(intent_id=intent_id).update(next_poll_at=later)
        assert not due_now()
        body = delivery_body(event_type=event_type, payload={**payload, "owner_agent": OWNER})
        with django_capture_on_commit_callbacks(execute=True):
            Client().post(URL, data=body, content_type="application/json", **signed_headers(body))
        assert due_now(), event_type
    assert WebhookDelivery.objects.filter(outcome="processed").count() == 2
