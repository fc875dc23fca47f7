"""Every kind of human task: a task's form_schema becomes a Django form whose data is sent
as the task result (resume with task_result), outcomes are buttons, a required comment is
enforced. Against the live emulator over HTTP."""

from __future__ import annotations

import pytest
from django.urls import reverse

from django_axme.models import ApprovalDecision
from tests.admin.test_request_panel import send_from_this_project

pytestmark = pytest.mark.django_db(transaction=True)

SCHEMA = {
    "type": "object",
    "properties": {
        "quantity": {"type": "integer", "minimum": 1, "maximum": 10, "title": "How many"},
        "delivery_date": {"type": "string", "format": "date"},
        "priority": {"type": "string", "enum": ["low", "high"]},
        "gift": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "budget": {"type": "number", "description": "In EUR"},
    },
    "required": ["quantity", "delivery_date"],
}


def form_task(axme_env, *, intent_type="office.supplies.v1", **task):
    from django_axme.emulator.agents import ApprovalScript
    from django_axme.models import Approval
    from tests.admin.conftest import OWNER

    axme_env.attach_agent(intent_type, ApprovalScript(OWNER, "Order supplies"))
    human_task = {"title": "Order supplies", "task_type": "provide_data", **task}
    intent = send_from_this_project(
        axme_env, intent_type, {"item": "paper"}, user=None, human_task=human_task
    )
    return Approval.objects.get(intent=intent)


def test_a_form_task_is_a_validated_form_sent_as_the_task_result(client, operator, axme_env):
    approval = form_task(axme_env, form_schema=SCHEMA, required_comment=True)
    client.force_login(operator)
    change = reverse("admin:django_axme_approval_change", args=[approval.pk])
    decide = reverse("admin:django_axme_approval_decide", args=[approval.pk])
    html = client.get(change).content.decode()
    assert "How many" in html and "Delivery date" in html and "In EUR" in html
    assert 'id="axme-submit"' in html and 'name="data__quantity"' in html

    # Invalid: quantity out of range, no date, no comment. Nothing is recorded or sent.
    page = client.post(decide, {"decision": "approve", "data__quantity": "11", "note": ""})
    assert page.status_code == 200
    errors = page.content.decode()
    assert "less than or equal to 10" in errors and "This task requires a comment." in errors
    assert not ApprovalDecision.objects.exists()

    response = client.post(
        decide,
        {
            "decision": "approve",
            "data__quantity": "3",
            "data__delivery_date": "2026-12-24",
            "data__priority": "high",
            "data__tags": "urgent\nfragile",
            "data__budget": "99.5",
            "note": "Order before the holidays.",
        },
    )
    assert response.status_code == 302
    decision = ApprovalDecision.objects.get(approval=approval)
    expected = {
        "comment": "Order before the holidays.",
        "data": {
            "quantity": 3,
            "delivery_date": "2026-12-24",
            "priority": "high",
            "gift": False,
            "tags": ["urgent", "fragile"],
            "budget": 99.5,
        },
    }
    assert decision.task_result == expected
    assert decision.state in ("sent", "confirmed")
    # The gateway got it through resume: the intent's event carries the task result.
    sent = [
        e["details"]["task_result"]
        for e in axme_env.events(approval.remote_intent_id)
        if "task_result" in (e.get("details") or {})
    ]
    assert sent == [expected]


def test_outcomes_are_buttons_and_the_outcome_decides(client, operator, axme_env):
    approval = form_task(
        axme_env,
        intent_type="office.review.v1",
        allowed_outcomes=["accept", "decline"],
        form_schema={"type": "object", "properties": {"score": {"type": "integer"}}},
    )
    client.force_login(operator)
    change = reverse("admin:django_axme_approval_change", args=[approval.pk])
    html = client.get(change).content.decode()
    assert 'name="outcome" value="accept"' in html and 'name="outcome" value="decline"' in html
    decide = reverse("admin:django_axme_approval_decide", args=[approval.pk])
    assert client.post(decide, {"outcome": "decline", "data__score": "2"}).status_code == 302
    decision = ApprovalDecision.objects.get(approval=approval)
    assert (decision.decision, decision.outcome) == ("reject", "decline")
    assert decision.task_result == {"outcome": "decline", "data": {"score": 2}}


def test_schema_fields_are_bounded_and_typed():
    from django_axme.admin.task_form import MAX_FIELDS, schema_fields

    many = {"type": "object", "properties": {f"f{i}": {"type": "string"} for i in range(99)}}
    assert len(schema_fields(many)) == MAX_FIELDS
    assert schema_fields({"type": "array"}) == [] and schema_fields("nonsense") == []
    odd = schema_fields({"properties": {"x": {"type": ["string", "null"], "maxLength": -5}}})
    assert odd[0].kind == "string"
    weird = schema_fields({"properties": {"blob": {"type": "object"}, "n": "not a spec"}})
    assert [f.kind for f in weird] == ["json", "json"]
    names = schema_fields({"properties": {"a b": {}, "ok": {}}, "required": ["ok"]})
    assert [f.name for f in names] == ["data__ok", "data_1"]  # required first; odd keys


def test_bulk_decisions_skip_form_tasks(client, operator, axme_env):
    approval = form_task(axme_env, form_schema=SCHEMA)
    client.force_login(operator)
    changelist = reverse("admin:django_axme_approval_changelist")
    page = client.post(
        changelist, {"action": "approve_selected", "_selected_action": [approval.pk]}
    )
    assert "asks for a form: answer it on its own page" in page.content.decode()
    client.post(
        changelist,
        {"action": "approve_selected", "_selected_action": [approval.pk], "post": "yes"},
    )
    assert not ApprovalDecision.objects.exists()
