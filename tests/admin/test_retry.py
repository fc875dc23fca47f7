"""Retry from the admin: a failed intent gets its next attempt (linked), behind a permission.

Against the live emulator over HTTP: the original really failed at the gateway and is
mirrored by the admin's refresh; the retry attempt is sent like any outbox row.
"""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from django_axme.models import Intent, IntentStatus, SendState
from tests.admin.conftest import _user, create_remote_intent

pytestmark = pytest.mark.django_db(transaction=True)


def failed_intent(axme_env) -> Intent:
    from django_axme.admin import operations

    intent_id = create_remote_intent(axme_env, "shop.order.v1", item="desk", amount=300)
    axme_env.fail(intent_id, "the warehouse is closed")
    assert operations.refresh_intent(Intent(intent_id=intent_id)).ok
    intent = Intent.objects.get(intent_id=intent_id)
    assert intent.status == IntentStatus.FAILED
    return intent


def retry_url(intent: Intent) -> str:
    return reverse("admin:django_axme_intent_retry", args=[intent.pk])


def change_url(intent: Intent) -> str:
    return reverse("admin:django_axme_intent_change", args=[intent.pk])


def test_retry_needs_the_permission(client, axme_env):
    intent = failed_intent(axme_env)
    client.force_login(_user("looker", perms=("view_intent", "cancel_intent")))
    page = client.get(change_url(intent)).content.decode()
    assert 'id="axme-retry"' not in page
    assert client.post(retry_url(intent)).status_code == 403
    changelist = reverse("admin:django_axme_intent_changelist")
    action = {"action": "retry_selected", "_selected_action": [intent.pk]}
    assert client.post(changelist, action).status_code == 403
    assert not Intent.objects.filter(retry_of=intent).exists()


def test_retry_creates_one_linked_attempt_and_sends_it(client, axme_env):
    import django_axme
    from django_axme.services.sending import send_outbox_row

    intent = failed_intent(axme_env)
    client.force_login(_user("retrier", perms=("view_intent", "retry_intent")))
    assert 'id="axme-retry"' in client.get(change_url(intent)).content.decode()
    assert client.get(retry_url(intent)).status_code == 405

    response = client.post(retry_url(intent))
    assert response.status_code == 302
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    attempt = Intent.objects.get(retry_of=intent)
    assert attempt.attempt == 2 and attempt.correlation_id == intent.correlation_id
    assert any(f"attempt 2 (outbox #{attempt.pk})" in t for t in texts), texts
    # Retrying again does not make a third attempt: the same one is returned.
    client.post(retry_url(intent))
    assert Intent.objects.filter(retry_of=intent).count() == 1

    # The attempt is an outbox row like any other; sending it reaches the gateway.
    assert send_outbox_row(django_axme.get_client(), attempt.pk).state in ("sent", "already")
    attempt.refresh_from_db()
    assert attempt.send_state == SendState.SENT and attempt.intent_id != intent.intent_id
    assert axme_env.get_intent(attempt.intent_id)["payload"] == {"item": "desk", "amount": 300}
    page = client.get(change_url(intent)).content.decode()
    assert 'id="axme-attempts"' in page and "attempt 2" in page
    assert "a retry of" in client.get(change_url(attempt)).content.decode()


def test_bulk_retry_skips_intents_that_did_not_fail(client, axme_env):
    failed = failed_intent(axme_env)
    done = Intent.objects.create(intent_id="c" * 36, intent_type="x.y.v1", status="COMPLETED")
    client.force_login(_user("retrier", perms=("view_intent", "retry_intent")))
    changelist = reverse("admin:django_axme_intent_changelist")
    response = client.post(
        changelist, {"action": "retry_selected", "_selected_action": [failed.pk, done.pk]}
    )
    assert response.status_code == 302
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("1 retry created; 1 skipped" in t for t in texts), texts
    assert Intent.objects.filter(retry_of=failed).count() == 1
    assert not Intent.objects.filter(retry_of=done).exists()
