"""The webhook audit log in the admin (actions behind their own permissions), the system
checks, and retention through ``axme_prune``."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from django_axme.models import Approval, WebhookDelivery
from django_axme.services import webhooks as service
from django_axme.sync import webhooks as audit
from django_axme.webhook_checks import check_webhook_settings
from tests.webhooks.conftest import OWNER, SECRET
from tests.webhooks.test_processing import open_approval

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/django_axme/webhookdelivery/"


def staff(username, *perms):
    user = get_user_model().objects.create_user(username=username, password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="django_axme", codename__in=perms)
    )
    client = Client()
    client.force_login(user)
    return client


def action(client, name, rows):
    return client.post(
        CHANGELIST,
        {"action": name, "_selected_action": [str(r.pk) for r in rows]},
        follow=True,
    )


@pytest.fixture
def env(axme_emulator, axme_settings, webhook_settings):
    webhook_settings.AXME = {
        **webhook_settings.AXME,
        "BASE_URL": axme_emulator.url,
        "API_KEY": axme_emulator.api_key,
    }
    return axme_emulator


def test_list_and_filters_need_a_permission(env):
    audit.record_delivery("d-1", event_type="inbox.thread_created", thread_id="t")
    assert staff("nobody").get(CHANGELIST).status_code == 403
    viewer = staff("viewer", "view_webhookdelivery")
    page = viewer.get(CHANGELIST + "?outcome__exact=received&event_type=inbox.thread_created")
    assert page.status_code == 200 and b"inbox.thread_created" in page.content
    assert staff("replayer", "replay_webhookdelivery").get(CHANGELIST).status_code == 200


def test_reprocess_action_needs_its_permission_and_reads_axme_again(
    env, recorder, django_capture_on_commit_callbacks
):
    intent_id = open_approval(env)
    row, _ = audit.record_delivery(
        "d-2",
        event_type="inbox.thread_created",
        thread_id=intent_id,
        intent_id=intent_id,
        owner_agent=OWNER,
        outcome="ignored",
    )
    viewer = staff("viewer", "view_webhookdelivery")
    assert action(viewer, "reprocess_selected", [row]).status_code == 403
    assert not Approval.objects.exists()

    operator = staff("operator", "reprocess_webhookdelivery")
    with django_capture_on_commit_callbacks(execute=True):
        page = action(operator, "reprocess_selected", [row])
    assert b"Reprocessed 1 deliveries (processed: 1)" in page.content
    row.refresh_from_db()
    assert row.outcome == "processed"
    assert Approval.objects.get().thread_id == intent_id
    assert len(recorder.named("approval_requested")) == 1


def test_replay_action_asks_axme_and_needs_its_permission(env, monkeypatch):
    event_id = env.emulator.webhooks.publish(
        OWNER, "inbox.thread_updated", {"thread_id": "t"}, source="tests"
    )["event_id"]
    row, _ = audit.record_delivery(
        "d-3", event_type="inbox.thread_updated", event_id=event_id, owner_agent=OWNER
    )
    no_event, _ = audit.record_delivery("d-4", event_type="x.y")
    operator = staff("operator", "reprocess_webhookdelivery")
    assert action(operator, "replay_selected", [row]).status_code == 403
    asked = []
    real = service.replay_delivery
    monkeypatch.setattr(
        service, "replay_delivery", lambda d, **kw: asked.append(d.event_id) or real(d, **kw)
    )
    replayer = staff("replayer", "replay_webhookdelivery")
    page = action(replayer, "replay_selected", [row, no_event])
    assert b"AXME was asked to replay 1 events (0 failed, 1 without" in page.content
    assert asked == [event_id]


def check_ids(axme):
    with override_settings(AXME=axme):
        return sorted(m.id for m in check_webhook_settings())


def test_checks_warn_without_a_secret_and_refuse_short_ones():
    base = {"API_KEY": "k"}
    assert check_ids(base) == ["axme.W030"]  # the testproject routes axme:webhook
    assert check_ids({**base, "WEBHOOK_SECRETS": [SECRET]}) == []
    assert check_ids({**base, "WEBHOOK_SECRET": "short"}) == ["axme.E031"]
    assert check_ids({**base, "WEBHOOK_SECRETS": [SECRET, "tiny"]}) == ["axme.E031"]
    assert check_ids({**base, "WEBHOOK_SECRET": SECRET, "WEBHOOK_URL": "ftp://x"}) == ["axme.E032"]
    with override_settings(ROOT_URLCONF="tests.webhooks.urls_without_webhooks"):
        assert check_ids(base) == []


def test_short_secret_is_refused_at_run_time_too(settings):
    from django_axme.conf import AxmeSettingsError

    settings.AXME = {**settings.AXME, "WEBHOOK_SECRETS": ["short"]}
    with pytest.raises(AxmeSettingsError, match="16"):
        service.configured_secrets()


def test_secret_values_never_appear_in_check_messages():
    with override_settings(AXME={"API_KEY": "k", "WEBHOOK_SECRETS": "not-a-list-S3CRET"}):
        from django_axme.checks import check_axme_settings

        texts = [f"{m.msg} {m.hint}" for m in check_axme_settings() + check_webhook_settings()]
    assert texts and not any("S3CRET" in t for t in texts)


def test_prune_deletes_deliveries_past_retention():
    old, _ = audit.record_delivery("old", event_type="x.y")
    audit.record_delivery("new", event_type="x.y")
    WebhookDelivery.objects.filter(pk=old.pk).update(
        received_at=timezone.now() - dt.timedelta(days=91)
    )
    out = StringIO()
    call_command("axme_prune", "--dry-run", stdout=out)
    assert "Webhook deliveries past retention: 1." in out.getvalue()
    assert WebhookDelivery.objects.count() == 2
    call_command("axme_prune", stdout=StringIO())
    assert list(WebhookDelivery.objects.values_list("delivery_id", flat=True)) == ["new"]
