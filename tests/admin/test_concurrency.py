"""Two admins deciding the same approval at the same moment end in exactly one decision.

The two decisions race through the real stack: two HTTP clients in two threads, each with its
own database connection, posting to the admin, which records through the one writer and calls
the live emulator. The database's one-live-decision constraint (and the row lock the writer
takes) decides the winner; the loser gets a message, never a 500.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from django_axme.models import ApprovalDecision
from tests.admin.conftest import _user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _needs_postgres():
    if connection.vendor != "postgresql":
        pytest.skip(
            "concurrent decisions are checked on PostgreSQL (row locks, real parallel writers); "
            "run with DATABASE_URL=postgres://..."
        )


def race(posts: list[tuple[Client, str, dict]]) -> list[int]:
    """POST all at once (a barrier releases the threads together); returns the statuses."""
    barrier = threading.Barrier(len(posts))
    statuses: list[int] = [0] * len(posts)
    errors: list[BaseException] = []

    def run(index: int, client: Client, url: str, data: dict) -> None:
        try:
            barrier.wait(timeout=10)
            statuses[index] = client.post(url, data).status_code
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, *post)) for i, post in enumerate(posts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return statuses


@pytest.mark.parametrize("decisions", [("approve", "reject"), ("approve", "approve")])
def test_two_admins_at_once_make_exactly_one_decision(make_approval, axme_env, decisions):
    approval = make_approval()
    url = reverse("admin:django_axme_approval_decide", args=[approval.pk])
    alice, bob = Client(), Client()
    alice.force_login(_user("alice", superuser=True))
    bob.force_login(_user("bob", superuser=True))

    statuses = race(
        [
            (alice, url, {"decision": decisions[0], "note": "alice"}),
            (bob, url, {"decision": decisions[1], "note": "bob"}),
        ]
    )

    assert statuses == [302, 302]
    rows = list(ApprovalDecision.objects.filter(approval=approval))
    assert len(rows) == 1, rows
    winner = rows[0]
    assert winner.state in ("sent", "confirmed")
    # The gateway saw that one decision, and the intent follows it.
    expected = "COMPLETED" if winner.decision == "approve" else "FAILED"
    assert axme_env.wait_for_status(approval.thread_id, [expected], timeout=10)


def test_ten_double_clicks_make_one_decision(make_approval):
    approval = make_approval()
    url = reverse("admin:django_axme_approval_decide", args=[approval.pk])
    user = _user("clicker", superuser=True)
    clients = []
    for _ in range(10):
        client = Client()
        client.force_login(user)
        clients.append((client, url, {"decision": "approve", "note": "click"}))
    assert race(clients) == [302] * 10
    assert ApprovalDecision.objects.filter(approval=approval).count() == 1
