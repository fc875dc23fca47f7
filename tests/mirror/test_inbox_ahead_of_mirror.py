"""The inbox is read apart from the event stream, so a thread can be newer than the mirror.

Every path that reads the inbox (``sync_inbox``, the admin's refresh, ``axme_sync --inbox``)
must then read the intent first instead of passing the thread over, and must not stop at a
thread whose intent the gateway does not know (the emulator's welcome thread is one).
All against the live emulator over HTTP.
"""

from __future__ import annotations

import logging
from unittest import mock

import pytest

import django_axme
from django_axme.admin import operations
from django_axme.models import Approval, Intent
from django_axme.refresh import ingest_inbox_thread, refresh_intent
from django_axme.tasks import sync_inbox

pytestmark = pytest.mark.django_db

APPROVERS = "agent://demo/approvers"


def _intent_in_progress(axme_emulator, capture) -> str:
    """A remote intent the mirror knows up to IN_PROGRESS, then a human task opened remotely
    that the mirror has not heard of (as when the observer lags behind the inbox)."""
    client = django_axme.get_client()
    intent_id = client.create_intent(
        {
            "intent_type": "shop.order.v1",
            "to_agent": "agent://demo/warehouse",
            "from_agent": "agent://demo/shop",
            "payload": {"order": 1},
        }
    )["intent_id"]
    axme_emulator.transition(intent_id, "IN_PROGRESS")
    with capture(execute=True):
        refresh_intent(client, intent_id)
    assert Intent.objects.get(intent_id=intent_id).status == "IN_PROGRESS"
    axme_emulator.gateway.open_human_task(intent_id, owner_agent=APPROVERS, title="Ship it?")
    return intent_id


