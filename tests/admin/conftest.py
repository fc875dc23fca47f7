"""Fixtures of the admin tests: users for the permission matrix and real pending approvals.

Pending approvals are made the way production makes them: an intent is created on the
emulator, its ``ApprovalScript`` agent moves it to WAITING_FOR_HUMAN and opens an inbox
thread, and the admin's own "Refresh from AXME" operations mirror intent and thread.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

OWNER = "agent://tests/approvers"
APPROVAL_TYPE = "purchase.approval.v1"
APPROVER_AGENT = "agent://tests/purchasing-bot"

VIEW_PERMS = ("view_approval", "view_intent")
OPERATION_PERMS = ("decide_approval", "cancel_intent", "change_intent_controls")


def _user(username: str, *, staff: bool = True, superuser: bool = False, perms=()) -> Any:
    user = get_user_model().objects.create_user(
        username=username, password="pw", is_staff=staff, is_superuser=superuser
    )
    if perms:
        user.user_permissions.set(
            Permission.objects.filter(content_type__app_label="django_axme", codename__in=perms)
        )
    return user


@pytest.fixture
def viewer(db):
    """Staff who may view the AXME admin but not decide or control anything."""
    return _user("viewer", perms=VIEW_PERMS)


@pytest.fixture
def operator(db):
    """Staff with the three custom permissions (and nothing else)."""
    return _user("operator", perms=OPERATION_PERMS)


@pytest.fixture
def superuser(db):
    return _user("root", superuser=True)


@pytest.fixture
def axme_env(axme_settings, settings):
    """The emulator behind ``settings.AXME``, reading the tests' approver inbox."""
    settings.AXME = {
        **settings.AXME,
        "INBOX_OWNER_AGENTS": [OWNER],
        "DEFAULT_OWNER_AGENT": OWNER,
        "MAX_RETRIES": 0,
        "TIMEOUT_SECONDS": 5.0,
    }
    from django_axme.conf import reset_client

    reset_client()
    return axme_settings


def create_remote_intent(handle, intent_type: str = APPROVAL_TYPE, **payload: Any) -> str:
    """Create an intent on the emulator through the configured client; returns its id."""
    from django_axme import get_client

    answer = get_client().create_intent(
        {
            "intent_type": intent_type,
            "to_agent": APPROVER_AGENT,
            "from_agent": "agent://tests/shop",
            "payload": payload or {"amount": 120, "item": "chairs"},
        },
        correlation_id=str(uuid.uuid4()),
    )
    return answer["intent_id"]


@pytest.fixture
def make_approval(axme_env) -> Callable[..., Any]:
    """Build a pending approval through the emulator; options go to ``ApprovalScript``."""
    from django_axme.emulator.agents import ApprovalScript

    counter = iter(range(1, 10_000))

    def make(title: str = "Approve 12 chairs", **script_options: Any) -> Any:
        from django_axme.admin import operations
        from django_axme.models import Approval, Intent

        intent_type = f"purchase.approval{next(counter)}.v1"
        axme_env.attach_agent(intent_type, ApprovalScript(OWNER, title, **script_options))
        intent_id = create_remote_intent(axme_env, intent_type)
        axme_env.wait_for_status(intent_id, ["WAITING"], timeout=10)
        stub = Intent(intent_id=intent_id)
        result = operations.refresh_intent(stub)
        assert result.ok, result.message
        result = operations.refresh_inbox()
        assert result.ok, result.message
        return Approval.objects.select_related("intent").get(thread_id=intent_id)

    return make
