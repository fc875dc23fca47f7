"""No horizontal overflow on any django-axme admin page nor the example app's list.

A real Chromium at 1280x800 and 1920x1080, light and dark theme; every page is filled with
realistic rows (UUIDs, long agent addresses, a request with a summary). The content must fit:
for the document, ``#content`` and each changelist's ``.results`` box, ``scrollWidth`` <=
``clientWidth``. Screenshots go to ``artifacts/screenshots/`` (and to
``docs/_static/screenshots/`` with ``AXME_UPDATE_DOC_SCREENSHOTS=1``).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.admin.conftest import _user
from tests.admin.test_browser import browser_page, save_shot  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = [(1280, 800), (1920, 1080)]
SHOTS = ("approval-list", "intent-list")

OVERFLOW_JS = """() => {
  const boxes = [
    ["html", document.documentElement], ["#content", document.querySelector("#content")]];
  document.querySelectorAll("#content .results").forEach(
    (el, i) => boxes.push([".results#" + i, el]));
  return boxes.filter(([, el]) => el && el.scrollWidth > el.clientWidth).map(
    ([name, el]) => `${name}: scrollWidth ${el.scrollWidth} > clientWidth ${el.clientWidth}`);
}"""


def _fill(axme_env) -> dict[str, str]:
    """Rows for every page; returns page name -> path."""
    from purchases.models import PurchaseRequest

    from django_axme.models import AgentJob, Intent, WebhookDelivery
    from tests.admin.test_request_panel import espresso

    approval = espresso(axme_env, None)
    now = timezone.now()
    long_agent = "agent://acme-corporation/procurement-and-finance/purchase-approvals-europe"
    intents = [
        Intent.objects.create(
            intent_id=str(uuid.uuid4()),
            intent_type=f"procurement.purchase_order_request.v{i}",
            status=status,
            waiting_reason="WAITING_FOR_HUMAN" if status == "WAITING" else "",
            to_agent=long_agent,
            from_agent=long_agent,
            correlation_id=str(uuid.uuid4()),
            payload={"item": "Ergonomic office chair with lumbar support", "amount": 12345.5},
            last_heard_at=now - timedelta(minutes=i),
        )
        for i, status in enumerate(["WAITING", "FAILED", "COMPLETED", "IN_PROGRESS"], start=1)
    ]
    inbound = Intent.objects.create(
        intent_id=str(uuid.uuid4()),
        intent_type="inventory.restock_request.v1",
        status="IN_PROGRESS",
        direction="inbound",
        to_agent=long_agent,
    )
    job = AgentJob.objects.create(intent=inbound, address=long_agent, handler="purchases.handle")
    delivery = WebhookDelivery.objects.create(
        delivery_id=str(uuid.uuid4()),
        event_id=str(uuid.uuid4()),
        event_type="inbox.thread.updated",
        intent_id=str(approval.thread_id),
        thread_id=str(approval.thread_id),
        owner_agent=long_agent,
        verified=True,
        outcome="processed",
        payload={"thread_id": approval.thread_id},
    )
    purchase = PurchaseRequest.objects.create(
        item="Espresso machine for the office",
        amount="1800.00",
        requester="dave",
        status="pending_approval",
        needs_approval=True,
        intent=approval.intent,
    )
    base = "/admin/django_axme"
    failed = intents[1]
    return {
        "approval-list": f"{base}/approval/",
        "approval-list-all": f"{base}/approval/?status__exact=all",
        "approval-page": f"{base}/approval/{approval.pk}/change/",
        "intent-list": f"{base}/intent/",
        "intent-page": f"{base}/intent/{failed.pk}/change/",
        "intent-cancel": f"{base}/intent/{intents[0].pk}/cancel/",
        "intent-controls": f"{base}/intent/{intents[0].pk}/controls/",
        "intent-resume": f"{base}/intent/{intents[0].pk}/resume/",
        "agent-job-page": f"{base}/agentjob/{job.pk}/change/",
        "webhook-delivery-page": f"{base}/webhookdelivery/{delivery.pk}/change/",
        "agent-jobs": f"{base}/agentjob/",
        "webhook-deliveries": f"{base}/webhookdelivery/",
        "app-index": f"{base}/",
        "purchases": "/admin/purchases/purchaserequest/",
        "purchase-page": f"/admin/purchases/purchaserequest/{purchase.pk}/change/",
    }


def test_no_horizontal_overflow(live_server, axme_env, browser_page):  # noqa: F811
    page = browser_page
    _user("root", superuser=True)
    pages = _fill(axme_env)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")

    problems = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            for name, path in pages.items():
                response = page.goto(live_server.url + path)
                assert response is not None and response.status == 200, (name, path)
                page.wait_for_selector("#content")
                for problem in page.evaluate(OVERFLOW_JS):
                    problems.append(f"{name} at {width}x{height} ({scheme}): {problem}")
                if width == 1280 and name in SHOTS:
                    save_shot(page, f"{name}-{width}-{scheme}.png")
                if name == "purchases" and width == 1280 and scheme == "light":
                    save_shot(page, "purchases-list.png")
    assert not problems, "\n".join(problems)


AXE_VERSION = "4.14.1"


def axe_script() -> str:
    """axe-core's ``axe.min.js``: ``$AXE_CORE_JS`` or ``node_modules/axe-core/`` at the root
    (``scripts/test`` and ``.ci/run`` install it from the npm registry)."""
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    path = Path(os.environ.get("AXE_CORE_JS") or root / "node_modules/axe-core/axe.min.js")
    if not path.is_file():
        pytest.fail(
            f"{path} is missing: install axe-core from the npm registry "
            f"(npm install --no-save --no-package-lock axe-core@{AXE_VERSION})"
        )
    return path.read_text(encoding="utf-8")


AXE_RUN_JS = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => `${v.impact} ${v.id}: ${v.help} (${v.nodes.length} nodes, e.g. ` +
              `${v.nodes[0].target.join(" ")}: ` +
              `${v.nodes[0].failureSummary.split("\\n")[1] || ""})`);
}"""


def test_no_serious_accessibility_violations(live_server, axme_env, browser_page):  # noqa: F811
    """axe-core, injected into each page, reports no serious or critical violation."""
    script = axe_script()
    page = browser_page
    _user("root", superuser=True)
    pages = _fill(axme_env)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")

    problems = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            for name, path in pages.items():
                page.goto(live_server.url + path)
                page.wait_for_selector("#content")
                page.add_script_tag(content=script)
                for problem in page.evaluate(AXE_RUN_JS):
                    problems.append(f"{name} at {width}x{height} ({scheme}): {problem}")
    assert not problems, "\n".join(problems)
