"""The agent side in the admin: jobs with their runs, "run again" and approvals behind the
``run_agent_handler_again`` permission, the human wait approved from the admin (issue 17)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

import django_axme.agent
import django_axme.agent.listener as listener_module
from django_axme.agent import Wait
from django_axme.agent.listener import Listener
from django_axme.models import AgentJob

from .conftest import ADDRESS, send

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "admin:django_axme_agentjob_changelist"


@pytest.fixture
def inline_workers(agent_env: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(listener_module, "enqueue_job", agent_env.inline)
    return agent_env


def staff(*perms: str) -> User:
    user = User.objects.create_user("clerk", password="pw", is_staff=True)
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def test_human_wait_approved_in_the_admin_completes_for_the_sdk(inline_workers, sdk, client):
    @django_axme.agent.handler("tests.agent.approve.v1")
    def needs_human(intent, ctx):
        if ctx.decision != "approve":
            return Wait("WAITING_FOR_HUMAN")
        return {"approved_by": ctx.decision_note}

    intent_id = send(sdk, "tests.agent.approve.v1")
    Listener(ADDRESS, enqueue=inline_workers.inline).run_window()
    job = AgentJob.objects.get(intent__intent_id=intent_id)
    assert job.state == "waiting"

    client.force_login(staff("view_agentjob"))
    url = reverse(CHANGELIST)
    page = client.get(url).content.decode()
    assert intent_id in page and "waiting" in page
    denied = client.post(url, {"action": "approve_selected", "_selected_action": [job.pk]})
    assert denied.status_code == 403
    assert AgentJob.objects.get(pk=job.pk).state == "waiting"

    client.force_login(User.objects.create_superuser("boss", password="pw"))
    answer = client.post(url, {"action": "approve_selected", "_selected_action": [job.pk]})
    assert answer.status_code == 302
    event = sdk.wait_for(intent_id, wait_seconds=2, timeout_seconds=10)
    assert event["status"] == "COMPLETED"
    assert event["details"]["result"] == {"approved_by": "boss"}


def test_run_again_needs_the_permission_and_reruns_a_failed_job(inline_workers, client):
    attempts: list[int] = []

    @django_axme.agent.handler("tests.agent.work.v1")
    def work(intent, ctx):
        attempts.append(ctx.attempt)
        if ctx.attempt == 1:
            raise RuntimeError("bug")
        return {"ok": True}

    inline_workers.emulator.create_intent(
        {"intent_type": "tests.agent.work.v1", "to_agent": ADDRESS, "payload": {}}
    )
    Listener(ADDRESS, enqueue=inline_workers.inline).run_window()
    job = AgentJob.objects.get()
    assert job.state == "failed"

    client.force_login(staff("view_agentjob"))
    change = client.get(reverse("admin:django_axme_agentjob_change", args=[job.pk]))
    assert "RuntimeError: bug" in change.content.decode()
    url = reverse(CHANGELIST)
    assert (
        client.post(url, {"action": "run_again_selected", "_selected_action": [job.pk]}).status_code
        == 403
    )
    User.objects.get(username="clerk").user_permissions.add(
        Permission.objects.get(codename="run_agent_handler_again")
    )
    client.force_login(User.objects.get(username="clerk"))
    assert (
        client.post(url, {"action": "run_again_selected", "_selected_action": [job.pk]}).status_code
        == 302
    )
    assert attempts == [1, 2]
    assert AgentJob.objects.get(pk=job.pk).state == "resolved"


@pytest.mark.browser
def test_a_clerk_approves_a_waiting_job_in_a_real_browser(
    inline_workers, sdk, live_server, monkeypatch
):
    """The same human wait, with Playwright and Chromium: the clerk (with the permission) logs
    in, ticks the waiting job, runs *Approve*; the sender's ``wait_for`` sees COMPLETED."""
    from django.db import connections

    from tests.browser import chromium_page

    @django_axme.agent.handler("tests.agent.browser.v1")
    def needs_clerk(intent, ctx):
        if ctx.decision != "approve":
            return Wait("WAITING_FOR_HUMAN", note="a clerk must check the stock")
        return {"checked_by": ctx.decision_note}

    intent_id = send(sdk, "tests.agent.browser.v1")
    Listener(ADDRESS, enqueue=inline_workers.inline).run_window()
    job = AgentJob.objects.get(intent__intent_id=intent_id)
    assert job.state == "waiting"
    staff("view_agentjob", "run_agent_handler_again")

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    try:
        with chromium_page() as page:
            page.goto(f"{live_server.url}/admin/login/?next={reverse(CHANGELIST)}")
            page.fill("#id_username", "clerk")
            page.fill("#id_password", "pw")
            page.click("input[type=submit]")
            # The list shows the id cut short, with the full id on hover.
            page.wait_for_selector(f".axme-short-id[title='{intent_id}']")
            page.check(f"input.action-select[value='{job.pk}']")
            page.select_option("select[name=action]", "approve_selected")
            page.click("button[name=index]")
            page.wait_for_selector("text=1 waiting job(s) answered.")
    finally:
        connections.close_all()
    event = sdk.wait_for(intent_id, wait_seconds=2, timeout_seconds=15)
    assert event["status"] == "COMPLETED"
    assert event["details"]["result"] == {"checked_by": "clerk"}
    assert AgentJob.objects.get(pk=job.pk).state == "resolved"
