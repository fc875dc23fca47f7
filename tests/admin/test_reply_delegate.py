"""Reply / ask for clarification and delegate from the approval page: each behind its own
permission, sent to the emulator over HTTP and shown on the page from the mirrored thread."""

from __future__ import annotations

import pytest
from django.urls import reverse

from django_axme.models import Approval, ApprovalDecision
from tests.admin.conftest import _user

pytestmark = pytest.mark.django_db(transaction=True)


def urls(approval):
    def url(name):
        return reverse(f"admin:django_axme_approval_{name}", args=[approval.pk])

    return url("change"), url("reply"), url("delegate")


def test_reply_and_delegate_need_their_permissions(client, make_approval):
    approval = make_approval()
    change, reply, delegate = urls(approval)
    client.force_login(_user("decider", perms=("decide_approval",)))
    html = client.get(change).content.decode()
    assert 'id="axme-reply-form"' not in html and 'id="axme-delegate-form"' not in html
    assert client.post(reply, {"message": "why?"}).status_code == 403
    assert client.post(delegate, {"delegate_to": "agent://x/y/z"}).status_code == 403
    client.force_login(_user("talker", perms=("reply_approval", "delegate_approval")))
    assert client.get(reply).status_code == 405


def test_ask_for_clarification_then_delegate(client, axme_env, make_approval):
    approval = make_approval()
    change, reply, delegate = urls(approval)
    client.force_login(_user("talker", perms=("reply_approval", "delegate_approval")))
    html = client.get(change).content.decode()
    assert 'id="axme-reply-form"' in html and 'id="axme-delegate-form"' in html

    assert client.post(reply, {"message": "  "}).status_code == 200  # refused, shown again
    response = client.post(reply, {"message": "Which supplier is this from?"}, follow=True)
    page = response.content.decode()
    assert "Your message was posted on the thread." in page
    thread = page.split('id="axme-thread-list"')[1].split("</ol>")[0]
    assert "Which supplier is this from?" in thread and "message.sent" in thread

    response = client.post(
        delegate, {"delegate_to": "agent://tests/finance-lead", "note": "Yours"}, follow=True
    )
    page = response.content.decode()
    assert "Delegated to agent://tests/finance-lead." in page
    thread = page.split('id="axme-thread-list"')[1].split("</ol>")[0]
    assert "agent://tests/finance-lead: Yours" in thread
    # The gateway has both on the thread; nothing was decided.
    remote = axme_env.client().get_inbox_thread(
        approval.thread_id, owner_agent=approval.owner_agent
    )
    kinds = [e["event_type"] for e in remote["thread"]["timeline"]]
    assert "message.sent" in kinds and "thread.delegated" in kinds
    assert not ApprovalDecision.objects.exists()
    assert Approval.objects.get(pk=approval.pk).status == "pending"
    # Both are on the intent's timeline too, between its events.
    client.force_login(_user("auditor", perms=("view_intent",)))
    intent_page = reverse("admin:django_axme_intent_change", args=[approval.intent.pk])
    timeline = client.get(intent_page).content.decode().split('id="axme-timeline"')[1]
    thread_items = timeline.split('data-kind="thread"')[1:]
    assert len(thread_items) == 2
    assert "Which supplier is this from?" in thread_items[0]
    assert "agent://tests/finance-lead: Yours" in thread_items[1]
