"""The query vocabulary of ``Intent.objects`` (issue 13: seven copies of
``exclude(status__in=TERMINAL_STATUSES)`` and the reads in ``sync/leases.py``)."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone

from django_axme.models import Intent, SyncCursor
from django_axme.sync import leases

pytestmark = pytest.mark.django_db

PACKAGE = Path(__file__).resolve().parents[2] / "django_axme"


def _make(intent_id, status="IN_PROGRESS", **fields):
    return Intent.objects.create(intent_id=intent_id, intent_type="t.v1", status=status, **fields)


def test_open_remote_and_by_remote_id() -> None:
    _make("a")
    _make("b", status="COMPLETED")
    Intent.objects.create(intent_type="t.v1", status="CREATED")  # an outbox row
    assert sorted(Intent.objects.open().remote().remote_ids()) == ["a"]
    assert Intent.objects.open().count() == 2
    assert Intent.objects.terminal().remote_ids() == ["b"]
    assert Intent.objects.by_remote_id(["a", "b"]).count() == 2
    assert Intent.objects.by_remote_id("b").get().status == "COMPLETED"


def test_leases_and_silence() -> None:
    now = timezone.now()
    later, earlier = now + dt.timedelta(minutes=5), now - dt.timedelta(minutes=5)
    _make("live", observer_token="t", observer_lease_until=later, last_heard_at=now)
    _make("silent", observer_token="t", observer_lease_until=later, last_heard_at=earlier)
    _make("expired", observer_token="t", observer_lease_until=earlier)
    _make("never")
    _make("done", status="FAILED")
    assert sorted(Intent.objects.with_live_lease().remote_ids()) == ["live", "silent"]
    assert sorted(Intent.objects.without_live_observer().remote_ids()) == ["expired", "never"]
    assert Intent.objects.observed_but_silent(60).remote_ids() == ["silent"]
    assert sorted(Intent.objects.orphaned().remote_ids()) == ["expired", "never"]
    assert sorted(leases.expired_open_intents(10)) == ["expired", "never"]
    SyncCursor.objects.create(name="n", value="v")
    assert SyncCursor.objects.value_of("n") == "v" and SyncCursor.objects.value_of("x") is None


def test_no_module_spells_open_as_an_exclude_of_terminal_statuses() -> None:
    copies = []
    for path in PACKAGE.rglob("*.py"):
        if "emulator" in path.parts or "client" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("exclude", "filter")
                and any(k.arg == "status__in" for k in node.keywords)
                and path.name != "querysets.py"
                and path.parent.name != "sync"
            ):
                copies.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not copies, copies
