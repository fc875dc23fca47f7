"""``sync.bulk``: ``insert_returning`` and ``update_rows`` store exactly what Django's own
``bulk_create``/``save`` store (on PostgreSQL they send the batch as one JSON parameter), set
the primary keys in order, and refuse what the database refuses.

Runs on SQLite and (with DATABASE_URL) on PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction
from django.db.models.functions import Now
from django.test.utils import CaptureQueriesContext

from django_axme.models import Intent, IntentEvent
from django_axme.sync.bulk import insert_returning, update_rows, update_values
from django_axme.sync.events import REFUSED
from tests.mirror.helpers import new_intent_id

pytestmark = pytest.mark.django_db(transaction=True)

ODD_TEXT = [
    "plain",
    "quote ' and \" and \\ backslash",
    "unicode: é ü 漢字 😀",
    '{"looks": ["like", "json"]}',
    "%s %(name)s ::jsonb $1",
    "",
]
ODD_JSON = [
    {"nested": {"list": [1, 2.5, None, True, "x"], "big": 2**70, "neg": -1}},
    ["a", {"b": "c \\ \" '"}],
    "a bare string",
    12,
    {"emoji": "😀", "": "empty key"},
    None,
]


def _intents(n: int) -> list[Intent]:
    base = dt.datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=dt.timezone.utc)
    return [
        Intent(
            intent_id=new_intent_id(),
            intent_type=ODD_TEXT[i % len(ODD_TEXT)][:255] or "t",
            to_agent="agent://a/b/c",
            status="CREATED",
            last_seq=i,
            payload=ODD_JSON[i % len(ODD_JSON)] or {},
            result=ODD_JSON[(i + 1) % len(ODD_JSON)],
            deadline_at=base + dt.timedelta(seconds=i) if i % 2 else None,
        )
        for i in range(n)
    ]


def _stored(pks: list[int]) -> list[tuple]:
    fields = ("intent_id", "intent_type", "last_seq", "payload", "result", "deadline_at")
    rows = {r[0]: r[1:] for r in Intent.objects.filter(pk__in=pks).values_list("pk", *fields)}
    return [rows[pk] for pk in pks]


def test_insert_returning_stores_what_bulk_create_stores_and_sets_pks_in_order():
    ours, theirs = _intents(24), _intents(24)
    for a, b in zip(ours, theirs, strict=True):
        b.intent_id = a.intent_id + "-django"
    with CaptureQueriesContext(connection) as ctx:
        insert_returning(Intent, ours)
    assert len([q for q in ctx.captured_queries if "INSERT" in q["sql"]]) == 1
    Intent.objects.bulk_create(theirs)
    assert all(r.pk is not None and not r._state.adding for r in ours)
    assert [r.pk for r in ours] == sorted(r.pk for r in ours)  # returned in the given order
    got = _stored([r.pk for r in ours])
    reference = _stored([r.pk for r in theirs])
    assert [g[1:] for g in got] == [t[1:] for t in reference]
    assert [g[0] for g in got] == [r.intent_id for r in ours]
    # auto_now_add / auto_now columns were filled and set on the instances
    assert all(r.created_at is not None and r.updated_at is not None for r in ours)


def test_update_rows_writes_the_in_memory_values_and_constants():
    rows = _intents(12)
    insert_returning(Intent, rows)
    for i, row in enumerate(rows):
        row.status = "IN_PROGRESS" if i % 2 else "WAITING"
        row.result = ODD_JSON[(i + 3) % len(ODD_JSON)]
        row.intent_type = ODD_TEXT[(i + 2) % len(ODD_TEXT)] or "u"
    when = dt.datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=dt.timezone.utc)
    assert update_rows(
        Intent, rows, ["status", "result", "intent_type"], constants={"last_heard_at": when}
    ) == len(rows)
    stored = {
        r[0]: r[1:]
        for r in Intent.objects.filter(pk__in=[r.pk for r in rows]).values_list(
            "pk", "status", "result", "intent_type", "last_heard_at"
        )
    }
    for row in rows:
        assert stored[row.pk] == (row.status, row.result, row.intent_type, when)
        assert row.last_heard_at == when


def test_an_expression_value_is_compiled_by_django():
    rows = _intents(3)
    for row in rows:
        row.last_heard_at = Now()
    insert_returning(Intent, rows)
    assert (
        Intent.objects.filter(pk__in=[r.pk for r in rows], last_heard_at__isnull=False).count() == 3
    )


@pytest.mark.parametrize(
    ("bad", "refused_by"),
    [
        ({"intent_type": "x" * 300}, {"postgresql"}),  # longer than the column
        ({"intent_type": "nul \x00 inside"}, {"postgresql"}),
        ({"payload": {"nan": float("nan")}}, {"postgresql", "sqlite"}),
    ],
)
def test_a_value_the_database_refuses_is_refused_and_nothing_is_stored(bad, refused_by):
    rows = _intents(4)
    for name, value in bad.items():
        setattr(rows[2], name, value)
    ids = [r.intent_id for r in rows]
    if connection.vendor not in refused_by:  # SQLite keeps over-long text and NUL
        insert_returning(Intent, rows)
        assert Intent.objects.filter(intent_id__in=ids).count() == 4
        return
    with pytest.raises(REFUSED), transaction.atomic():
        insert_returning(Intent, rows)
    assert not Intent.objects.filter(intent_id__in=ids).exists()


def test_foreign_keys_and_timestamps_round_trip():
    intent = _intents(1)
    insert_returning(Intent, intent)
    at = dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc)
    events = [
        IntentEvent(
            intent=intent[0],
            seq=s,
            event_type="intent.x",
            status="CREATED",
            at=at,
            details={"s": s},
        )
        for s in (1, 2, 3)
    ]
    insert_returning(IntentEvent, events)
    stored = list(
        IntentEvent.objects.filter(intent=intent[0])
        .order_by("seq")
        .values_list("pk", "seq", "at", "details")
    )
    assert stored == [(e.pk, e.seq, at, {"s": e.seq}) for e in events]


def test_update_values_sets_each_rows_values_and_the_constants():
    rows = _intents(6)
    insert_returning(Intent, rows)
    when = dt.datetime(2026, 7, 8, 9, 10, 11, 12, tzinfo=dt.timezone.utc)
    changes = {
        r.pk: (
            {"status": "FAILED", "error": {"message": "x ' \\ \""}}
            if i % 2
            else {"last_seq": 40 + i}
        )
        for i, r in enumerate(rows)
    }
    done = update_values(Intent, changes, {"last_heard_at": when})
    assert done == (connection.vendor == "postgresql")  # elsewhere: the caller's own way
    if not done:
        return
    stored = {
        r[0]: r[1:]
        for r in Intent.objects.filter(pk__in=list(changes)).values_list(
            "pk", "status", "error", "last_seq", "last_heard_at"
        )
    }
    for i, row in enumerate(rows):
        if i % 2:
            assert stored[row.pk] == ("FAILED", {"message": "x ' \\ \""}, row.last_seq, when)
        else:
            assert stored[row.pk] == (row.status, row.error, 40 + i, when)
