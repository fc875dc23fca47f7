"""Fuzzing the one writer with Hypothesis: whatever the gateway sends, no uncaught database
error and no healthy event lost (issue 12, high 4).

Events and snapshots are drawn from AXME's own JSON Schemas (``intent.event.v1.json``,
``intent.envelope.v1.json``, vendored in ``tests/data/axme``): every property of the schema,
each value either what the schema allows or something hostile (strings with NUL and lone or
split surrogates, integers far beyond 64 bits, NaN and infinities, timestamps whose offset
lands outside years 1..9999, deep JSON). Runs on SQLite and, in CI's PostgreSQL step
(``tests/mirror``), on PostgreSQL, which refuses most of these values outright.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_axme.models import Approval, Intent, IntentEvent
from django_axme.sync import ingest_events, ingest_intent, ingest_thread
from tests.axme_spec import PROTOCOL_SCHEMAS

pytestmark = pytest.mark.django_db

EVENT_SCHEMA = json.loads((PROTOCOL_SCHEMAS / "intent.event.v1.json").read_text())
ENVELOPE_SCHEMA = json.loads((PROTOCOL_SCHEMAS / "intent.envelope.v1.json").read_text())
MAX_SEQ = 2**31 - 1

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,  # nothing written to .hypothesis/ in the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- hostile values ----------------------------------------------------------------------------

_NASTY_CHARS = ["\x00", "\ud800", "\udbff", "\udc00", "\udfff", "\ud83d", "\ude00", "\ufffd"]
hostile_text = st.lists(st.one_of(st.characters(), st.sampled_from(_NASTY_CHARS)), max_size=12).map(
    "".join
)
huge_int = st.one_of(
    st.sampled_from([0, -1, MAX_SEQ, 2**31, -(2**31) - 1, 2**63, 2**64, 10**30]),
    st.integers(),
    # more digits than Python turns into text (its 4,300-digit limit)
    st.integers(4400, 5000).map(lambda digits: 10**digits),
)
odd_float = st.floats(allow_nan=True, allow_infinity=True)


def _offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


odd_timestamp = st.one_of(
    st.builds(
        lambda d, m: d.isoformat() + _offset(m),
        st.sampled_from(
            [
                dt.datetime(1, 1, 1),
                dt.datetime(1, 1, 1, 23, 59),
                dt.datetime(9999, 12, 31),
                dt.datetime(9999, 12, 31, 23, 59, 59),
            ]
        )
        | st.datetimes(),
        st.integers(-23 * 60 - 59, 23 * 60 + 59),
    ),
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.sampled_from(["", "Z", "not a date", "2026-13-45T99:99:99Z", "0000-00-00T00:00:00Z"]),
    hostile_text,
)
json_leaf = st.one_of(st.none(), st.booleans(), huge_int, odd_float, hostile_text)
hostile_json = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
    max_leaves=12,
)


def _deep(depth: int) -> Any:
    value: Any = {"bottom": "\x00"}
    for _ in range(depth):
        value = [value]
    return value


hostile_object = st.one_of(
    st.dictionaries(hostile_text, hostile_json, max_size=4),
    st.integers(300, 1500).map(lambda d: {"deep": _deep(d)}),
)


# -- values the schema allows ------------------------------------------------------------------


def schema_value(prop: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A strategy for what one schema property allows (enough of JSON Schema for these files)."""
    if "enum" in prop:
        return st.sampled_from(prop["enum"])
    if "const" in prop:
        return st.just(prop["const"])
    kind = prop.get("type")
    if kind == "string":
        if prop.get("format") == "uuid":
            return st.uuids().map(str)
        if prop.get("format") == "date-time":
            return st.datetimes(
                min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1)
            ).map(lambda d: d.isoformat() + "Z")
        if "pattern" in prop:
            return st.from_regex(prop["pattern"], fullmatch=True)
        return st.text(
            st.characters(codec="utf-8", exclude_characters="\x00"),
            min_size=prop.get("minLength", 0),
            max_size=min(prop.get("maxLength", 40), 40),
        )
    if kind == "integer":
        return st.integers(prop.get("minimum", -1000), 1000)
    if kind == "object":
        return st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3)
    return st.none()


def hostile_value(prop: dict[str, Any]) -> st.SearchStrategy[Any]:
    """What a broken or hostile gateway could put in that property instead."""
    if prop.get("type") == "integer":
        return huge_int
    if prop.get("format") == "date-time":
        return odd_timestamp
    if prop.get("type") == "object":
        return hostile_object
    return st.one_of(hostile_text, st.just(None), huge_int, odd_float)


