"""Intent operations from the admin (refresh, cancel, resume, controls) against the emulator."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from django_axme.admin import operations
from django_axme.models import Intent
from tests.admin.conftest import create_remote_intent

pytestmark = pytest.mark.django_db(transaction=True)


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def waiting_intent(make_approval):
    """A mirrored intent waiting for a human (and its approval)."""
    return make_approval().intent


def url(name: str, intent: Intent) -> str:
    return reverse(f"admin:django_axme_intent_{name}", args=[intent.pk])


def test_refresh_mirrors_the_remote_intent_and_its_events(admin_client, axme_env):
    intent_id = create_remote_intent(axme_env, "notify.message.v1")
    stub = Intent(intent_id=intent_id)
    assert operations.refresh_intent(stub).ok
    intent = Intent.objects.get(intent_id=intent_id)
    before = intent.last_seq
    axme_env.resolve(intent_id, "COMPLETED", result={"sent": True})
    response = admin_client.post(url("refresh", intent))
    assert response.status_code == 302
    intent.refresh_from_db()
    assert intent.status == "COMPLETED"
    assert intent.last_seq > before
    page = admin_client.get(url("change", intent)).content.decode()
    assert 'data-status="COMPLETED"' in page
    assert "intent.completed" in page


def test_cancel_needs_a_reason_then_cancels(admin_client, waiting_intent, axme_env):
    form = admin_client.post(url("cancel", waiting_intent), {"reason": " "})
    assert form.status_code == 200
    assert axme_env.get_intent(waiting_intent.intent_id)["status"] == "WAITING"
    response = admin_client.post(url("cancel", waiting_intent), {"reason": "bought elsewhere"})
    assert response.status_code == 302
    assert axme_env.get_intent(waiting_intent.intent_id)["status"] == "CANCELED"
    waiting_intent.refresh_from_db()
    assert waiting_intent.status == "CANCELED"
    # A second cancel of a closed intent is explained, not a 500.
    again = admin_client.post(url("cancel", waiting_intent), {"reason": "again"})
    assert again.status_code == 302


def test_resume_releases_the_human_wait(admin_client, waiting_intent, axme_env):
    page = admin_client.get(url("resume", waiting_intent))
    assert page.status_code == 200
    response = admin_client.post(url("resume", waiting_intent), {"reason": "approved by phone"})
    assert response.status_code == 302
    assert any("resumed" in t.lower() for t in texts(response)), texts(response)
    status = axme_env.wait_for_status(waiting_intent.intent_id, ["COMPLETED"], timeout=10)
    assert status


def test_controls_update_uses_the_generation_and_explains_a_stale_one(
    admin_client, waiting_intent, axme_env
):
    waiting_intent.refresh_from_db()
    generation = waiting_intent.policy_generation or 0
    page = admin_client.get(url("controls", waiting_intent))
    assert page.status_code == 200
    assert f'name="expected_policy_generation" value="{generation}"' in page.content.decode()

    # Someone else changes the policy first (generation moves on).
    other = axme_env.client()
    other.update_intent_policy(
        waiting_intent.intent_id,
        {"envelope_patch": {"max_retry_count": 9}, "expected_policy_generation": generation},
    )
    stale = admin_client.post(
        url("controls", waiting_intent),
        {
            "max_retries": "3",
            "retry_delay_seconds": "30",
            "expected_policy_generation": str(generation),
        },
    )
    assert stale.status_code == 200  # the form again, with an explanation
    html = stale.content.decode()
    assert "someone updated this intent" in html
    assert f'value="{generation + 1}"' in html  # the form now carries the current generation
    remote = axme_env.get_intent(waiting_intent.intent_id)
    assert remote.get("policy_generation") == generation + 1

    ok = admin_client.post(
        url("controls", waiting_intent),
        {
            "max_retries": "3",
            "retry_delay_seconds": "30",
            "remind_after_seconds": "600",
            "expected_policy_generation": str(generation + 1),
        },
    )
    assert ok.status_code == 302, ok.content[:2000]
    assert any("Controls updated" in t for t in texts(ok)), texts(ok)
    waiting_intent.refresh_from_db()
    assert waiting_intent.policy_generation == generation + 3


def test_gateway_down_on_refresh_is_a_message(admin_client, waiting_intent, settings):
    from tests.admin.test_decisions import closed_port_url

    settings.AXME = {**settings.AXME, "BASE_URL": closed_port_url()}
    response = admin_client.post(url("refresh", waiting_intent), follow=True)
    assert response.status_code == 200
    assert "Refresh from AXME failed" in response.content.decode()
