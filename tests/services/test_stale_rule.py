"""One stale-generation rule: ``AxmeStalePolicyError`` (409 naming
``stale_policy_generation``, its ``current_policy_generation``) or ``applied: false`` with
that reason. Any other 409 is a refusal.

Drift this pins (issue 13): the tasks matched ``"stale" in str(exc)`` and retried any 409
whose message said "stale"; the admin treated every 409 as stale and read the current
generation only from the top of the body.
"""

from __future__ import annotations

import pytest

from django_axme import tasks
from django_axme.admin import operations
from django_axme.models import Intent
from django_axme.services import controls, results
from tests.services.fakes import FakeClient, http_error

pytestmark = pytest.mark.django_db

STALE_BODY = {"error": {"code": "stale_policy_generation", "policy_generation": 7}}
OTHER_409 = {"error": {"code": "intent_terminal", "message": "stale write: intent is closed"}}


class _User:
    def get_username(self) -> str:
        return "ann"


def _intent() -> Intent:
    return Intent.objects.create(intent_id="int_stale", intent_type="t.v1", policy_generation=3)


def test_compare_and_set_tells_stale_from_refused() -> None:
    stale = controls.compare_and_set(
        FakeClient(update_intent_controls=http_error(409, STALE_BODY)),
        "int_x",
        "update_intent_controls",
        {"controls_patch": {}},
        expected_generation=3,
    )
    assert (stale.status, stale.current_generation) == (results.STALE, 7)
    refused = controls.compare_and_set(
        FakeClient(update_intent_controls=http_error(409, OTHER_409)),
        "int_x",
        "update_intent_controls",
        {"controls_patch": {}},
        expected_generation=3,
    )
    assert refused.status == results.REFUSED
    answered = controls.compare_and_set(
        FakeClient(
            update_intent_policy={
                "applied": False,
                "reason": "stale_policy_generation",
                "policy_generation": 9,
            }
        ),
        "int_x",
        "update_intent_policy",
        {"envelope_patch": {}},
        expected_generation=3,
    )
    assert (answered.status, answered.current_generation) == (results.STALE, 9)


def test_admin_explains_a_stale_generation_with_the_gateways_current_one(monkeypatch) -> None:
    intent = _intent()
    fake = FakeClient(
        update_intent_controls=http_error(409, STALE_BODY),
        get_intent=http_error(404),
    )
    monkeypatch.setattr("django_axme.get_client", lambda: fake)
    result = operations.update_controls(
        intent,
        controls_patch={"remind_after_seconds": 60},
        envelope_patch={},
        expected_generation=3,
        reason="",
        user=_User(),
    )
    assert result.data.get("stale") is True
    assert "AXME is now at 7" in result.message


def test_admin_does_not_call_another_409_stale(monkeypatch) -> None:
    intent = _intent()
    fake = FakeClient(update_intent_controls=http_error(409, OTHER_409), get_intent=http_error(404))
    monkeypatch.setattr("django_axme.get_client", lambda: fake)
    result = operations.update_controls(
        intent,
        controls_patch={"remind_after_seconds": 60},
        envelope_patch={},
        expected_generation=3,
        reason="",
        user=_User(),
    )
    assert not result.ok
    assert not result.data.get("stale")
    assert "did not apply" in result.message


def test_task_does_not_retry_a_409_that_merely_says_stale(monkeypatch) -> None:
    _intent()
    fake = FakeClient(update_intent_controls=http_error(409, OTHER_409))
    monkeypatch.setattr("django_axme.conf.get_client", lambda: fake)
    outcome = tasks.update_intent_controls.apply(args=("int_stale", {"x": 1}))
    assert outcome.failed() and "HTTP 409" in str(outcome.result)  # raised, not retried
    assert len(fake.named("update_intent_controls")) == 1
    error = Intent.objects.get(intent_id="int_stale").last_error
    assert error["operation"] == "update_intent_controls"
    assert error["status_code"] == 409


def test_task_rereads_a_stale_generation_and_uses_the_current_one(monkeypatch) -> None:
    _intent()
    answers = iter([http_error(409, STALE_BODY), {"applied": True, "policy_generation": 8}])

    def update(intent_id, body, **kwargs):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    snapshot = {"intent_id": "int_stale", "intent_type": "t.v1", "status": "IN_PROGRESS"}
    fake = FakeClient(
        update_intent_controls=update, get_intent={**snapshot, "policy_generation": 7}
    )
    monkeypatch.setattr("django_axme.conf.get_client", lambda: fake)
    outcome = tasks.update_intent_controls.apply(args=("int_stale", {"x": 1}))
    assert outcome.result == {"applied": True, "policy_generation": 8}
    sent = [
        args[1]["expected_policy_generation"] for args, _ in fake.named("update_intent_controls")
    ]
    assert sent == [3, 7]
