"""Real HTTP both ways: the emulator POSTs signed deliveries to a live Django server
(pytest-django's ``live_server``), which verifies, records and processes them by reading the
emulator back. Duplicated and reordered deliveries, and a dropped one caught by the inbox
sync: every approval is mirrored once and signalled once."""

from __future__ import annotations

import time
from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command

import django_axme
from django_axme import tasks
from django_axme.models import Approval, WebhookDelivery
from tests.webhooks.conftest import OWNER, SECRET

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pushed(live_server, axme_emulator, axme_settings, webhook_settings):
    """The emulator subscribed (by ``manage.py axme_webhooks sync``) to the live server."""
    webhook_settings.AXME = {
        **webhook_settings.AXME,
        "BASE_URL": axme_emulator.url,
        "API_KEY": axme_emulator.api_key,
        "WEBHOOK_URL": live_server.url + "/axme/webhook/",
        "INBOX_OWNER_AGENTS": [OWNER],
    }
    out = StringIO()
    call_command("axme_webhooks", "sync", stdout=out)
    assert "/axme/webhook/" in out.getvalue() and SECRET not in out.getvalue()
    return axme_emulator


def open_approval(emulator, n: int) -> str:
    intent_id = django_axme.get_client().create_intent(
        {
            "intent_type": "shop.order.v1",
            "to_agent": "agent://demo/warehouse",
            "from_agent": "agent://demo/shop",
            "payload": {"order": n},
        }
    )["intent_id"]
    emulator.transition(intent_id, "IN_PROGRESS")
    emulator.gateway.open_human_task(intent_id, owner_agent=OWNER, title=f"Order {n}?")
    return intent_id


def wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_duplicated_and_reordered_deliveries_mirror_each_approval_once(pushed, recorder):
    faults = pushed.emulator.webhooks.faults
    faults.duplicate, faults.reorder, faults.reorder_hold_seconds = 0.5, 0.5, 0.2
    ids = [open_approval(pushed, n) for n in range(12)]
    assert wait_for(lambda: Approval.objects.count() == len(ids))
    assert pushed.emulator.webhooks.wait_idle(20)
    kinds = Counter(kind for kind, _type, _id in faults.log)
    assert kinds["duplicate"] > 0 and kinds["reorder"] > 0
    # Duplicates reached the view and were recorded once each.
    sent = Counter(d for d, _t, _a, status in pushed.emulator.webhooks.attempts if status == "200")
    assert any(n > 1 for n in sent.values())
    assert WebhookDelivery.objects.count() == len(sent)
    assert set(Approval.objects.values_list("thread_id", flat=True)) == set(ids)
    requested = Counter(
        c.kwargs["approval"].thread_id for c in recorder.named("approval_requested")
    )
    assert requested == Counter(ids)


def test_a_dropped_delivery_is_caught_by_the_inbox_sync(pushed, recorder):
    faults = pushed.emulator.webhooks.faults
    faults.drop = 1.0
    lost = open_approval(pushed, 1)
    assert pushed.emulator.webhooks.wait_idle(10)
    faults.drop = 0.0
    seen = open_approval(pushed, 2)
    assert wait_for(lambda: Approval.objects.filter(thread_id=seen).exists())
    assert not Approval.objects.filter(thread_id=lost).exists()
    tasks.sync_inbox.run(owner_agents=[OWNER])  # the safety net
    assert set(Approval.objects.values_list("thread_id", flat=True)) == {lost, seen}
    requested = Counter(
        c.kwargs["approval"].thread_id for c in recorder.named("approval_requested")
    )
    assert requested == Counter([lost, seen])


def test_subscription_commands_list_and_delete(pushed):
    out = StringIO()
    call_command("axme_webhooks", "list", stdout=out)
    line = out.getvalue().strip().splitlines()[0]
    subscription_id = line.split()[0]
    assert "active" in line and "****" in line and SECRET not in out.getvalue()
    call_command("axme_webhooks", "delete", subscription_id, stdout=StringIO())
    out = StringIO()
    call_command("axme_webhooks", "list", stdout=out)
    assert "No webhook subscriptions." in out.getvalue()
    out = StringIO()
    call_command("axme_webhooks", "list", "--all", stdout=out)
    assert "revoked" in out.getvalue()
