"""What the lists show and find: filters, search, badges, ordering, the admin history."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from django_axme.models import Approval, Intent

pytestmark = pytest.mark.django_db


def intents_url() -> str:
    return reverse("admin:django_axme_intent_changelist")


def approvals_url() -> str:
    return reverse("admin:django_axme_approval_changelist")


def make_intent(status: str, **fields) -> Intent:
    return Intent.objects.create(
        intent_id=fields.pop("intent_id", str(uuid.uuid4())),
        intent_type=fields.pop("intent_type", "demo.thing.v1"),
        status=status,
        correlation_id=fields.pop("correlation_id", str(uuid.uuid4())),
        **fields,
    )


def listed(response, model: str = "intent") -> set[int]:
    return {obj.pk for obj in response.context["cl"].result_list}


def test_intent_filters_and_search(admin_client):
    waiting = make_intent("WAITING", waiting_reason="WAITING_FOR_HUMAN", owner_agent="agent://a/b")
    done = make_intent("COMPLETED", intent_type="demo.other.v1")
    failed = make_intent("FAILED")
    assert listed(admin_client.get(intents_url() + "?open=1")) == {waiting.pk}
    assert listed(admin_client.get(intents_url() + "?open=0")) == {done.pk, failed.pk}
    assert listed(admin_client.get(intents_url() + "?status__exact=FAILED")) == {failed.pk}
    by_reason = admin_client.get(intents_url() + "?waiting_reason__exact=WAITING_FOR_HUMAN")
    assert listed(by_reason) == {waiting.pk}
    assert listed(admin_client.get(intents_url() + "?intent_type=demo.other.v1")) == {done.pk}
    assert listed(admin_client.get(intents_url() + "?owner_agent=agent://a/b")) == {waiting.pk}
    by_id = admin_client.get(intents_url() + "?q=" + done.intent_id[:13])
    assert listed(by_id) == {done.pk}
    by_correlation = admin_client.get(intents_url() + "?q=" + failed.correlation_id)
    assert listed(by_correlation) == {failed.pk}
    year = timezone.now().year
    assert len(listed(admin_client.get(intents_url() + f"?created_at__year={year}"))) == 3


def test_intent_list_shows_status_badges(admin_client):
    make_intent("COMPLETED")
    make_intent("CUSTOM_REMOTE_STATUS")  # unknown remote values are shown as they came
    html = admin_client.get(intents_url()).content.decode()
    assert 'class="axme-badge axme-badge--success" data-status="COMPLETED">Completed<' in html
    assert 'data-status="CUSTOM_REMOTE_STATUS">CUSTOM_REMOTE_STATUS<' in html


def test_approval_filters_search_and_order(admin_client):
    old_intent = make_intent("WAITING", intent_type="buy.chairs.v1")
    new_intent = make_intent("WAITING", intent_type="buy.desks.v1")
    now = timezone.now()
    old = Approval.objects.create(
        thread_id=old_intent.intent_id,
        intent=old_intent,
        title="Chairs",
        owner_agent="agent://o/one",
        remote_created_at=now - timedelta(days=3),
    )
    new = Approval.objects.create(
        thread_id=new_intent.intent_id,
        intent=new_intent,
        title="Desks",
        owner_agent="agent://o/two",
        remote_created_at=now - timedelta(minutes=5),
    )
    decided = Approval.objects.create(
        thread_id=str(uuid.uuid4()),
        title="Lamps",
        status="approved",
        remote_created_at=now - timedelta(days=30),
    )
    # The queue opens on Pending; "All" lists decided approvals after the pending ones.
    assert listed(admin_client.get(approvals_url())) == {old.pk, new.pk}
    everything = admin_client.get(approvals_url() + "?status__exact=all")
    ordered = list(everything.context["cl"].result_list)
    assert ordered[-1] == decided  # pending first
    assert listed(admin_client.get(approvals_url() + "?age=1h")) == {new.pk}
    assert listed(admin_client.get(approvals_url() + "?age=7d")) == {old.pk}
    assert listed(admin_client.get(approvals_url() + "?age=old")) == set()
    assert listed(admin_client.get(approvals_url() + "?status__exact=all&age=old")) == {decided.pk}
    assert listed(admin_client.get(approvals_url() + "?status__exact=approved")) == {decided.pk}
    by_type = admin_client.get(approvals_url() + "?intent__intent_type=buy.desks.v1")
    assert listed(by_type) == {new.pk}
    assert listed(admin_client.get(approvals_url() + "?owner_agent=agent://o/one")) == {old.pk}
    assert listed(admin_client.get(approvals_url() + "?q=Desk")) == {new.pk}
    by_thread = admin_client.get(approvals_url() + "?q=" + old.thread_id[:8])
    assert old.pk in listed(by_thread)
    html = admin_client.get(approvals_url()).content.decode()
    assert "2 pending" in html
    assert 'data-status="sent">' not in html  # no chip at zero
    assert "Chairs" in html and "Desks" in html


def test_cancel_is_written_to_the_admin_history(admin_client, settings):
    from tests.admin.test_decisions import closed_port_url

    settings.AXME = {**settings.AXME, "BASE_URL": closed_port_url(), "MAX_RETRIES": 0}
    intent = make_intent("WAITING")
    url = reverse("admin:django_axme_intent_cancel", args=[intent.pk])
    admin_client.post(url, {"reason": "duplicate order"})
    entry = LogEntry.objects.get(object_id=str(intent.pk))
    assert "Cancel failed" in entry.change_message


def test_start_observing_queues_the_observer(admin_client, settings):
    import os

    folder = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}).get("data_folder_in")
    if folder:
        os.makedirs(folder, exist_ok=True)
    open_intent = make_intent("IN_PROGRESS")
    closed = make_intent("COMPLETED")
    url = reverse("admin:django_axme_intent_observe", args=[open_intent.pk])
    page = admin_client.post(url, follow=True).content.decode()
    assert "Observer queued for 1 intent(s)." in page
    closed_page = admin_client.post(
        reverse("admin:django_axme_intent_observe", args=[closed.pk]), follow=True
    ).content.decode()
    assert "Nothing to observe" in closed_page
    assert admin_client.get(url).status_code == 405
