"""Take the quickstart's screenshots from a running demo (needs Playwright and Chromium).

Start ``scripts/demo`` in another terminal, then run::

    .venv/bin/python docs/diagrams/demo_screenshots.py http://127.0.0.1:8000 <admin password>

It logs in, approves one pending approval and rejects the other through the admin's pages,
waits for the example app to react, and writes ``docs/_static/demo-purchases.png`` and
``docs/_static/demo-purchase.png``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

STATIC = Path(__file__).resolve().parent.parent / "_static"
CHROMIUM = "/usr/bin/chromium"


def main(base_url: str, password: str, username: str = "admin") -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport={"width": 1280, "height": 760})
        page.goto(base_url + "/admin/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("input[type=submit]")
        for decision, note in (("approve", "Looks right"), ("reject", "Over budget this quarter")):
            page.goto(base_url + "/admin/django_axme/approval/?status__exact=pending")
            page.click("table#result_list tbody tr:first-child th a")
            page.fill("textarea[name=note]", note)
            page.click(f"button[name=decision][value={decision}]")
        page.wait_for_timeout(5000)
        page.goto(base_url + "/admin/purchases/purchaserequest/")
        page.screenshot(path=str(STATIC / "demo-purchases.png"))
        page.click("table#result_list tbody tr:nth-child(2) th a")
        page.set_viewport_size({"width": 1280, "height": 1100})
        page.screenshot(path=str(STATIC / "demo-purchase.png"), full_page=True)
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
