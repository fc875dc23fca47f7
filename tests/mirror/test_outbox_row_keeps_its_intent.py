"""An outbox row whose send is in flight is the one row that mirrors its remote intent.

A worker killed between the create call and the mirror commit leaves the row ``pending``
without a remote id, while the intent goes on at the gateway; another path (an approval
thread in the inbox, ``axme_sync <id>``) may read it before the send is retried. Against the
live emulator over HTTP.
"""

from __future__ import annotations

import pytest
from purchases.models import PurchaseRequest

import django_axme
from django_axme.models import Approval, Intent, IntentEvent, SendState
from django_axme.refresh import ingest_inbox_thread, refresh_intent
from django_axme.sync import ingest_intent
from django_axme.sync.outbox import create_outbox_row, mark_sent, outbox_request

pytestmark = pytest.mark.django_db

APPROVERS = "agent://demo/approvers"


def _sent_but_not_mirrored(client) -> tuple[Intent, dict]:
    """An outbox row and its remote intent, created with the row's key and correlation id,
    as if the process died right after the create call."""
    row = create_outbox_row(
        {"intent_type": "shop.order.v1", "to_agent": "agent://demo/warehouse", "payload": {}}
    )
    request = outbox_request(row)
    answer = client.create_intent(
        request, correlation_id=request["correlation_id"], idempotency_key=row.idempotency_key
    )
    return row, answer


def test_an_approval_thread_read_first_attaches_to_the_outbox_row(
    axme_emulator, axme_settings, recorder, django_capture_on_commit_callbacks
):
    client = django_axme.get_client()
    row, answer = _sent_but_not_mirrored(client)
    intent_id = answer["intent_id"]
    axme_emulator.gateway.open_human_task(intent_id, owner_agent=APPROVERS, title="Ship it?")
    thread = client.get_inbox_thread(intent_id, owner_agent=APPROVERS)["thread"]

    with django_capture_on_commit_callbacks(execute=True):
        approval = ingest_inbox_thread(client, thread)
        # ... then the retried send lands.
        mark_sent(Intent.objects.get(pk=row.pk), outbox_request(row), answer)

    assert Intent.objects.count() == 1
    row.refresh_from_db()
    assert (row.intent_id, row.send_state) == (intent_id, SendState.SENT)
    assert row.waiting_reason == "WAITING_FOR_HUMAN"
    assert approval is not None and approval.intent_id == row.pk
    assert [r.kwargs["intent"].pk for r in recorder.named("intent_created")] == [row.pk]


def test_a_row_that_mirrored_the_intent_first_is_merged_into_the_outbox_row(
    axme_emulator, axme_settings, recorder, django_capture_on_commit_callbacks
):
    client = django_axme.get_client()
    row, answer = _sent_but_not_mirrored(client)
    intent_id = answer["intent_id"]
    axme_emulator.transition(intent_id, "IN_PROGRESS")
    # A snapshot without the correlation id cannot be matched to the outbox row: a second
    # row mirrors the intent, with its events.
    with django_capture_on_commit_callbacks(execute=True):
        ingest_intent({"intent_id": intent_id, "intent_type": "shop.order.v1"})
        duplicate = refresh_intent(client, intent_id).intent
    assert duplicate.pk != row.pk and duplicate.status == "IN_PROGRESS"
    events = set(IntentEvent.objects.filter(intent=duplicate).values_list("pk", flat=True))
    # A project model that linked itself to the duplicate (say, from intent_created).
    linked = PurchaseRequest.objects.create(
        item="chair", amount="90", requester="eve", intent=duplicate
    )

    with django_capture_on_commit_callbacks(execute=True):
        mark_sent(Intent.objects.get(pk=row.pk), outbox_request(row), answer)

    assert list(Intent.objects.values_list("pk", flat=True)) == [row.pk]
    row.refresh_from_db()
    assert (row.intent_id, row.send_state, row.status) == (
        intent_id,
        SendState.SENT,
        "IN_PROGRESS",
    )
    assert set(IntentEvent.objects.filter(intent=row).values_list("pk", flat=True)) == events
    assert row.last_seq == max(IntentEvent.objects.filter(intent=row).values_list("seq", flat=True))
    assert recorder.named("intent_created")[-1].kwargs["intent"].pk == row.pk
    assert not Approval.objects.exists()
    linked.refresh_from_db()  # moved, not deleted with the duplicate
    assert linked.intent_id == row.pk


def test_a_duplicate_that_cannot_be_merged_is_left_alone_and_logged(
    axme_emulator, axme_settings, django_capture_on_commit_callbacks, caplog
):
    client = django_axme.get_client()
    row, answer = _sent_but_not_mirrored(client)
    intent_id = answer["intent_id"]
    with django_capture_on_commit_callbacks(execute=True):
        duplicate = ingest_intent({"intent_id": intent_id, "intent_type": "shop.order.v1"})
    # Both rows are held by a one-to-one field: the outbox row's cannot take the second.
    mine = PurchaseRequest.objects.create(item="desk", amount="450", requester="bo", intent=row)
    theirs = PurchaseRequest.objects.create(
        item="chair", amount="90", requester="eve", intent=duplicate
    )

    with django_capture_on_commit_callbacks(execute=True):
        mark_sent(Intent.objects.get(pk=row.pk), outbox_request(row), answer)

    assert set(Intent.objects.values_list("pk", flat=True)) == {row.pk, duplicate.pk}
    assert Intent.objects.get(pk=duplicate.pk).intent_id == intent_id
    assert Intent.objects.get(pk=row.pk).intent_id is None
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.intent_id, theirs.intent_id) == (row.pk, duplicate.pk)
    assert "cannot take it over" in caplog.text


def test_an_inbound_row_merged_into_the_outbox_row_stays_inbound_with_its_job(
    axme_emulator, axme_settings, django_capture_on_commit_callbacks
):
    """A project that sends an intent to an address it serves itself: its listener may mirror
    the intent (direction ``inbound``, with its agent job) before the outbox row got its id.
    The merged row keeps the direction and the job."""
    from django_axme.models import AgentJob

    client = django_axme.get_client()
    row, answer = _sent_but_not_mirrored(client)
    intent_id = answer["intent_id"]
    with django_capture_on_commit_callbacks(execute=True):
        received = ingest_intent({"intent_id": intent_id, "intent_type": "shop.order.v1"})
    Intent.objects.filter(pk=received.pk).update(direction="inbound")
    job = AgentJob.objects.create(intent=received, address="agent://demo/warehouse")

    with django_capture_on_commit_callbacks(execute=True):
        mark_sent(Intent.objects.get(pk=row.pk), outbox_request(row), answer)

    assert list(Intent.objects.values_list("pk", flat=True)) == [row.pk]
    row.refresh_from_db()
    assert (row.intent_id, row.direction) == (intent_id, "inbound")
    job.refresh_from_db()
    assert job.intent_id == row.pk
