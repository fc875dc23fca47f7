"""``django_axme.refresh.refresh_intent``: the calls it makes (``responses``), and what it
hands to the one writer."""

from __future__ import annotations

import pytest
import responses
from responses import matchers

from django_axme.client import AxmeClient, AxmeClientConfig
from django_axme.models import Intent
from django_axme.refresh import refresh_intent
from tests.mirror.helpers import event

pytestmark = pytest.mark.django_db

BASE = "http://axme.test"
ID = "7d3c2b1a-0000-4000-8000-000000000001"


@pytest.fixture
def client() -> AxmeClient:
    return AxmeClient(AxmeClientConfig(base_url=BASE, api_key="k", max_retries=0))


def _snapshot(rsps: responses.RequestsMock) -> None:
    rsps.get(
        f"{BASE}/v1/intents/{ID}",
        json={"ok": True, "intent": {"intent_id": ID, "intent_type": "shop.order.v1"}},
    )


def _events(rsps, since: str | None, seqs: list[int], **extra) -> None:
    statuses = {1: "CREATED", 2: "SUBMITTED", 3: "IN_PROGRESS"}
    rsps.get(
        f"{BASE}/v1/intents/{ID}/events",
        match=[matchers.query_param_matcher({"since": since} if since else {})],
        json={"ok": True, "events": [event(ID, s, statuses[s]) for s in seqs], **extra},
    )


def test_one_snapshot_and_one_events_call_when_the_gateway_answers_everything(client):
    with responses.RequestsMock() as rsps:
        _snapshot(rsps)
        _events(rsps, None, [1, 2, 3])
        refreshed = refresh_intent(client, ID)
        assert len(rsps.calls) == 2
    assert (refreshed.stored, refreshed.transitions) == (3, 2)
    assert (refreshed.intent.status, refreshed.intent.last_seq) == ("IN_PROGRESS", 3)


def test_pages_are_followed_while_the_gateway_says_has_more(client):
    with responses.RequestsMock() as rsps:
        _snapshot(rsps)
        _events(rsps, None, [1, 2], has_more=True)
        _events(rsps, "2", [3])
        refreshed = refresh_intent(client, ID)
        assert len(rsps.calls) == 3
    assert refreshed.stored == 3
    assert Intent.objects.get(intent_id=ID).last_seq == 3


def test_the_stored_cursor_is_the_default_since(client):
    with responses.RequestsMock() as rsps:
        _snapshot(rsps)
        _events(rsps, None, [1, 2])
        refresh_intent(client, ID)
        _snapshot(rsps)
        _events(rsps, "2", [3])
        assert refresh_intent(client, ID).stored == 1
