"""The request, up front: an approval page shows what is asked without opening raw JSON.

Against the live emulator over HTTP: the intent goes out through the outbox (so the Django
user who sent it is known), the emulator's ApprovalScript opens the human task, and the
admin's own refresh operations mirror intent and thread.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from django_axme.models import Approval, Intent
from tests.admin.conftest import APPROVER_AGENT, OWNER

pytestmark = pytest.mark.django_db(transaction=True)

PURCHASE_TYPE = "purchase.request.v1"


def send_from_this_project(axme_env, intent_type: str, payload: dict, *, user, **body) -> Intent:
    """Create an outbox row for ``user``, send it, wait for the human task, mirror both."""
    import django_axme
    from django_axme.admin import operations
    from django_axme.services.sending import send_outbox_row
    from django_axme.sync.outbox import create_outbox_row

    row = create_outbox_row(
        {"intent_type": intent_type, "to_agent": APPROVER_AGENT, "payload": payload, **body},
        user=user,
    )
    sent = send_outbox_row(django_axme.get_client(), row.pk)
    assert sent.state == "sent", sent
    axme_env.wait_for_status(sent.intent_id, ["WAITING"], timeout=10)
    row.refresh_from_db()
    assert operations.refresh_intent(row).ok
    assert operations.refresh_inbox().ok
    return Intent.objects.get(pk=row.pk)


def espresso(axme_env, user, **body) -> Approval:
    from django_axme.emulator.agents import ApprovalScript

    axme_env.attach_agent(
        PURCHASE_TYPE,
        ApprovalScript(OWNER, "Approve Espresso machine", description="For the office kitchen."),
    )
    intent = send_from_this_project(
        axme_env,
        PURCHASE_TYPE,
        {
            "purchase_request_id": 4,
            "item": "Espresso machine",
            "amount": "1800.00",
            "currency": "EUR",
            "requester": "dave",
            "delivery": {"site": "Berlin office", "floor": 3},
        },
        user=user,
        **body,
    )
    return Approval.objects.get(intent=intent)


def test_the_request_is_on_the_approval_page(client, superuser, axme_env):
    dave = get_user_model().objects.create_user(username="dave_django")
    deadline = timezone.now() + timedelta(hours=5, minutes=30)
    approval = espresso(axme_env, dave, deadline_at=deadline.isoformat())
    client.force_login(superuser)

    html = client.get(reverse("admin:django_axme_approval_change", args=[approval.pk]))
    assert html.status_code == 200
    text = html.content.decode()
    panel = text[text.index('id="axme-request"') : text.index('id="axme-decision"')]
    # The example app's adapter and its per-type template (purchase.request.v1.html).
    assert "Espresso machine, 1,800.00 EUR, requested by dave" in panel
    assert "1,800.00 EUR" in panel[panel.index('id="purchase-amount"') :]
    assert "For the office kitchen." in panel
    # Who asked: the Django user who sent it here, and the sending agent.
    assert "dave_django (in this project)" in panel
    # Deadline with the time left; outcomes; comment rule.
    assert "5\xa0hours" in panel and "left" in panel
    assert "approve or reject" in panel and "optional" in panel


def test_default_panel_lists_the_payload_as_readable_fields(client, superuser, axme_env):
    from django_axme.emulator.agents import ApprovalScript

    axme_env.attach_agent(
        "travel.booking.v1",
        ApprovalScript(OWNER, "Book a trip", allowed_outcomes=["economy", "business"]),
    )
    intent = send_from_this_project(
        axme_env,
        "travel.booking.v1",
        {
            "travellerName": "Ann",
            "total_cost": 12345.5,
            "departs_on": "2026-12-24",
            "legs": [{"from": "BER", "to": "LIS"}, {"from": "LIS", "to": "BER"}],
        },
        user=None,
    )
    approval = Approval.objects.get(intent=intent)
    client.force_login(superuser)
    text = client.get(reverse("admin:django_axme_approval_change", args=[approval.pk]))
    text = text.content.decode()
    panel = text[text.index('id="axme-request"') : text.index('id="axme-decision"')]
    assert "<dt>Traveller name</dt>" in panel
    assert "12,345.5" in panel
    assert "Dec. 24, 2026" in panel
    assert "2 values" in panel and "<details>" in panel  # nested legs folded
    assert "economy" in panel and "business" in panel
    assert "(in this project)" not in panel  # nobody here sent it
    assert "agent://" in panel  # the sending agent


def test_an_intent_type_cannot_name_another_template():
    from django_axme.admin.request import DEFAULT_TEMPLATE, template_names

    assert template_names("purchase.request.v1") == [
        "django_axme/approval/purchase.request.v1.html",
        DEFAULT_TEMPLATE,
    ]
    for bad in ("../../admin/base", "a/b", "", "x" * 300, "..hidden"):
        assert template_names(bad) == [DEFAULT_TEMPLATE]
