"""Assignment: a task's assignees mapped to Django users and groups through the adapter;
"Assigned to me" in the queue and a count of what waits for the current user."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from django_axme.adapter import DefaultAxmeAdapter
from django_axme.models import Approval, Intent
from tests.admin.conftest import _user

pytestmark = pytest.mark.django_db


def approval(title: str, assignees: list[str] | None, *, on_thread: bool = False) -> Approval:
    task = {"title": title, **({"assignees": assignees} if assignees else {})}
    intent = None
    if not on_thread:
        intent = Intent.objects.create(
            intent_id=str(uuid.uuid4()), intent_type="x.y.v1", status="WAITING", human_task=task
        )
    return Approval.objects.create(
        thread_id=str(uuid.uuid4()),
        intent=intent,
        title=title,
        raw={"human_task": task} if on_thread else {},
    )


class TeamAdapter(DefaultAxmeAdapter):
    def assignee_identities(self, user):
        return [f"agent://acme/people/{user.get_username()}"]


def test_assigned_to_me_by_name_email_and_group(client):
    ann = _user("ann", perms=("view_approval",))
    ann.email = "ann@example.com"
    ann.save()
    ann.groups.add(Group.objects.create(name="finance"))
    by_name = approval("By name", ["ANN"])
    by_mail = approval("By mail", ["ann@example.com"], on_thread=True)
    by_group = approval("By group", ["group:finance"])
    approval("Someone else", ["annabel", "group:finance-eu"])
    approval("Nobody", None)
    client.force_login(ann)
    queue = reverse("admin:django_axme_approval_changelist")
    page = client.get(queue + "?assigned=me")
    assert {a.pk for a in page.context["cl"].result_list} == {by_name.pk, by_mail.pk, by_group.pk}
    html = client.get(queue).content.decode()
    assert "3 waiting for you" in html and "5 pending" in html


def test_the_adapter_maps_assignees(client, settings):
    settings.AXME = {**settings.AXME, "ADAPTER": f"{__name__}.TeamAdapter"}
    bob = _user("bob", perms=("view_approval",))
    mine = approval("Mine", ["agent://acme/people/bob"])
    approval("By name only", ["bob"])
    client.force_login(bob)
    page = client.get(reverse("admin:django_axme_approval_changelist") + "?assigned=me")
    assert [a.pk for a in page.context["cl"].result_list] == [mine.pk]


def test_the_app_index_says_how_many_wait_for_me(client):
    ann = _user("ann", perms=("view_approval",))
    approval("Mine", ["ann"])
    approval("Mine too", ["user:ann"])
    done = approval("Decided", ["ann"])
    Approval.objects.filter(pk=done.pk).update(status="approved")
    client.force_login(ann)
    html = client.get(reverse("admin:app_list", args=["django_axme"])).content.decode()
    assert "2 approvals wait for you" in html and "?assigned=me" in html
    client.force_login(_user("bob", perms=("view_approval",)))
    html = client.get(reverse("admin:app_list", args=["django_axme"])).content.decode()
    assert 'id="axme-waiting-for-me"' not in html
