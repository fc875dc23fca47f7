"""Deciding approvals from the admin, against the live emulator over HTTP."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from django_axme.models import Approval, ApprovalDecision, ApprovalStatus, DecisionState

pytestmark = pytest.mark.django_db(transaction=True)


def decide_url(approval) -> str:
    return reverse("admin:django_axme_approval_decide", args=[approval.pk])


def change_url(approval) -> str:
    return reverse("admin:django_axme_approval_change", args=[approval.pk])


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_change_page_offers_approve_and_reject_with_a_note(client, operator, make_approval):
    approval = make_approval()
    client.force_login(operator)
    page = client.get(change_url(approval))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="axme-approve"' in html and 'id="axme-reject"' in html
    assert 'name="note"' in html
    assert 'name="outcome"' not in html  # this task lists no outcomes


def test_approve_records_sends_and_is_confirmed_by_the_gateway(client, operator, make_approval):
    approval = make_approval()
    client.force_login(operator)
    response = client.post(decide_url(approval), {"decision": "approve", "note": "ok, go"})
    assert response.status_code == 302
    messages = texts(response)
    assert any(
        f"Approved “{approval}” and sent it to AXME." in t or "AXME confirmed it" in t
        for t in messages
    ), messages

    decision = ApprovalDecision.objects.get(approval=approval)
    assert decision.user == operator
    assert decision.note == "ok, go"
    assert decision.idempotency_key
    assert decision.state in (DecisionState.SENT, DecisionState.CONFIRMED)
    assert decision.remote_response  # the gateway's answer is kept

    page = client.get(change_url(approval))
    assert b"Approved by operator at " in page.content
    assert b"has not confirmed it yet" in page.content or decision.state == "confirmed"

    # The ApprovalScript completes the intent once approved; refreshing confirms the decision.
    refresh = client.post(reverse("admin:django_axme_approval_refresh", args=[approval.pk]))
    assert refresh.status_code == 302
    approval.refresh_from_db()
    decision.refresh_from_db()
    assert approval.status == ApprovalStatus.APPROVED
    assert decision.state == DecisionState.CONFIRMED


def test_reject_with_required_comment_needs_the_note(client, operator, make_approval):
    approval = make_approval(required_comment=True)
    client.force_login(operator)
    page = client.post(decide_url(approval), {"decision": "reject", "note": "  "})
    assert page.status_code == 200
    assert "This task requires a comment." in page.content.decode()
    assert not ApprovalDecision.objects.filter(approval=approval).exists()

    response = client.post(decide_url(approval), {"decision": "reject", "note": "too expensive"})
    assert response.status_code == 302
    decision = ApprovalDecision.objects.get(approval=approval)
    assert decision.decision == "reject"
    assert decision.note == "too expensive"


def test_allowed_outcomes_are_offered_and_required(client, operator, make_approval):
    approval = make_approval(allowed_outcomes=["ship", "hold"])
    client.force_login(operator)
    html = client.get(change_url(approval)).content.decode()
    # Each outcome is a button.
    assert 'name="outcome" value="ship"' in html and 'name="outcome" value="hold"' in html
    assert 'id="axme-approve"' not in html
    page = client.post(decide_url(approval), {"decision": "approve", "note": ""})
    assert page.status_code == 200
    assert not ApprovalDecision.objects.exists()
    response = client.post(decide_url(approval), {"decision": "approve", "outcome": "ship"})
    assert response.status_code == 302
    assert ApprovalDecision.objects.get(approval=approval).outcome == "ship"


def test_double_submit_ends_in_one_decision_and_a_clear_message(client, operator, make_approval):
    approval = make_approval()
    client.force_login(operator)
    first = client.post(decide_url(approval), {"decision": "approve", "note": "first"})
    second = client.post(decide_url(approval), {"decision": "approve", "note": "second"})
    assert first.status_code == second.status_code == 302
    assert ApprovalDecision.objects.filter(approval=approval).count() == 1
    assert ApprovalDecision.objects.get().note == "first"
    message = " ".join(texts(second))
    assert "already approved by" in message or "no longer pending" in message


def test_two_admins_deciding_differently_end_in_one_decision(
    client, operator, superuser, make_approval
):
    from django.test import Client

    approval = make_approval()
    other = Client()
    other.force_login(superuser)
    client.force_login(operator)
    client.post(decide_url(approval), {"decision": "approve"})
    response = other.post(decide_url(approval), {"decision": "reject"})
    assert response.status_code == 302
    assert ApprovalDecision.objects.filter(approval=approval).count() == 1
    assert ApprovalDecision.objects.get().decision == "approve"


def test_thread_decided_elsewhere_409_supersedes_with_a_message(
    client, operator, make_approval, axme_env
):
    approval = make_approval()
    # Someone approves the thread directly on AXME (another tool, another admin site).
    from django_axme.client import AxmeClient, AxmeClientConfig

    elsewhere = AxmeClient(AxmeClientConfig(base_url=axme_env.url, api_key=axme_env.api_key))
    elsewhere.reject_inbox_thread(
        approval.thread_id, {"comment": "no"}, owner_agent=approval.owner_agent
    )
    axme_env.wait_for_status(approval.thread_id, ["FAILED", "CANCELED"], timeout=10)

    client.force_login(operator)
    response = client.post(decide_url(approval), {"decision": "approve", "note": "yes"})
    assert response.status_code == 302
    decision = ApprovalDecision.objects.get(approval=approval)
    assert decision.state == DecisionState.SUPERSEDED
    approval.refresh_from_db()
    assert approval.status == ApprovalStatus.CLOSED
    assert any("decided elsewhere" in t for t in texts(response))


def test_gateway_down_shows_an_error_and_the_decision_can_be_retried(
    client, operator, make_approval, settings
):
    approval = make_approval()
    good = dict(settings.AXME)
    settings.AXME = {**good, "BASE_URL": closed_port_url(), "CONNECT_TIMEOUT_SECONDS": 1.0}
    client.force_login(operator)
    response = client.post(decide_url(approval), {"decision": "approve", "note": "try 1"})
    assert response.status_code == 302
    assert any("Could not send the decision" in t for t in texts(response))
    failed = ApprovalDecision.objects.get(approval=approval)
    assert failed.state == DecisionState.FAILED and failed.error
    approval.refresh_from_db()
    assert approval.status == ApprovalStatus.PENDING

    page = client.get(change_url(approval))
    assert b"The last attempt failed" in page.content
    assert b'id="axme-approve"' in page.content

    settings.AXME = good  # the gateway is back: retry from the same page
    response = client.post(decide_url(approval), {"decision": "approve", "note": "try 2"})
    assert response.status_code == 302
    states = dict(ApprovalDecision.objects.values_list("note", "state"))
    assert states["try 1"] == DecisionState.FAILED
    assert states["try 2"] in (DecisionState.SENT, DecisionState.CONFIRMED)


def test_gateway_500_fault_is_a_failed_decision_not_a_500(
    client, operator, make_approval, axme_env
):
    approval = make_approval()
    axme_env.faults.error_sequence("POST", "/v1/inbox/*/approve", [503, 503, 503])
    client.force_login(operator)
    response = client.post(decide_url(approval), {"decision": "approve"})
    assert response.status_code == 302
    assert ApprovalDecision.objects.get(approval=approval).state == DecisionState.FAILED


def test_bulk_approve_shows_what_will_be_decided_then_decides(client, operator, make_approval):
    first = make_approval("Approve desks")
    second = make_approval("Approve lamps", required_comment=True)
    with_outcomes = make_approval("Pick a carrier", allowed_outcomes=["ups", "dhl"])
    client.force_login(operator)
    changelist = reverse("admin:django_axme_approval_changelist")
    selected = [first.pk, second.pk, with_outcomes.pk]
    confirm = client.post(
        changelist, {"action": "approve_selected", "_selected_action": selected, "index": 0}
    )
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert "Approve desks" in html and "Approve lamps" in html
    assert "decide it on its own page" in html  # the outcome task is listed as skipped
    assert not ApprovalDecision.objects.exists()  # nothing decided by showing the page

    missing_note = client.post(
        changelist,
        {"action": "approve_selected", "_selected_action": selected, "post": "yes", "note": ""},
    )
    assert missing_note.status_code == 200
    assert not ApprovalDecision.objects.exists()

    done = client.post(
        changelist,
        {"action": "approve_selected", "_selected_action": selected, "post": "yes", "note": "ok"},
    )
    assert done.status_code == 302
    decided = set(ApprovalDecision.objects.values_list("approval_id", flat=True))
    assert decided == {first.pk, second.pk}
    assert any("2 decisions sent" in t for t in texts(done))


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (the port was just released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_queue_lists_pending_first_with_counts(client, viewer, make_approval):
    first = make_approval("Older request")
    second = make_approval("Newer request")
    Approval.objects.filter(pk=first.pk).update(status=ApprovalStatus.APPROVED)
    client.force_login(viewer)
    queue = reverse("admin:django_axme_approval_changelist")
    html = client.get(queue).content.decode()
    assert "1 pending" in html
    assert "Newer request" in html and "Older request" not in html  # Pending by default
    html = client.get(queue + "?status__exact=all").content.decode()
    assert html.index("Newer request") < html.index("Older request")
    assert second.title == "Newer request"
