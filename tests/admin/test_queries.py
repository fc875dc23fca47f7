"""The admin's SQL cost does not grow with the data: same query count at 10 and 10,000 rows."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_axme.models import (
    Approval,
    ApprovalDecision,
    ApprovalStatus,
    Intent,
    IntentEvent,
)

pytestmark = pytest.mark.django_db

STATUSES = ["SUBMITTED", "IN_PROGRESS", "WAITING", "COMPLETED", "FAILED"]
MAX_QUERIES = 20  # a ceiling, to notice if a page ever becomes expensive


def add_intents(count: int, start: int = 0) -> list[Intent]:
    now = timezone.now()
    rows = [
        Intent(
            intent_id=str(uuid.UUID(int=start + i + 1)),
            intent_type=f"demo.kind{i % 5}.v1",
            status=STATUSES[i % len(STATUSES)],
            waiting_reason="WAITING_FOR_HUMAN" if STATUSES[i % len(STATUSES)] == "WAITING" else "",
            owner_agent=f"agent://demo/owner{i % 3}",
            to_agent="agent://demo/worker",
            correlation_id=str(uuid.uuid4()),
            last_seq=2,
            remote_created_at=now - timedelta(minutes=i),
        )
        for i in range(count)
    ]
    return Intent.objects.bulk_create(rows, batch_size=2000)


def add_approvals(intents: list[Intent], user=None) -> list[Approval]:
    rows = [
        Approval(
            thread_id=intent.intent_id,
            intent=intent,
            remote_intent_id=intent.intent_id,
            owner_agent=intent.owner_agent,
            title=f"Approve request {n}",
            status=[ApprovalStatus.PENDING, ApprovalStatus.APPROVED][n % 2],
            allowed_outcomes=["yes", "no"] if n % 3 == 0 else [],
        )
        for n, intent in enumerate(intents)
    ]
    return Approval.objects.bulk_create(rows, batch_size=2000)


def count_queries(client, url: str) -> int:
    """Queries of one GET, measured after a warm-up GET (session and content-type caches)."""
    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return len(ctx.captured_queries)


def test_intent_changelist_cost_is_constant(admin_client):
    url = reverse("admin:django_axme_intent_changelist")
    add_intents(10)
    small = count_queries(admin_client, url)
    add_intents(9_990, start=10)
    assert Intent.objects.count() == 10_000
    large = count_queries(admin_client, url)
    assert small == large <= MAX_QUERIES
    # Filtered, searched and drilled-down pages too.
    for query in ("?status__exact=WAITING", "?open=1&q=00000000", "?created_at__year=2026"):
        assert count_queries(admin_client, url + query) <= MAX_QUERIES


def test_approval_changelist_cost_is_constant(admin_client):
    url = reverse("admin:django_axme_approval_changelist")
    add_approvals(add_intents(10))
    small = count_queries(admin_client, url)
    add_approvals(add_intents(9_990, start=10))
    assert Approval.objects.count() == 10_000
    large = count_queries(admin_client, url)
    assert small == large <= MAX_QUERIES
    assert count_queries(admin_client, url + "?age=1h&q=Approve") <= MAX_QUERIES


def add_events(intent: Intent, count: int) -> None:
    now = timezone.now()
    IntentEvent.objects.bulk_create(
        [
            IntentEvent(
                intent=intent,
                seq=seq,
                event_type="intent.in_progress",
                status="IN_PROGRESS",
                actor="agent://demo/worker",
                at=now + timedelta(seconds=seq),
                details={"step": seq},
                raw={"seq": seq, "event_type": "intent.in_progress"},
            )
            for seq in range(intent.last_seq + 1, intent.last_seq + count + 1)
        ],
        batch_size=2000,
    )
    intent.last_seq += count
    Intent.objects.filter(pk=intent.pk).update(last_seq=intent.last_seq)


def test_intent_change_page_cost_is_constant_with_1000_events(admin_client, admin_user):
    intent = add_intents(1)[0]
    intent.last_seq = 0
    approval = add_approvals([intent])[0]
    ApprovalDecision.objects.create(
        approval=approval, user=admin_user, decision="approve", idempotency_key="k-1", note="ok"
    )
    url = reverse("admin:django_axme_intent_change", args=[intent.pk])
    add_events(intent, 10)
    small = count_queries(admin_client, url)
    add_events(intent, 990)
    assert IntentEvent.objects.filter(intent=intent).count() == 1000
    large = count_queries(admin_client, url)
    assert small == large <= MAX_QUERIES
    first_page = count_queries(admin_client, url + "?timeline_page=1")
    assert first_page == large


def test_timeline_pages_hold_every_event_once(admin_client):
    intent = add_intents(1)[0]
    intent.last_seq = 0
    add_events(intent, 250)
    url = reverse("admin:django_axme_intent_change", args=[intent.pk])
    seen: list[int] = []
    for page in (1, 2, 3):
        html = admin_client.get(f"{url}?timeline_page={page}").content.decode()
        seen += [int(part.split('"')[0]) for part in html.split('data-seq="')[1:]]
    assert seen == list(range(1, 251))


def test_approval_change_page_cost_is_constant(admin_client, admin_user):
    intent = add_intents(1)[0]
    approval = add_approvals([intent])[0]
    url = reverse("admin:django_axme_approval_change", args=[approval.pk])
    ApprovalDecision.objects.create(
        approval=approval,
        user=admin_user,
        decision="approve",
        idempotency_key="k-0",
        state="failed",
        error="boom",
    )
    small = count_queries(admin_client, url)
    ApprovalDecision.objects.bulk_create(
        [
            ApprovalDecision(
                approval=approval,
                user=admin_user,
                decision="reject",
                idempotency_key=f"k-{n}",
                state="failed",
                error="down",
            )
            for n in range(1, 60)
        ]
    )
    large = count_queries(admin_client, url)
    assert small == large <= MAX_QUERIES
