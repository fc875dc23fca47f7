"""``Intent.last_error`` has one shape whoever writes it (issue 13: it was written in three).

Every path that records an error goes through
:func:`django_axme.services.errors.error_record`: the command, the send task, the controls
task and the observers.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from django_axme import tasks
from django_axme.models import Intent
from django_axme.observer.multiplex import _describe
from django_axme.services.errors import error_record
from django_axme.sync.outbox import create_outbox_row
from tests.services.fakes import FakeClient, http_error

pytestmark = pytest.mark.django_db

#: The keys every recorded error has (``recorded_at`` is added by the writer).
SHAPE = {"operation", "category", "error", "message", "retryable", "recorded_at"}


def _keys(intent_id: str) -> set[str]:
    error = Intent.objects.get(intent_id=intent_id).last_error
    assert error is not None
    return set(error) - {"status_code", "request_id", "trace_id"}


def test_error_record_shape() -> None:
    record = error_record(http_error(403), operation="observe")
    assert record["category"] == "auth" and record["status_code"] == 403
    assert record["retryable"] is False and record["error"] == "AxmeAuthError"
    assert error_record(ValueError("bad"), operation="x")["category"] == "local"
    assert set(_describe(http_error(404))) == set(record) - {"recorded_at"}


def test_every_writer_of_last_error_writes_the_same_shape(monkeypatch, settings) -> None:
    # 1. manage.py axme_sync meeting a 404 (it used to write {"status_code", "message"}).
    Intent.objects.create(intent_id="int_cmd", intent_type="t.v1")
    fake = FakeClient(get_intent=http_error(404))
    monkeypatch.setattr("django_axme.get_client", lambda: fake)
    with pytest.raises(CommandError):
        call_command("axme_sync", "int_cmd", stdout=StringIO(), stderr=StringIO())
    assert _keys("int_cmd") == SHAPE
    assert Intent.objects.get(intent_id="int_cmd").last_error["status_code"] == 404

    # 2. send_intent meeting a validation error.
    monkeypatch.setattr(
        "django_axme.conf.get_client", lambda: FakeClient(create_intent=http_error(422))
    )
    row = create_outbox_row({"intent_type": "t.v1", "to_agent": "agent://x/y", "payload": {}})
    tasks.send_intent.apply(args=(row.pk,))
    row.refresh_from_db()
    assert set(row.last_error) - {"status_code"} == SHAPE

    # 3. a controls update still stale after its attempts (it used to write two keys).
    Intent.objects.create(intent_id="int_ctl", intent_type="t.v1", policy_generation=1)
    stale = http_error(409, {"error": {"code": "stale_policy_generation"}})
    snapshot = {"intent_id": "int_ctl", "intent_type": "t.v1", "status": "IN_PROGRESS"}
    monkeypatch.setattr(
        "django_axme.conf.get_client",
        lambda: FakeClient(update_intent_controls=stale, get_intent=snapshot),
    )
    outcome = tasks.update_intent_controls.apply(
        args=("int_ctl", {"x": 1}), kwargs={"max_attempts": 2}
    )
    assert outcome.failed()
    assert _keys("int_ctl") == SHAPE
    assert (
        Intent.objects.get(intent_id="int_ctl").last_error["error"] == "StalePolicyGenerationError"
    )
