"""One event the database cannot store never stalls the mirror (issue 12, high 4).

A NUL character, an unpaired surrogate, a seq of 2**31 or more, a ``policy_generation`` out of
the 32-bit range, a timestamp whose offset lands outside years 1..9999, a non-finite number or
an over-long integer in JSON, an unusable intent id: each is cleaned, dropped or rejected at the
parsing edge, and the healthy events of the same batch, later events of the same intent and
every other intent are still stored and signalled. Runs on SQLite and, with DATABASE_URL, on
PostgreSQL (which refuses most of these values outright).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from django_axme.exceptions import AxmeError
from django_axme.models import Approval, Intent, IntentEvent
from django_axme.refresh import refresh_intent
from django_axme.sync import RemoteDataError, ingest_events, ingest_intent, ingest_thread
from django_axme.sync import events as events_module
from django_axme.sync.remote import RemoteEvent, clean_json, clean_text, parse_event
from tests.mirror.helpers import event, new_intent_id

pytestmark = pytest.mark.django_db

NUL = "\x00"
LONE = "\ud800"


def _history(intent_id: str, poisoned: dict[str, Any]) -> list[dict[str, Any]]:
    """seq 1 IN_PROGRESS, seq 2 WAITING (made bad by ``poisoned``), seq 3 COMPLETED."""
    bad = event(intent_id, 2, "WAITING", "WAITING_FOR_TOOL")
    bad.update(poisoned)
    return [
        event(intent_id, 1, "IN_PROGRESS"),
        bad,
        event(intent_id, 3, "COMPLETED", details={"result": {"ok": True}}),
    ]


def _deep_list(depth: int) -> list[Any]:
    top: list[Any] = []
    node = top
    for _ in range(depth):
        node.append([])
        node = node[0]
    return top


#: Values the probe found PostgreSQL refusing (the whole batch rolled back), and their kin.
STORABLE_AFTER_CLEANING = {
    "nul-in-actor": {"actor": f"agent://x{NUL}y"},
    "nul-in-event-type": {"event_type": f"intent.waiting{NUL}"},
    "nul-in-details": {"details": {"note": f"a{NUL}b", f"k{NUL}": [NUL]}},
    "surrogate-in-details": {"details": {"note": f"a{LONE}b", "pair": "\ud83d\ude00"}},
    "surrogate-in-actor": {"actor": f"agent://{LONE}"},
    "nan-in-details": {"details": {"score": float("nan"), "big": float("inf")}},
    "huge-int-in-details": {"details": {"n": 10**5000}},
    "offset-before-year-1": {"at": "0001-01-01T00:00:00+05:00"},
    "offset-after-year-9999": {"at": "9999-12-31T23:00:00-05:00"},
    "deep-details": {"details": {"d": _deep_list(2000)}},
    "nul-in-unknown-status": {"status": f"PAUSED{NUL}", "waiting_reason": None},
}


@pytest.mark.parametrize("poisoned", STORABLE_AFTER_CLEANING.values(), ids=STORABLE_AFTER_CLEANING)
def test_a_bad_value_is_cleaned_and_the_batch_is_stored_and_signalled(
    poisoned, recorder, django_capture_on_commit_callbacks, caplog
):
    intent_id = new_intent_id()
    with (
        caplog.at_level(logging.WARNING, logger="django_axme.sync"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        result = ingest_events(intent_id, _history(intent_id, poisoned))
    assert result.stored == 3
    row = Intent.objects.get(intent_id=intent_id)
    assert (row.status, row.last_seq, row.result) == ("COMPLETED", 3, {"ok": True})
    assert list(row.events.values_list("seq", flat=True)) == [1, 2, 3]
    assert len(recorder.named("intent_completed")) == 1
    assert [c.kwargs["intent"].intent_id for c in recorder.named("intent_created")] == [intent_id]
    assert any(intent_id in r.getMessage() for r in caplog.records), "a WARNING names the intent"
    stored = IntentEvent.objects.get(intent=row, seq=2)
    for text in (stored.actor, stored.event_type, str(stored.details), str(stored.raw)):
        assert NUL not in text
        assert not any("\ud800" <= ch <= "\udfff" for ch in text)


@pytest.mark.parametrize("seq", [2**31, 2**63, 10**30])
def test_a_seq_out_of_range_is_skipped_and_the_rest_is_stored(
    seq, recorder, django_capture_on_commit_callbacks, caplog
):
    intent_id = new_intent_id()
    history = [
        event(intent_id, 1, "IN_PROGRESS"),
        event(intent_id, seq, "FAILED"),
        event(intent_id, 2, "COMPLETED"),
    ]
    with (
        caplog.at_level(logging.WARNING, logger="django_axme.sync"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        result = ingest_events(intent_id, history)
    assert (result.stored, result.skipped) == (2, 1)
    row = Intent.objects.get(intent_id=intent_id)
    assert (row.status, row.last_seq) == ("COMPLETED", 2)
    assert len(recorder.named("intent_completed")) == 1
    assert not recorder.named("intent_failed")
    assert any("seq" in r.getMessage() and intent_id in r.getMessage() for r in caplog.records)


def test_later_events_of_the_same_intent_are_stored_after_a_bad_one(
    recorder, django_capture_on_commit_callbacks
):
    """The observer ingests one event per call: a bad one in the middle costs nothing."""
    intent_id = new_intent_id()
    history = _history(intent_id, {"actor": NUL, "at": "0001-01-01T00:00:00+01:00"})
    history.insert(1, event(intent_id, 2**31, "FAILED"))
    with django_capture_on_commit_callbacks(execute=True):
        for item in history:
            ingest_events(intent_id, [item])
    row = Intent.objects.get(intent_id=intent_id)
    assert (row.status, row.last_seq) == ("COMPLETED", 3)
    assert len(recorder.named("intent_completed")) == 1


def test_the_database_refusing_one_event_costs_only_that_event(
    monkeypatch, recorder, django_capture_on_commit_callbacks, caplog
):
    """The last line of defence: a value the parsing edge let through (here a seq no integer
    column holds, by bypassing the parser) is refused by the database; the batch is stored one
    event per savepoint and only that event is lost."""
    intent_id = new_intent_id()
    real = parse_event

    def let_through(raw: Any, *, intent_id: str | None) -> RemoteEvent | None:
        if raw.get("seq") == "poison":
            good = real({**raw, "seq": 2}, intent_id=intent_id)
            assert good is not None
            return RemoteEvent(**{**good.__dict__, "seq": 2**63})
        return real(raw, intent_id=intent_id)

    monkeypatch.setattr(events_module, "parse_event", let_through)
    history = [
        event(intent_id, 1, "IN_PROGRESS"),
        event(intent_id, "poison", "FAILED"),
        event(intent_id, 3, "WAITING", "WAITING_FOR_TOOL"),
        event(intent_id, 4, "COMPLETED"),
    ]
    with (
        caplog.at_level(logging.WARNING, logger="django_axme.sync"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        result = ingest_events(intent_id, history)
    assert (result.stored, result.skipped) == (3, 1)
    row = Intent.objects.get(intent_id=intent_id)
    assert list(row.events.values_list("seq", flat=True)) == [1, 3, 4]
    assert (row.status, row.last_seq) == ("COMPLETED", 4)
    assert [c.kwargs["status"] for c in recorder.named("intent_status_changed")] == [
        "IN_PROGRESS",
        "WAITING",
        "COMPLETED",
    ]
    assert any(r.levelno == logging.ERROR and "skipped" in r.getMessage() for r in caplog.records)


def test_a_snapshot_with_bad_values_is_stored_cleaned(caplog):
    intent_id = new_intent_id()
    with caplog.at_level(logging.WARNING, logger="django_axme.sync"):
        row = ingest_intent(
            {
                "intent_id": intent_id,
                "intent_type": f"intent.x{NUL}.v1",
                "to_agent": f"agent://{LONE}",
                "payload": {"a": NUL, "n": float("nan")},
                "policy_generation": 2**31,
                "deadline_at": "0001-01-01T00:30:00+01:00",
                "created_at": "9999-12-31T23:59:59-00:01",
                "updated_at": "2026-01-01T00:00:00Z",
            }
        )
    row.refresh_from_db()
    assert row.intent_type == "intent.x\ufffd.v1"
    assert row.to_agent == "agent://\ufffd"
    assert row.payload == {"a": "\ufffd", "n": None}
    assert row.policy_generation is None
    assert row.deadline_at is None and row.remote_created_at is None
    assert row.remote_updated_at is not None
    messages = [r.getMessage() for r in caplog.records]
    for field in ("policy_generation", "deadline_at", "created_at", "payload"):
        assert any(field in m and intent_id in m for m in messages), field


@pytest.mark.parametrize(
    "bad_id", ["x" * 65, "", "   ", f"abc{NUL}", f"abc{LONE}", 12, None], ids=repr
)
def test_an_unusable_intent_id_is_refused_with_a_typed_error_and_nothing_written(bad_id):
    before = Intent.objects.count()
    with pytest.raises(RemoteDataError) as info:
        ingest_intent({"intent_id": bad_id, "intent_type": "intent.x.v1"})
    assert isinstance(info.value, AxmeError) and isinstance(info.value, ValueError)
    if isinstance(bad_id, str) and bad_id:
        with pytest.raises(RemoteDataError):
            ingest_events(bad_id, [event("x", 1, "IN_PROGRESS")])
    assert Intent.objects.count() == before


@pytest.mark.parametrize("thread_id", ["", "   ", "t" * 65, f"t{NUL}", 7])
def test_a_thread_with_an_unusable_id_is_skipped(thread_id):
    thread = {"thread_id": thread_id, "status": "pending", "human_task": {"title": "t"}}
    assert ingest_thread(thread) is None
    assert not Approval.objects.exists()


def test_a_thread_with_bad_values_is_stored_cleaned():
    thread = {
        "thread_id": new_intent_id(),
        "intent_id": "i" * 100,
        "status": "pending",
        "title": NUL,
        "human_task": {"title": f"ok{NUL}", "allowed_outcomes": ["yes", 10**5000, NUL]},
        "timeline": [{"event_type": f"x{LONE}"}],
        "created_at": "0001-01-01T00:00:00+02:00",
    }
    approval = ingest_thread(thread)
    assert approval is not None
    approval.refresh_from_db()
    assert approval.remote_intent_id == "" and approval.intent is None
    assert approval.title == "ok\ufffd"
    assert approval.allowed_outcomes == ["yes", "", "\ufffd"]
    assert approval.timeline == [{"event_type": "x\ufffd"}]
    assert approval.remote_created_at is None


class FakeGateway:
    """``get_intent`` and ``list_intent_events`` answering from a dict of histories."""

    def __init__(self, intents: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]):
        self.intents = intents

    def get_intent(self, intent_id: str) -> dict[str, Any]:
        return self.intents[intent_id][0]

    def list_intent_events(self, intent_id: str, since: int | None = None) -> dict[str, Any]:
        return {"events": [e for e in self.intents[intent_id][1] if e["seq"] > (since or 0)]}


def _gateway_with_one_poisoned_intent() -> tuple[FakeGateway, list[str], str]:
    ids = [new_intent_id() for _ in range(4)]
    intents = {}
    for intent_id in ids:
        history = [
            event(intent_id, 1, "IN_PROGRESS"),
            event(intent_id, 2, "COMPLETED", details={"result": {"ok": True}}),
        ]
        intents[intent_id] = ({"intent_id": intent_id, "intent_type": "intent.x.v1"}, history)
    poisoned = ids[1]
    snapshot, history = intents[poisoned]
    snapshot.update({"policy_generation": 2**40, "payload": {"p": NUL}})
    history.insert(1, event(poisoned, 2**31, "FAILED", actor=NUL))
    history[0]["details"] = {"text": f"{NUL}{LONE}"}
    history[-1]["at"] = "0001-01-01T00:00:00+00:01"
    long_id = "L" * 80
    intents[long_id] = ({"intent_id": long_id}, [])
    return FakeGateway(intents), [*ids, long_id], poisoned


def test_refresh_of_every_intent_survives_a_poisoned_one(
    recorder, django_capture_on_commit_callbacks
):
    gateway, ids, poisoned = _gateway_with_one_poisoned_intent()
    with django_capture_on_commit_callbacks(execute=True):
        for intent_id in ids[:4]:
            refresh_intent(gateway, intent_id)
        with pytest.raises(RemoteDataError):
            refresh_intent(gateway, ids[4])
    statuses = dict(Intent.objects.values_list("intent_id", "status"))
    assert statuses == dict.fromkeys(ids[:4], "COMPLETED")
    assert Intent.objects.get(intent_id=poisoned).last_seq == 2
    assert len(recorder.named("intent_completed")) == 4


@pytest.mark.django_db(transaction=True)
def test_axme_sync_syncs_every_healthy_intent_and_reports_the_bad_one(monkeypatch, recorder):
    """The probe: ``axme_sync`` crashed on every run and never synced the intents after the
    poisoned one. Now every storable intent is synced and the unusable one is reported."""
    gateway, ids, _poisoned = _gateway_with_one_poisoned_intent()
    monkeypatch.setattr("django_axme.get_client", lambda: gateway)
    with pytest.raises(CommandError, match="1 intent"):
        call_command("axme_sync", *ids, "--no-progress", stdout=_Sink(), stderr=_Sink())
    statuses = dict(Intent.objects.values_list("intent_id", "status"))
    assert statuses == dict.fromkeys(ids[:4], "COMPLETED")
    assert len(recorder.named("intent_completed")) == 4


class _Sink:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


def test_clean_text_and_clean_json_keep_what_is_storable():
    assert clean_text("plain") == "plain"
    assert clean_text("\ud83d\ude00") == "\U0001f600"  # a pair written as two code points
    assert clean_text(f"{LONE}x{NUL}") == "\ufffdx\ufffd"
    value = {"a": [1, 2.5, "ok", None, True], "b": {"c": "\U0001f600"}}
    assert clean_json(value, field="f", intent_id="i") is value
    assert clean_json({1: NUL}, field="f", intent_id="i") == {"1": "\ufffd"}


def test_the_admin_refresh_of_a_poisoned_intent_answers_a_redirect(
    monkeypatch, admin_client, django_capture_on_commit_callbacks
):
    """The probe: the admin's "Refresh from AXME" answered 500 on a poisoned intent."""
    gateway, _ids, poisoned = _gateway_with_one_poisoned_intent()
    monkeypatch.setattr("django_axme.get_client", lambda: gateway)
    with django_capture_on_commit_callbacks(execute=True):
        row = ingest_intent({"intent_id": poisoned, "intent_type": "intent.x.v1"})
    url = reverse("admin:django_axme_intent_refresh", args=[row.pk])
    with django_capture_on_commit_callbacks(execute=True):
        answer = admin_client.post(url)
    assert answer.status_code == 302
    row.refresh_from_db()
    assert (row.status, row.last_seq) == ("COMPLETED", 2)


class FakeStream:
    """``observe_window`` yielding a fixed list of events."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    def observe_window(self, intent_id: str, *, since: int, wait_seconds: int):
        yield from (e for e in self.events if not isinstance(e["seq"], int) or e["seq"] > since)


def test_the_observer_reaches_the_terminal_event_past_a_poisoned_one(
    recorder, django_capture_on_commit_callbacks
):
    """The probe: ``observe_intent`` ended in FAILURE and ``intent_completed`` never fired."""
    from django_axme.observer.single import observe_window_slice

    intent_id = new_intent_id()
    with django_capture_on_commit_callbacks(execute=True):
        ingest_intent({"intent_id": intent_id, "intent_type": "intent.x.v1"})
    history = _history(intent_id, {"actor": NUL, "details": {"x": float("nan")}})
    history.insert(1, event(intent_id, 2**31, "FAILED", at="0001-01-01T00:00:00+09:00"))
    with django_capture_on_commit_callbacks(execute=True):
        result = observe_window_slice(
            FakeStream(history), intent_id, "token", window_seconds=1, lease_seconds=30
        )
    assert (result.state, result.last_seq) == ("terminal", 3)
    assert len(recorder.named("intent_completed")) == 1
