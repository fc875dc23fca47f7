"""A real browser (Playwright + Debian's Chromium) approving an intent in the admin.

What a user does, step by step: log in; open the approval queue and click "Refresh from AXME"
(reads the approvers' inbox); open the pending approval; write a note and click Approve; the
page says "Approved ... and sent it to AXME"; open the intent and click "Refresh from AXME"
until the timeline shows COMPLETED (the emulator's ApprovalScript completes the intent once
approved). Screenshots of the queue and the timeline go to ``artifacts/screenshots/``; with
``AXME_UPDATE_DOC_SCREENSHOTS=1`` they are also copied to ``docs/_static/screenshots/`` for
the admin guide (so an ordinary test run leaves the tracked files alone).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from django.db import connections

from tests.admin.conftest import OWNER, _user, create_remote_intent
from tests.browser import chromium_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "screenshots"
DOCS_SHOTS = ROOT / "docs" / "_static" / "screenshots"
INTENT_TYPE = "purchase.approval.v1"


@pytest.fixture
def browser_page(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # plain synchronous code, so tell Django not to refuse them.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with chromium_page() as page:
        try:
            yield page
        finally:
            # The test body's ORM calls ran while Playwright's loop was current; close what
            # they opened here, or PostgreSQL refuses to drop the test database later.
            connections.close_all()


def save_shot(page, name: str, selector: str | None = None) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / name
    if selector:
        page.locator(selector).screenshot(path=str(target))
    else:
        page.screenshot(path=str(target), full_page=False)
    if os.environ.get("AXME_UPDATE_DOC_SCREENSHOTS") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, DOCS_SHOTS / name)
    return target


def test_approve_in_the_browser_until_completed(live_server, axme_env, browser_page):
    from django_axme.emulator.agents import ApprovalScript

    page = browser_page
    _user("approver", perms=("decide_approval", "view_approval", "view_intent"))
    axme_env.attach_agent(
        INTENT_TYPE,
        ApprovalScript(
            OWNER,
            "Approve the purchase of 12 office chairs",
            description="Supplier: Acme Seating, total 1,440 EUR",
            completed=0.5,
        ),
    )
    intent_id = create_remote_intent(axme_env, INTENT_TYPE, amount=1440, item="office chairs")
    axme_env.wait_for_status(intent_id, ["WAITING"], timeout=10)

    # Log in.
    page.goto(f"{live_server.url}/admin/login/?next=/admin/django_axme/approval/")
    page.fill("#id_username", "approver")
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/django_axme/approval/")

    # The queue is empty until the inbox is read: click "Refresh from AXME".
    page.click("#axme-refresh-inbox")
    page.wait_for_selector("text=Approve the purchase of 12 office chairs")
    assert "1 pending" in page.inner_text("#axme-approval-counts")
    save_shot(page, "approval-queue.png")

    # Open it, write a note, approve.
    page.click("text=Approve the purchase of 12 office chairs")
    page.wait_for_selector("#axme-decision-form")
    page.fill("#axme-decision-form textarea[name=note]", "Within budget, go ahead.")
    save_shot(page, "approval-decision.png")
    page.click("#axme-approve")
    page.wait_for_selector("#axme-decision .axme-decision-state")
    assert "Approved by approver at " in page.inner_text("#axme-decision")
    assert "and sent it to AXME" in page.inner_text(".messagelist") or (
        "AXME confirmed it" in page.inner_text(".messagelist")
    )
    assert "Within budget, go ahead." in page.inner_text("#axme-decision")

    # Go to the intent and refresh until the gateway reports COMPLETED.
    page.click(".field-intent_link a")
    page.wait_for_selector("#axme-timeline")
    deadline = time.monotonic() + 20
    while True:
        page.click("#axme-refresh")
        page.wait_for_load_state()
        if page.locator('.axme-timeline-item[data-status="COMPLETED"]').count():
            break
        assert time.monotonic() < deadline, "the intent never reached COMPLETED"
        time.sleep(0.5)
    assert page.locator("#axme-current-status [data-status=COMPLETED]").count() == 1
    timeline = page.inner_text("#axme-timeline")
    assert "intent.completed" in timeline
    # The local decision sits in the same timeline.
    assert "Approved by approver (in this admin)" in timeline
    page.locator("#axme-timeline").scroll_into_view_if_needed()
    save_shot(page, "intent-timeline.png", "#axme-timeline")

    # Dark theme: the badges take their colours from the admin's CSS variables.
    badge = "#axme-current-status .axme-badge"
    light = page.eval_on_selector(badge, "e => getComputedStyle(e).backgroundColor")
    page.emulate_media(color_scheme="dark")
    page.reload()
    dark = page.eval_on_selector(badge, "e => getComputedStyle(e).backgroundColor")
    assert light != dark, (light, dark)
    save_shot(page, "intent-timeline-dark.png", "#axme-timeline")

    # The approval itself is now confirmed.
    from django_axme.models import Approval

    approval = Approval.objects.get(thread_id=intent_id)
    assert approval.status == "approved"


def test_read_the_request_then_approve(live_server, axme_env, browser_page):
    """The demo's espresso machine: amount and requester are on the page without a click."""
    from tests.admin.test_request_panel import espresso

    page = browser_page
    _user("approver", perms=("decide_approval", "view_approval", "view_intent"))
    approval = espresso(axme_env, None)

    page.goto(f"{live_server.url}/admin/login/?next=/admin/django_axme/approval/")
    page.fill("#id_username", "approver")
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/django_axme/approval/")
    page.click("text=Approve Espresso machine")
    page.wait_for_selector("#axme-request")
    request = page.locator("#axme-request")
    assert request.is_visible()
    shown = request.inner_text()
    assert "1,800.00" in shown and "dave" in shown, shown
    assert page.locator("#purchase-amount").inner_text() == "1,800.00 EUR"
    save_shot(page, "approval-request.png")
    page.click("#axme-approve")
    page.wait_for_selector("#axme-decision .axme-decision-state")
    from django_axme.models import ApprovalDecision

    assert ApprovalDecision.objects.get(approval=approval).decision == "approve"


