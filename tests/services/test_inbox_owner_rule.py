"""One owner rule and one way to read the inbox, for the task, the command and the admin.

Drift this pins (issue 13): ``sync_inbox`` and ``axme_sync`` read only
``INBOX_OWNER_AGENTS`` while the admin button fell back to ``DEFAULT_OWNER_AGENT``; the
command and the admin read ``list_inbox`` while the task read the changes feed.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from django_axme import tasks
from django_axme.admin import operations
from django_axme.services.inbox import inbox_owners
from tests.services.fakes import FakeClient

pytestmark = pytest.mark.django_db

OWNER = "agent://acme/approvers"
EMPTY_PAGE = {"ok": True, "changes": [], "next_cursor": None, "has_more": False}


def _front_ends(monkeypatch):
    def task():
        tasks.sync_inbox.apply().get()

    def command():
        call_command("axme_sync", "--inbox-only", stdout=StringIO(), stderr=StringIO())

    def admin():
        assert operations.refresh_inbox().ok

    return {"task": task, "command": command, "admin": admin}


@pytest.mark.parametrize("front_end", ["task", "command", "admin"])
def test_default_owner_is_read_when_no_inbox_owner_is_listed(
    front_end, monkeypatch, settings
) -> None:
    settings.AXME = {**settings.AXME, "INBOX_OWNER_AGENTS": [], "DEFAULT_OWNER_AGENT": OWNER}
    fake = FakeClient(list_inbox_changes=EMPTY_PAGE)
    monkeypatch.setattr("django_axme.get_client", lambda: fake)
    monkeypatch.setattr("django_axme.conf.get_client", lambda: fake)
    _front_ends(monkeypatch)[front_end]()
    assert [k["owner_agent"] for _, k in fake.named("list_inbox_changes")] == [OWNER]
    assert not fake.named("list_inbox")  # one way to read: the changes feed


def test_front_ends_share_the_stored_cursor(monkeypatch, settings) -> None:
    settings.AXME = {**settings.AXME, "INBOX_OWNER_AGENTS": [OWNER]}
    page = {**EMPTY_PAGE, "next_cursor": "c-42"}
    fake = FakeClient(list_inbox_changes=page)
    monkeypatch.setattr("django_axme.get_client", lambda: fake)
    monkeypatch.setattr("django_axme.conf.get_client", lambda: fake)
    front_ends = _front_ends(monkeypatch)
    front_ends["task"]()
    front_ends["admin"]()
    front_ends["command"]()
    cursors = [k["cursor"] for _, k in fake.named("list_inbox_changes")]
    assert cursors == [None, "c-42", "c-42"]


def test_inbox_owners_rule(settings) -> None:
    settings.AXME = {**settings.AXME, "INBOX_OWNER_AGENTS": ["a", "", "b", "a"]}
    assert inbox_owners() == ["a", "b"]
    settings.AXME = {**settings.AXME, "INBOX_OWNER_AGENTS": [], "DEFAULT_OWNER_AGENT": None}
    assert inbox_owners() == []
