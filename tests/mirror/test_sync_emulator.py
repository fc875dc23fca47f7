"""End to end over real HTTP: the configured client talks to the live emulator, ``axme_sync``
brings what happened into the mirror through the one writer."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

import django_axme
from django_axme.models import Approval, Intent
from django_axme.sync import decision_sent, record_decision

pytestmark = pytest.mark.django_db

APPROVERS = "agent://demo/approvers"


def body(n=1):
    return {
        "intent_type": "shop.order.v1",
        "to_agent": "agent://demo/warehouse",
        "from_agent": "agent://demo/shop",
        "payload": {"order": n},
    }


def sync(capture, *args):
    out, err = StringIO(), StringIO()
    with capture(execute=True):
        call_command("axme_sync", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_created_intent_shows_up_with_its_full_history(
    axme_emulator, axme_settings, recorder, django_capture_on_commit_callbacks
):
    client = django_axme.get_client()
    intent_id = client.create_intent(body(), idempotency_key="e2e-order-1")["intent_id"]
    axme_emulator.transition(intent_id, "IN_PROGRESS")
    axme_emulator.transition(intent_id, "WAITING", waiting_reason="WAITING_FOR_TOOL")
    axme_emulator.transition(intent_id, "IN_PROGRESS")
    axme_emulator.resolve(intent_id, "COMPLETED", result={"shipped": True})
    remote = axme_emulator.events(intent_id)
    assert len(remote) >= 5

    out, _ = sync(django_capture_on_commit_callbacks, intent_id)

    row = Intent.objects.get(intent_id=intent_id)
    assert list(row.events.values_list("seq", "event_type", "status")) == [
        (e["seq"], e["event_type"], e["status"]) for e in remote
    ]
    assert (row.status, row.last_seq, row.result) == (
        "COMPLETED",
        remote[-1]["seq"],
        {"shipped": True},
    )
    assert (row.intent_type, row.to_agent, row.payload) == (
        "shop.order.v1",
        "agent://demo/warehouse",
        {"order": 1},
    )
    assert "new event(s)" in out and "0 failed" in out
    assert len(recorder.named("intent_created")) == 1
    assert len(recorder.named("intent_completed")) == 1
    assert [c.kwargs["status"] for c in recorder.named("intent_status_changed")] == [
        s for s in _status_changes(remote)
    ]

    recorder.clear()
    sync(django_capture_on_commit_callbacks, intent_id)  # nothing new: nothing signalled
    assert recorder.calls == []


def _status_changes(events):
    current, out = "CREATED", []
    for e in events:
        if e["status"] != current:
            out.append(e["status"])
            current = e["status"]
    return out


def test_sync_without_ids_refreshes_open_intents_with_a_progress_bar(
    axme_emulator, axme_settings, django_capture_on_commit_callbacks
):
    client = django_axme.get_client()
    ids = [client.create_intent(body(n))["intent_id"] for n in range(12)]
    for intent_id in ids:  # mirror them (the outbox/observer would, in an app)
        sync(django_capture_on_commit_callbacks, intent_id)
    for intent_id in ids[:6]:
        axme_emulator.resolve(intent_id, "CANCELED", reason="test")
    _, err = sync(django_capture_on_commit_callbacks)
    assert "axme_sync" in err and "12/12" in err  # tqdm progress bar on stderr
    statuses = dict(Intent.objects.filter(intent_id__in=ids).values_list("intent_id", "status"))
    assert [statuses[i] for i in ids[:6]] == ["CANCELED"] * 6
    assert all(statuses[i] != "CANCELED" for i in ids[6:])
    _, err = sync(django_capture_on_commit_callbacks, "--no-progress")
    assert "axme_sync" not in err


def test_unknown_intent_is_reported_and_fails_the_command(axme_emulator, axme_settings):
    lost = "00000000-0000-4000-8000-000000000000"
    Intent.objects.create(intent_id=lost, intent_type="shop.order.v1")
    err = StringIO()
    with pytest.raises(CommandError, match="1 intent"):
        call_command("axme_sync", lost, stdout=StringIO(), stderr=err)
    assert "not found" in err.getvalue()
    row = Intent.objects.get(intent_id=lost)
    assert row.last_error["status_code"] == 404


def test_inbox_threads_become_approvals_and_a_decision_is_confirmed(
    axme_emulator, axme_settings, recorder, django_capture_on_commit_callbacks, settings
):
    client = django_axme.get_client()
    intent_id = client.create_intent(body())["intent_id"]
    axme_emulator.transition(intent_id, "IN_PROGRESS")
    axme_emulator.gateway.open_human_task(
        intent_id,
        owner_agent=APPROVERS,
        title="Ship order 1?",
        allowed_outcomes=["approved", "rejected"],
    )
    sync(django_capture_on_commit_callbacks, intent_id)
    sync(django_capture_on_commit_callbacks, "--inbox-only", "--owner-agent", APPROVERS)
    approval = Approval.objects.get(thread_id=intent_id)
    assert (approval.title, approval.status, approval.intent.intent_id) == (
        "Ship order 1?",
        "pending",
        intent_id,
    )
    assert len(recorder.named("approval_requested")) == 1

    decision = record_decision(approval, user=None, decision="approve", note="go")
    answer = client.approve_inbox_thread(
        intent_id,
        {"comment": "go"},
        owner_agent=APPROVERS,
        idempotency_key=decision.idempotency_key,
    )
    with django_capture_on_commit_callbacks(execute=True):
        decision_sent(decision, answer)
    sync(django_capture_on_commit_callbacks, "--inbox-only", "--owner-agent", APPROVERS)
    approval.refresh_from_db()
    assert approval.status == "approved"
    assert len(recorder.named("approval_decided")) == 1


def test_axme_sync_first_delivers_signals_left_pending(
    axme_emulator, axme_settings, recorder, django_capture_on_commit_callbacks, monkeypatch
):
    from datetime import timedelta

    from django.utils import timezone

    from django_axme.models import PendingSignal
    from django_axme.sync import dispatch, ingest_intent

    monkeypatch.setattr(dispatch, "_deliver_after_commit", lambda keys, cache: None)
    ingest_intent({"intent_id": "left-pending-1", "intent_type": "t.x.v1", "status": "COMPLETED"})
    monkeypatch.undo()
    PendingSignal.objects.update(created_at=timezone.now() - timedelta(minutes=1))
    out, _ = sync(django_capture_on_commit_callbacks, "--inbox-only", "--owner-agent", APPROVERS)
    assert "Delivered 1 signal(s) left pending" in out
    assert recorder.names() == ["intent_created"]
    assert not PendingSignal.objects.exists()
