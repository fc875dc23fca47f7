"""The permission matrix: every decision and control endpoint, GET and POST, for anonymous
users, staff without the permission, staff with it, and superusers.

The gateway is a closed port here: what is checked is who gets through, and that nothing is
decided or sent for anyone who should not get through (an allowed POST that reaches the
client fails remotely and still answers with a redirect and a message, never a 500).
"""

from __future__ import annotations

import os
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from django_axme.models import Approval, ApprovalDecision, Intent
from tests.admin.conftest import _user
from tests.admin.test_decisions import closed_port_url

pytestmark = pytest.mark.django_db

DECIDE, CANCEL, CONTROLS, VIEW = "decide", "cancel", "controls", "view"

# name, url name, target, POST data, permission needed, GET answer for allowed users
ENDPOINTS = [
    ("decide", "approval_decide", "approval", {"decision": "approve", "note": "n"}, DECIDE, 405),
    (
        "bulk-approve",
        "approval_changelist",
        None,
        {"action": "approve_selected", "post": "yes", "note": "n"},
        DECIDE,
        200,
    ),
    (
        "bulk-reject",
        "approval_changelist",
        None,
        {"action": "reject_selected", "post": "yes", "note": "n"},
        DECIDE,
        200,
    ),
    ("cancel", "intent_cancel", "intent", {"reason": "not needed"}, CANCEL, 200),
    ("resume", "intent_resume", "intent", {"reason": "go on"}, CONTROLS, 200),
    (
        "controls",
        "intent_controls",
        "intent",
        {"max_retries": "4", "expected_policy_generation": "0"},
        CONTROLS,
        200,
    ),
    ("approval-refresh", "approval_refresh", "approval", {}, VIEW, 405),
    ("inbox-refresh", "approval_refresh_inbox", None, {}, VIEW, 405),
    ("intent-refresh", "intent_refresh", "intent", {}, VIEW, 405),
    ("observe", "intent_observe", "intent", {}, VIEW, 405),
    ("bulk-refresh", "intent_changelist", None, {"action": "refresh_selected"}, VIEW, 200),
]

ROLES = ["anonymous", "staff-nothing", "viewer", "operator", "superuser"]
PERMS_OF_ROLE = {
    "anonymous": set(),
    "staff-nothing": set(),
    "viewer": {VIEW},
    # operator has only the three custom permissions; each also lets them view its model
    "operator": {DECIDE, CANCEL, CONTROLS, VIEW},
    "superuser": {DECIDE, CANCEL, CONTROLS, VIEW},
}


@pytest.fixture
def objects(settings):
    settings.AXME = {
        **settings.AXME,
        "BASE_URL": closed_port_url(),
        "MAX_RETRIES": 0,
        "CONNECT_TIMEOUT_SECONDS": 1.0,
    }
    from django_axme.conf import reset_client

    reset_client()
    broker = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}).get("data_folder_in")
    if broker:
        os.makedirs(broker, exist_ok=True)
    intent = Intent.objects.create(
        intent_id=str(uuid.uuid4()),
        intent_type="purchase.approval.v1",
        status="WAITING",
        waiting_reason="WAITING_FOR_HUMAN",
        owner_agent="agent://tests/approvers",
        policy_generation=0,
    )
    approval = Approval.objects.create(
        thread_id=intent.intent_id,
        intent=intent,
        remote_intent_id=intent.intent_id,
        owner_agent="agent://tests/approvers",
        title="Approve chairs",
    )
    yield {"intent": intent, "approval": approval}
    reset_client()


def login(role: str) -> Client:
    client = Client()
    users = {
        "staff-nothing": lambda: _user("nobody"),
        "viewer": lambda: _user("viewer", perms=("view_approval", "view_intent")),
        "operator": lambda: _user(
            "operator", perms=("decide_approval", "cancel_intent", "change_intent_controls")
        ),
        "superuser": lambda: _user("root", superuser=True),
    }
    if role != "anonymous":
        client.force_login(users[role]())
    return client