def from_schema(schema: dict[str, Any], overrides: dict[str, st.SearchStrategy[Any]]):
    """Objects with every property of ``schema``: the required ones always, the others
    sometimes; each value what the schema allows or, now and then, a hostile one."""
    required = {}
    optional = {}
    for name, prop in schema["properties"].items():
        strategy = (
            overrides[name]
            if name in overrides
            else st.one_of(schema_value(prop), schema_value(prop), hostile_value(prop))
        )
        (required if name in schema.get("required", []) else optional)[name] = strategy
    return st.fixed_dictionaries(required, optional=optional)


def event_strategy(intent_id: str):
    """An event of ``intent_id``: the schema's fields, a seq that is usually a small positive
    integer and sometimes anything, an ``intent_id`` that is usually this intent's."""
    return from_schema(
        EVENT_SCHEMA,
        {
            "intent_id": st.one_of(st.just(intent_id), st.just(intent_id), st.just(None)),
            "seq": st.one_of(st.integers(1, 12), st.integers(1, 12), huge_int),
            "details": hostile_object,
        },
    ).flatmap(
        lambda e: st.one_of(st.just(e), hostile_object.map(lambda extra: {**e, "details": extra}))
    )


def _storable_seq(event: dict[str, Any], intent_id: str) -> int | None:
    """The seq the writer must store this event under, or None if it must skip it."""
    seq = event.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= MAX_SEQ:
        return None
    owner = event.get("intent_id")
    if isinstance(owner, str) and owner and owner != intent_id:
        return None
    return seq


def _is_clean(text: Any) -> bool:
    return isinstance(text, str) and not any(
        ch == "\x00" or "\ud800" <= ch <= "\udfff" for ch in text
    )


# -- the properties ----------------------------------------------------------------------------


@FUZZ
@given(data=st.data(), one_call_per_event=st.booleans())
def test_events_never_raise_and_every_storable_event_is_stored(
    data, one_call_per_event, django_capture_on_commit_callbacks
):
    intent_id = str(uuid.uuid4())
    history = data.draw(st.lists(event_strategy(intent_id), min_size=1, max_size=8))
    with django_capture_on_commit_callbacks(execute=True):
        if one_call_per_event:
            for item in history:
                ingest_events(intent_id, [item])
        else:
            ingest_events(intent_id, history)
    expected: dict[int, dict[str, Any]] = {}
    for item in history:
        seq = _storable_seq(item, intent_id)
        if seq is not None:
            expected.setdefault(seq, item)
    row = Intent.objects.get(intent_id=intent_id)
    stored = {e.seq: e for e in IntentEvent.objects.filter(intent=row)}
    assert set(stored) == set(expected), "a storable event was lost (or a bad one stored)"
    assert row.last_seq == max(expected, default=0)
    for seq, item in expected.items():
        event_type = item.get("event_type")
        if _is_clean(event_type) and len(event_type) <= 120:
            assert stored[seq].event_type == event_type
        actor = item.get("actor")
        if _is_clean(actor) and len(actor) <= 255:
            assert stored[seq].actor == actor


@FUZZ
@given(
    snapshot=from_schema(
        ENVELOPE_SCHEMA,
        {
            "intent_id": st.uuids().map(str),
            "payload": st.one_of(schema_value({"type": "object"}), hostile_object, hostile_object),
        },
    ),
    extra=st.fixed_dictionaries(
        {},
        optional={
            "policy_generation": huge_int,
            "deadline_at": odd_timestamp,
            "updated_at": odd_timestamp,
            "human_task": hostile_object,
            "result": hostile_object,
            "owner_agent": hostile_text,
            "reply_to": hostile_text,
        },
    ),
)
def test_snapshots_never_raise_and_are_always_mirrored(
    snapshot, extra, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        row = ingest_intent({**snapshot, **extra})
    row.refresh_from_db()
    assert row.intent_id == snapshot["intent_id"]
    assert isinstance(row.payload, dict)
    generation = extra.get("policy_generation")
    if isinstance(generation, int) and -(2**31) <= generation <= MAX_SEQ:
        assert row.policy_generation == generation


@FUZZ
@given(
    thread=st.fixed_dictionaries(
        {"thread_id": st.uuids().map(str)},
        optional={
            "intent_id": st.one_of(st.uuids().map(str), hostile_text),
            "status": st.one_of(st.sampled_from(["pending", "active", "done"]), hostile_text),
            "title": hostile_text,
            "human_task": st.one_of(
                st.fixed_dictionaries(
                    {"title": hostile_text},
                    optional={
                        "description": hostile_text,
                        "allowed_outcomes": st.lists(json_leaf, max_size=3),
                        "task_type": hostile_text,
                    },
                ),
                hostile_object,
            ),
            "timeline": st.lists(hostile_json, max_size=3),
            "created_at": odd_timestamp,
            "owner_agent": hostile_text,
        },
    )
)
def test_inbox_threads_never_raise(thread, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        approval = ingest_thread(thread)
    if approval is not None:
        assert Approval.objects.filter(pk=approval.pk, thread_id=thread["thread_id"]).exists()