def test_sync_inbox_reads_the_intent_when_the_thread_is_ahead(
    axme_emulator, axme_settings, recorder, django_capture_on_commit_callbacks, settings
):
    settings.AXME = {**settings.AXME, "INBOX_OWNER_AGENTS": [APPROVERS]}
    intent_id = _intent_in_progress(axme_emulator, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        counts = sync_inbox.apply().get()

    assert counts[APPROVERS] >= 1
    approval = Approval.objects.get(thread_id=intent_id)
    assert (approval.status, approval.title) == ("pending", "Ship it?")
    intent = Intent.objects.get(intent_id=intent_id)
    assert (intent.status, intent.waiting_reason) == ("WAITING", "WAITING_FOR_HUMAN")
    assert approval.intent_id == intent.pk
    assert [r.kwargs["approval"].thread_id for r in recorder.named("approval_requested")] == [
        intent_id
    ]

    # The cursor moved on: another run neither reads the thread again nor signals twice.
    with django_capture_on_commit_callbacks(execute=True):
        sync_inbox.apply().get()
    assert len(recorder.named("approval_requested")) == 1


def test_admin_refresh_mirrors_the_approval_past_the_welcome_thread(
    axme_emulator, axme_settings, recorder, django_capture_on_commit_callbacks, settings
):
    # The emulator gives an empty inbox one welcome thread whose intent it does not serve
    # (GET /v1/intents/<id> is 404): the refresh must neither stop there nor mirror it.
    settings.AXME = {**settings.AXME, "INBOX_OWNER_AGENTS": [APPROVERS]}
    client = django_axme.get_client()
    welcome = client.list_inbox(owner_agent=APPROVERS)["threads"]
    assert len(welcome) == 1
    Intent.objects.create(intent_id=welcome[0]["intent_id"], intent_type="emulator.welcome.v1")
    intent_id = _intent_in_progress(axme_emulator, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        result = operations.refresh_inbox()

    assert result.ok, result.message
    assert list(Approval.objects.values_list("thread_id", flat=True)) == [intent_id]
    assert len(recorder.named("approval_requested")) == 1


def test_axme_sync_inbox_only_reads_the_lagging_intent(
    axme_emulator, axme_settings, django_capture_on_commit_callbacks
):
    from io import StringIO

    from django.core.management import call_command

    intent_id = _intent_in_progress(axme_emulator, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("axme_sync", "--inbox-only", "--owner-agent", APPROVERS, stdout=StringIO())
    assert Approval.objects.filter(thread_id=intent_id, status="pending").exists()


def test_a_thread_that_agrees_with_the_mirror_costs_no_call(
    axme_emulator, axme_settings, django_capture_on_commit_callbacks
):
    intent_id = _intent_in_progress(axme_emulator, django_capture_on_commit_callbacks)
    client = django_axme.get_client()
    with django_capture_on_commit_callbacks(execute=True):
        refresh_intent(client, intent_id)  # now the mirror waits for a human too
    thread = client.get_inbox_thread(intent_id, owner_agent=APPROVERS)["thread"]
    spy = mock.Mock(wraps=client)

    with django_capture_on_commit_callbacks(execute=True):
        approval = ingest_inbox_thread(spy, thread)

    assert approval is not None and approval.status == "pending"
    assert spy.method_calls == []


def test_a_done_thread_settles_an_approval_the_mirror_still_holds_open(
    axme_emulator, axme_settings, recorder, django_capture_on_commit_callbacks
):
    intent_id = _intent_in_progress(axme_emulator, django_capture_on_commit_callbacks)
    client = django_axme.get_client()
    with django_capture_on_commit_callbacks(execute=True):
        refresh_intent(client, intent_id)
        ingest_inbox_thread(
            client, client.get_inbox_thread(intent_id, owner_agent=APPROVERS)["thread"]
        )
    # Someone else approves in another tool; our observer has not seen anything yet.
    client.approve_inbox_thread(intent_id, {"comment": "elsewhere"}, owner_agent=APPROVERS)
    axme_emulator.transition(intent_id, "IN_PROGRESS")  # the agent goes on
    thread = client.get_inbox_thread(intent_id, owner_agent=APPROVERS)["thread"]
    assert Intent.objects.get(intent_id=intent_id).waiting_reason == "WAITING_FOR_HUMAN"

    with django_capture_on_commit_callbacks(execute=True):
        approval = ingest_inbox_thread(client, thread)

    assert approval is not None and approval.status == "closed"
    assert Intent.objects.get(intent_id=intent_id).status == "IN_PROGRESS"  # caught up
    assert recorder.named("approval_decided") == []  # not decided through django-axme


@pytest.mark.parametrize("mirrored", [True, False], ids=["mirrored", "not-mirrored"])
def test_a_thread_whose_intent_the_gateway_does_not_show_is_logged_and_judged(
    axme_emulator, axme_settings, django_capture_on_commit_callbacks, caplog, mirrored
):
    if mirrored:
        Intent.objects.create(intent_id="gone-1", intent_type="shop.order.v1", status="IN_PROGRESS")
    thread = {
        "thread_id": "gone-1",
        "intent_id": "gone-1",
        "status": "active",
        "human_task": {"title": "Ship it?"},
    }
    with (
        caplog.at_level(logging.WARNING, logger="django_axme.sync"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        approval = ingest_inbox_thread(django_axme.get_client(), thread)
    assert "the gateway does not show its intent gone-1" in caplog.text
    if mirrored:
        assert approval is None  # the mirror (IN_PROGRESS) has the last word
    else:  # nothing else to go by: the thread's own human task
        assert approval is not None
        assert (approval.intent, approval.title, approval.status) == (None, "Ship it?", "pending")


def test_an_approval_thread_of_an_unmirrored_intent_links_to_its_mirrored_intent(
    axme_emulator, axme_settings, recorder, django_capture_on_commit_callbacks
):
    client = django_axme.get_client()
    intent_id = client.create_intent(
        {"intent_type": "shop.order.v1", "to_agent": "agent://demo/warehouse", "payload": {}}
    )["intent_id"]
    axme_emulator.gateway.open_human_task(intent_id, owner_agent=APPROVERS, title="Ship it?")
    thread = client.get_inbox_thread(intent_id, owner_agent=APPROVERS)["thread"]
    assert not Intent.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        approval = ingest_inbox_thread(client, thread)

    intent = Intent.objects.get(intent_id=intent_id)
    assert approval is not None and approval.intent_id == intent.pk
    assert intent.waiting_reason == "WAITING_FOR_HUMAN"
    assert recorder.names()[0] == "intent_created"
    assert "approval_requested" in recorder.names()