def test_answer_a_form_task_in_the_browser(live_server, axme_env, browser_page):
    """A task with a form_schema and outcomes: fill the form, pick an outcome button."""
    from django_axme.models import ApprovalDecision
    from tests.admin.test_form_tasks import form_task

    page = browser_page
    _user("approver", perms=("decide_approval", "view_approval", "view_intent"))
    schema = {
        "type": "object",
        "properties": {
            "quantity": {"type": "integer", "minimum": 1, "title": "Quantity"},
            "deliver_on": {"type": "string", "format": "date", "title": "Deliver on"},
            "reason": {"type": "string", "maxLength": 500},
        },
        "required": ["quantity"],
    }
    approval = form_task(
        axme_env,
        form_schema=schema,
        allowed_outcomes=["order", "decline"],
        required_comment=True,
    )
    page.goto(f"{live_server.url}/admin/login/?next=/admin/django_axme/approval/")
    page.fill("#id_username", "approver")
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.click("text=Order supplies")
    page.wait_for_selector("#axme-decision-form")
    save_shot(page, "approval-form-task.png", "#axme-decision")
    # No comment and no quantity: the form says what is missing and nothing is sent.
    page.click("button[data-outcome=order]")
    page.wait_for_selector(".errorlist")
    assert "This task requires a comment." in page.inner_text("#axme-decision")
    assert not ApprovalDecision.objects.exists()
    page.fill("input[name=data__quantity]", "4")
    page.fill("input[name=data__deliver_on]", "2026-12-22")
    page.fill("#axme-decision-form textarea[name=note]", "Four boxes, before Christmas.")
    page.click("button[data-outcome=order]")
    page.wait_for_selector("#axme-decision .axme-decision-state")
    decision = ApprovalDecision.objects.get(approval=approval)
    assert decision.task_result == {
        "outcome": "order",
        "comment": "Four boxes, before Christmas.",
        "data": {"quantity": 4, "deliver_on": "2026-12-22"},
    }
