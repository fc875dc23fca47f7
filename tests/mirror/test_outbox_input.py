"""``send_intent_on_commit`` refuses bad input with a ValueError naming the field, and stores a
payload once (issue 12, low).

Before: a datetime, Decimal, set or bytes in the payload raised ``TypeError``, NaN and NUL a
``DataError`` (PostgreSQL) at the commit, a 300-character intent type a ``DataError``, a
5,000-deep payload a ``RecursionError``; a large payload was stored twice (``payload`` and
``raw``), and three times once sent.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pytest
from django.db import transaction

from django_axme import send_intent_on_commit
from django_axme.models import Intent
from django_axme.sync.outbox import OUTBOX_REQUEST_KEY, mark_sent, outbox_request

pytestmark = pytest.mark.django_db

AGENT = "agent://tests/bot"


def _deep(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"d": value}
    return value


BAD_INPUT = {
    "datetime": ({"payload": {"when": dt.datetime(2026, 1, 1)}}, "payload['when']"),
    "decimal": ({"payload": {"amount": decimal.Decimal("1.5")}}, "payload['amount']"),
    "set": ({"payload": {"tags": {"a", "b"}}}, "payload['tags']"),
    "bytes": ({"payload": {"blob": b"\x00\x01"}}, "payload['blob']"),
    "nan": ({"payload": {"score": float("nan")}}, "payload['score']"),
    "infinity": ({"payload": {"n": [1, float("inf")]}}, "payload['n'][1]"),
    "nul-in-payload": ({"payload": {"note": "a\x00b"}}, "payload['note']"),
    "surrogate-in-payload": ({"payload": {"note": "\ud800"}}, "payload['note']"),
    "nul-in-key": ({"payload": {"a\x00": 1}}, "payload"),
    "int-key": ({"payload": {1: "x"}}, "payload"),
    "deep-payload": ({"payload": _deep(5000)}, "payload"),
    "long-intent-type": ({"intent_type": "intent." + "x" * 300 + ".v1"}, "intent_type"),
    "nul-in-intent-type": ({"intent_type": "intent.x\x00.v1"}, "intent_type"),
    "long-to-agent": ({"to_agent": "agent://" + "a" * 400}, "to_agent"),
    "nul-in-reply-to": ({"reply_to": "agent://x\x00"}, "reply_to"),
    "payload-not-object": ({"payload": [1, 2]}, "payload"),
    "human-task-not-object": ({"human_task": ["x"]}, "human_task"),
    "human-task-decimal": ({"human_task": {"n": decimal.Decimal(1)}}, "human_task['n']"),
    "extra-bytes": ({"extra": {"max_reminders": b"3"}}, "max_reminders"),
    "deadline-before-year-1": (
        {"deadline_at": "0001-01-01T00:00:00+05:00"},
        "deadline_at",
    ),
}


@pytest.mark.parametrize("overrides, field", BAD_INPUT.values(), ids=BAD_INPUT)
def test_bad_input_raises_a_value_error_naming_the_field_and_writes_nothing(
    overrides, field, django_capture_on_commit_callbacks
):
    arguments: dict[str, Any] = {"intent_type": "intent.order.v1", "to_agent": AGENT}
    arguments.update(overrides)
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        pytest.raises(ValueError) as info,
        transaction.atomic(),
    ):
        send_intent_on_commit(arguments.pop("intent_type"), **arguments)
    assert field in str(info.value)
    assert type(info.value) is ValueError
    assert not Intent.objects.exists()
    assert callbacks == []


def test_a_large_payload_is_stored_once_and_sent_whole(django_capture_on_commit_callbacks):
    payload = {"rows": ["x" * 1000] * 2000}  # about 2 MB
    with django_capture_on_commit_callbacks(execute=False), transaction.atomic():
        row = send_intent_on_commit("intent.order.v1", payload, to_agent=AGENT)
    row = Intent.objects.get(pk=row.pk)
    assert row.payload == payload
    assert "payload" not in row.raw[OUTBOX_REQUEST_KEY]
    assert len(str(row.raw)) < 10_000
    request = outbox_request(row)
    assert request["payload"] == payload
    with django_capture_on_commit_callbacks(execute=True):
        sent = mark_sent(row, request, {"ok": True, "intent_id": "i-large", "status": "CREATED"})
    sent.refresh_from_db()
    assert sent.intent_id == "i-large"
    assert sent.payload == payload
    assert len(str(sent.raw)) < 10_000  # not a second (or third) copy after the send
    assert outbox_request(sent)["payload"] == payload


def test_a_row_written_before_the_payload_was_stored_once_still_sends_its_payload():
    with transaction.atomic():
        row = send_intent_on_commit("intent.order.v1", {"a": 1}, to_agent=AGENT)
    legacy = dict(row.raw[OUTBOX_REQUEST_KEY], payload={"old": True})
    Intent.objects.filter(pk=row.pk).update(raw={OUTBOX_REQUEST_KEY: legacy})
    assert outbox_request(Intent.objects.get(pk=row.pk))["payload"] == {"old": True}


def test_plain_json_is_accepted_as_it_is():
    payload = {"a": [1, 2.5, "é \U0001f600", None, True, {"b": []}], "n": 10**30, "t": (1, 2)}
    with transaction.atomic():
        row = send_intent_on_commit("intent.order.v1", payload, to_agent=AGENT)
    row.refresh_from_db()
    assert row.payload == {**payload, "t": [1, 2]}