def url_for(url_name: str, target: str | None, objects) -> str:
    args = [objects[target].pk] if target else []
    return reverse(f"admin:django_axme_{url_name}", args=args)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "name,url_name,target,data,needed,allowed_get", ENDPOINTS, ids=[e[0] for e in ENDPOINTS]
)
def test_permission_matrix(role, name, url_name, target, data, needed, allowed_get, objects):
    client = login(role)
    url = url_for(url_name, target, objects)
    data = dict(data)
    if "action" in data:
        model = "approval" if url_name.startswith("approval") else "intent"
        data["_selected_action"] = [objects[model].pk]
        data["index"] = "0"
    allowed = needed in PERMS_OF_ROLE[role]
    is_action = "action" in data

    get = client.get(url)
    post = client.post(url, data)

    if role == "anonymous":
        assert get.status_code == post.status_code == 302
        assert "/login/" in get["Location"] and "/login/" in post["Location"]
    elif not allowed:
        if is_action and role != "staff-nothing":
            assert get.status_code == 200  # the changelist itself is viewable
        else:
            assert get.status_code == 403
        assert post.status_code == 403
    else:
        assert get.status_code == allowed_get
        assert post.status_code in (200, 302)  # 200: bulk confirmation page re-shown
    if needed == DECIDE:
        assert ApprovalDecision.objects.exists() == (allowed and role != "anonymous")


def test_nothing_decides_on_get(objects):
    client = login("superuser")
    url = url_for("approval_decide", "approval", objects)
    response = client.get(url + "?decision=approve&note=x")
    assert response.status_code == 405
    assert not ApprovalDecision.objects.exists()
    bulk = client.get(
        reverse("admin:django_axme_approval_changelist")
        + f"?action=approve_selected&_selected_action={objects['approval'].pk}&post=yes"
    )
    assert bulk.status_code in (200, 302)
    assert not ApprovalDecision.objects.exists()


def test_csrf_is_enforced_on_decisions(objects):
    client = Client(enforce_csrf_checks=True)
    client.force_login(_user("root", superuser=True))
    url = url_for("approval_decide", "approval", objects)
    response = client.post(url, {"decision": "approve"})
    assert response.status_code == 403
    assert not ApprovalDecision.objects.exists()
    page = client.get(url_for("approval_change", "approval", objects))
    token = page.context["csrf_token"]
    response = client.post(url, {"decision": "approve", "csrfmiddlewaretoken": str(token)})
    assert response.status_code == 302
    assert ApprovalDecision.objects.count() == 1


def test_viewer_sees_read_only_pages_without_decision_buttons(objects):
    client = login("viewer")
    page = client.get(url_for("approval_change", "approval", objects)).content.decode()
    assert "Approve chairs" in page
    assert 'id="axme-approve"' not in page
    assert "you do not have permission to approve or reject" in page
    assert 'name="_save"' not in page
    intent_page = client.get(url_for("intent_change", "intent", objects)).content.decode()
    assert 'id="axme-cancel"' not in intent_page and 'id="axme-controls"' not in intent_page
    assert 'id="axme-refresh"' in intent_page
    changelist = client.get(reverse("admin:django_axme_approval_changelist")).content.decode()
    assert "approve_selected" not in changelist


def test_operator_sees_the_buttons(objects):
    client = login("operator")
    page = client.get(url_for("approval_change", "approval", objects)).content.decode()
    assert 'id="axme-approve"' in page
    intent_page = client.get(url_for("intent_change", "intent", objects)).content.decode()
    for button in ("axme-cancel", "axme-controls", "axme-resume", "axme-refresh"):
        assert f'id="{button}"' in intent_page


def test_no_add_and_no_delete_unless_allowed(objects, settings):
    client = login("superuser")
    assert client.get(reverse("admin:django_axme_intent_add")).status_code == 403
    delete_url = reverse("admin:django_axme_intent_delete", args=[objects["intent"].pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert Intent.objects.filter(pk=objects["intent"].pk).exists()
    settings.AXME = {**settings.AXME, "ADMIN_ALLOW_DELETE": True}
    assert client.post(delete_url, {"post": "yes"}).status_code == 302
    assert not Intent.objects.filter(pk=objects["intent"].pk).exists()
    assert get_user_model().objects.filter(username="root").exists()
