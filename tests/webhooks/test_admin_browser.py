"""The webhook audit log in a real browser (Playwright + Chromium): an operator with the
*reprocess* permission finds a failed delivery with the list's filter and reprocesses it; the
approval it names appears in the mirror, signalled once."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connections

from django_axme.models import Approval, WebhookDelivery
from django_axme.sync import webhooks as audit
from tests.webhooks.conftest import OWNER
from tests.webhooks.test_processing import open_approval

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHANGELIST = "/admin/django_axme/webhookdelivery/"


def test_operator_filters_and_reprocesses_a_failed_delivery(
    live_server, axme_emulator, axme_settings, webhook_settings, recorder, monkeypatch
):
    from tests.browser import chromium_page

    webhook_settings.AXME = {
        **webhook_settings.AXME,
        "BASE_URL": axme_emulator.url,
        "API_KEY": axme_emulator.api_key,
    }
    intent_id = open_approval(axme_emulator)
    failed, _ = audit.record_delivery(
        "d-browser-1",
        event_type="inbox.thread_created",
        thread_id=intent_id,
        intent_id=intent_id,
        owner_agent=OWNER,
    )
    audit.mark_failed(failed.pk, "AxmeServerError: 503 gateway unavailable")
    audit.record_delivery("d-browser-2", event_type="inbox.thread_updated", outcome="ignored")
    user = get_user_model().objects.create_user("operator", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="django_axme", codename="reprocess_webhookdelivery"
        )
    )

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    try:
        with chromium_page() as page:
            page.goto(f"{live_server.url}/admin/login/?next={CHANGELIST}")
            page.fill("#id_username", "operator")
            page.fill("#id_password", "pw")
            page.click("input[type=submit]")
            page.wait_for_selector("#result_list")
            page.goto(f"{live_server.url}{CHANGELIST}?outcome__exact=failed")
            rows = page.locator("#result_list tbody tr")
            assert rows.count() == 1
            page.check(f"input.action-select[value='{failed.pk}']")
            page.select_option("select[name=action]", "reprocess_selected")
            page.click("button[name=index]")
            page.wait_for_selector("text=Reprocessed 1 deliveries (processed: 1).")
    finally:
        connections.close_all()
    failed.refresh_from_db()
    assert (failed.outcome, failed.attempts) == ("processed", 2)
    assert WebhookDelivery.objects.get(delivery_id="d-browser-2").outcome == "ignored"
    assert Approval.objects.get().thread_id == intent_id
    assert len(recorder.named("approval_requested")) == 1
