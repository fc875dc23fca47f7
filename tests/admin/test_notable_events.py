"""Events that change no status (reminder, escalation, delivery failure, task assigned) are
shown with badges on the approval's page and in the intent's timeline."""

from __future__ import annotations

import pytest
from django.urls import reverse

from django_axme.sync import ingest_events

pytestmark = pytest.mark.django_db(transaction=True)


def test_badges_on_both_pages(client, superuser, make_approval):
    approval = make_approval()
    intent = approval.intent
    seq = intent.last_seq
    base = {"intent_id": intent.intent_id, "status": "WAITING"}
    base |= {"waiting_reason": "WAITING_FOR_HUMAN", "actor": "gateway"}
    ingest_events(
        intent,
        [
            {**base, "seq": seq + 1, "event_type": "intent.reminder", "at": "2026-12-01T09:00Z"},
            {**base, "seq": seq + 2, "event_type": "intent.escalated", "at": "2026-12-01T10:00Z"},
        ],
    )
    client.force_login(superuser)
    page = client.get(reverse("admin:django_axme_approval_change", args=[approval.pk]))
    notices = page.content.decode().split('id="axme-notices"')[1].split("</section>")[0]
    assert notices.index(">Escalated<") < notices.index(">Reminder<")  # newest first
    timeline = client.get(reverse("admin:django_axme_intent_change", args=[intent.pk]))
    html = timeline.content.decode()
    assert 'data-event="intent.reminder">Reminder<' in html
    assert 'data-event="intent.escalated">Escalated<' in html
    assert html.count("data-event=") == 2  # other events carry no such badge
