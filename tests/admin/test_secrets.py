"""No secret is ever rendered: the API key and actor token never reach an admin page,
not even in error messages from a failing gateway."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from django_axme.models import Approval, ApprovalDecision, Intent, IntentEvent
from tests.admin.test_decisions import closed_port_url

pytestmark = pytest.mark.django_db

API_KEY = "axme_sa_secret-test-key-7f3a9c"
ACTOR_TOKEN = "actor-token-secret-b81d44"


@pytest.fixture
def secret_settings(settings):
    settings.AXME = {
        **settings.AXME,
        "API_KEY": API_KEY,
        "ACTOR_TOKEN": ACTOR_TOKEN,
        "BASE_URL": closed_port_url(),
        "MAX_RETRIES": 0,
        "CONNECT_TIMEOUT_SECONDS": 1.0,
    }
    from django_axme.conf import reset_client

    reset_client()
    yield
    reset_client()


def assert_clean(response) -> None:
    body = response.content.decode()
    assert response.status_code in (200, 405), response.status_code
    assert API_KEY not in body
    assert ACTOR_TOKEN not in body
    assert "secret-test" not in body


def test_no_secret_on_any_admin_page(admin_client, secret_settings):
    intent = Intent.objects.create(
        intent_id=str(uuid.uuid4()),
        intent_type="purchase.approval.v1",
        status="WAITING",
        waiting_reason="WAITING_FOR_HUMAN",
        payload={"amount": 3},
        raw={"status": "WAITING"},
        policy_generation=1,
        controls={"envelope": {"max_retry_count": 2}},
    )
    IntentEvent.objects.create(intent=intent, seq=1, event_type="intent.created", status="CREATED")
    approval = Approval.objects.create(
        thread_id=intent.intent_id,
        intent=intent,
        remote_intent_id=intent.intent_id,
        title="Approve",
        owner_agent="agent://x/y",
    )
    pages = [
        reverse("admin:index"),
        reverse("admin:django_axme_approval_changelist"),
        reverse("admin:django_axme_approval_change", args=[approval.pk]),
        reverse("admin:django_axme_intent_changelist"),
        reverse("admin:django_axme_intent_change", args=[intent.pk]),
        reverse("admin:django_axme_intent_cancel", args=[intent.pk]),
        reverse("admin:django_axme_intent_resume", args=[intent.pk]),
        reverse("admin:django_axme_intent_controls", args=[intent.pk]),
    ]
    for url in pages:
        assert_clean(admin_client.get(url))

    # Remote failures (connection refused) end up as messages on the next page: still clean.
    posts = [
        (reverse("admin:django_axme_approval_decide", args=[approval.pk]), {"decision": "approve"}),
        (reverse("admin:django_axme_intent_refresh", args=[intent.pk]), {}),
        (reverse("admin:django_axme_intent_cancel", args=[intent.pk]), {"reason": "r"}),
        (
            reverse("admin:django_axme_intent_controls", args=[intent.pk]),
            {"max_retries": "5", "expected_policy_generation": "1"},
        ),
        (reverse("admin:django_axme_approval_refresh_inbox"), {}),
    ]
    for url, data in posts:
        response = admin_client.post(url, data, follow=True)
        assert_clean(response)
        # the remote error really was rendered (so the check above means something)
        assert b"errornote" in response.content or b'class="error"' in response.content
    failed = ApprovalDecision.objects.get()
    assert failed.state == "failed"
    assert API_KEY not in failed.error
    bulk = admin_client.post(
        reverse("admin:django_axme_approval_changelist"),
        {"action": "approve_selected", "_selected_action": [approval.pk], "index": "0"},
    )
    assert_clean(bulk)
