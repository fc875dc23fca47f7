"""The batched event writer: the events of any number of intents in one transaction.

:func:`ingest_batch` applies the rules of :mod:`django_axme.sync.events` (store each event
once, move the status forward only, signal each transition once after commit) to many intents
at once, with a number of SQL queries that does not depend on the size of the batch:

1. one ``SELECT ... FOR UPDATE`` locks the mirror rows of every intent in the batch (ordered
   by primary key, so two batches sharing intents lock them in the same order), plus one
   ``INSERT ... RETURNING`` for the intents not mirrored yet;
2. at most one ``SELECT`` of the already stored seqs, only for events at or below an intent's
   ``last_seq`` (a newer event cannot be stored yet: ``last_seq`` is the highest stored seq);
3. one ``INSERT ... RETURNING`` of the new events;
4. one ``UPDATE ... CASE`` of the intents (cursor, status, waiting reason, outcome, heard at);
5. one ``SELECT`` of the open approvals of the intents that moved (settled in the same
   transaction, as before);
6. one ``INSERT`` of the pending-signal rows (the crash-safe outbox of
   :mod:`django_axme.sync.dispatch`), delivered after commit in one delivery pass.

"Does not grow" holds up to the parameter limit of one statement (no limit on PostgreSQL;
about 3,600 events per insert on SQLite) and up to
:data:`~django_axme.sync.dispatch.DELIVERY_BATCH` signals per delivery transaction.

Failure isolation: bad event data is cleaned or skipped at the parsing edge with a WARNING
naming the intent and the field (:mod:`django_axme.sync.remote`); an event the database still
refuses sends the insert one event per savepoint so only that event is lost (an ERROR with
the intent and seq); an unusable remote id is skipped with a WARNING. If the database refuses
an intent row itself (``DataError``), the batch is written again one intent per savepoint and
only that intent is left out (an ERROR). A lock timeout or a lost connection
(``OperationalError``) rolls the whole batch back and is raised: the caller retries it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import DataError, IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from django_axme import signals
from django_axme.exceptions import AxmeError
from django_axme.models import Intent, IntentEvent
from django_axme.sync import events as _events
from django_axme.sync.bulk import insert_returning, update_rows
from django_axme.sync.dispatch import Outgoing, queue_signals
from django_axme.sync.events import (
    REFUSED,
    IngestResult,
    apply_events,
    event_row,
    parse_batch,
    stub_type,
)
from django_axme.sync.intents import lock_intent
from django_axme.sync.remote import RemoteDataError, RemoteEvent, clip, storable_id

logger = logging.getLogger("django_axme.sync")

__all__ = ["BatchItem", "ingest_batch", "lock_intents"]

#: One item of a batch: a mirror row or a remote intent id, and that intent's raw events.
BatchItem = tuple["Intent | str", Iterable[Mapping[str, Any]]]

#: The intent columns the writer may change (besides ``last_heard_at``/``updated_at``).
_STATE_FIELDS = ("last_seq", "status", "waiting_reason", "result", "error", "intent_type")


class _Refused(AxmeError):
    """The fast attempt met a row the database refused: make a careful attempt (internal,
    never raised out of :func:`ingest_batch`)."""


def _insert_or_retry(model: Any, objs: list[Any]) -> None:
    try:
        insert_returning(model, objs)
    except REFUSED as exc:
        raise _Refused(str(exc)) from exc


@dataclass
class _Item:
    """One intent of the batch, parsed (its events merged if it came several times)."""

    target: Intent | str
    hint: str
    raw: list[Any]
    parsed: list[RemoteEvent]
    skipped: int
    duplicates: int


def ingest_batch(items: Iterable[BatchItem], *, held: Iterable[Intent] = ()) -> list[IngestResult]:
    """Store and apply the events of many intents in one transaction (module docstring).

    ``items``: pairs of (mirror row or remote intent id, its raw events); an intent may come
    more than once (its events are merged). An id not mirrored yet gets a new row and
    ``intent_created``. Returns one :class:`~django_axme.sync.events.IngestResult` per
    distinct intent, in order of first appearance (an unusable id, or a row that no longer
    exists, has none). Idempotent; signals go out after the outermost commit, each transition
    once, a failing receiver isolated (:mod:`django_axme.sync.dispatch`). Runs in its own
    savepoint inside an outer transaction.

    ``held``: mirror rows of ``items`` that the caller inserted earlier in the current
    transaction (so they are locked by it and its instances are what the database holds):
    they are used as they are instead of being selected again. Only the fast attempt uses
    them; a careful attempt after a refusal selects every row.
    """
    work = _prepare(items)
    if not work:
        return []
    try:  # the fast attempt: no savepoint around the inserts
        return _write(work, careful=False, held={r.pk: r for r in held if r.pk is not None})
    except _Refused:
        pass  # rolled back as a whole; the careful attempt below isolates the refusal
    try:
        return _write(work, careful=True)
    except DataError as exc:
        if len(work) == 1:
            hint = work[0].hint
            logger.error(
                "intent %s: the database refused the mirror row (%s); nothing stored", hint, exc
            )
            raise RemoteDataError(
                f"intent {hint}: the database refused the mirror row: {exc}"
            ) from exc
    results: list[IngestResult] = []
    for one in work:
        try:
            results.extend(_write([one], careful=True))
        except DataError as exc:
            logger.error(
                "intent %s: the database refused the mirror row (%s); its events were not "
                "stored, the rest of the batch was",
                one.hint,
                exc,
            )
    return results


def _prepare(items: Iterable[BatchItem]) -> list[_Item]:
    merged: dict[tuple[str, Any], _Item] = {}
    for target, events in items:
        if isinstance(target, Intent):
            key: tuple[str, Any] = ("pk", target.pk)
            hint = target.intent_id or f"(row #{target.pk})"
        elif storable_id(target) is None:
            logger.warning(
                "ingest_batch: unusable remote intent id %.80r skipped", clip(target, 80)
            )
            continue
        else:
            key, hint = ("id", target), target
        found = merged.get(key)
        if found is None:
            merged[key] = _Item(target, hint, list(events), [], 0, 0)
        else:
            found.raw.extend(events)
    for item in merged.values():
        item.parsed, item.skipped, item.duplicates = parse_batch(item.raw, item.hint)
    return list(merged.values())


def lock_intents(
    work: list[_Item], careful: bool = True, held: Mapping[int, Intent] | None = None
) -> tuple[dict[int, Intent], set[int], dict[int, list[_Item]]]:
    """Lock (and create if needed) the mirror rows of ``work``: one ``SELECT ... FOR UPDATE``
    and one insert (none for the ``held`` rows, already locked by this transaction). Returns
    rows by pk, the pks created now, and the items of each pk."""
    held = held or {}
    targets = {i.target.pk for i in work if isinstance(i.target, Intent)}
    pks = sorted(pk for pk in targets if pk not in held)
    ids = sorted({i.target for i in work if isinstance(i.target, str)})
    found = [held[pk] for pk in sorted(targets) if pk in held]
    if pks or ids:
        found += list(
            Intent.objects.select_for_update()
            .filter(Q(pk__in=pks) | Q(intent_id__in=ids))
            .order_by("pk")
        )
    rows = {r.pk: r for r in found}
    by_id = {r.intent_id: r for r in found if r.intent_id}
    created: set[int] = set()
    missing = [i for i in ids if i not in by_id]
    if missing:
        parsed_of = {i.target: i.parsed for i in work if isinstance(i.target, str)}
        stubs = [Intent(intent_id=i, intent_type=stub_type(parsed_of[i])) for i in missing]
        try:
            if careful:
                with transaction.atomic():
                    insert_returning(Intent, stubs)
            else:
                _insert_or_retry(Intent, stubs)
        except IntegrityError:  # another writer mirrored some of them meanwhile
            stubs = []
            for remote_id in missing:
                row, new = lock_intent(remote_id)
                if new:
                    row.intent_type = stub_type(parsed_of[remote_id])
                    row.save(update_fields=["intent_type"])
                stubs.append(row)
                created.update([row.pk] if new else [])
        else:
            created.update(s.pk for s in stubs)
        for row in stubs:
            rows[row.pk] = row
            by_id[row.intent_id or ""] = row
    items_of: dict[int, list[_Item]] = {}
    for item in work:
        target = item.target
        mine = by_id.get(target) if isinstance(target, str) else rows.get(target.pk)
        if mine is None:
            logger.warning("ingest_batch: intent row %s no longer exists; skipped", item.hint)
            continue
        items_of.setdefault(mine.pk, []).append(item)
    return rows, created, items_of


def _write(
    work: list[_Item], *, careful: bool, held: Mapping[int, Intent] | None = None
) -> list[IngestResult]:
    """One attempt. ``careful=False``: the inserts run without savepoints, so anything the
    database refuses rolls the attempt back (the caller then makes a careful one, in which a
    refused event or a concurrently mirrored intent costs only itself)."""
    with transaction.atomic():
        rows, created, items_of = lock_intents(work, careful, held)
        events_of, merged_duplicates = _merge_items(items_of)
        stored = _stored_seqs(rows, events_of)
        fresh, counts = _insert_events(rows, events_of, stored, careful)
        now = timezone.now()
        results: list[IngestResult] = []
        outgoing: list[Outgoing] = []
        changes: dict[int, dict[str, Any]] = {}
        moved: list[Intent] = []
        for pk, items in items_of.items():
            row = rows[pk]
            before = {name: getattr(row, name) for name in _STATE_FIELDS}
            transitions, late = apply_events(row, fresh.get(pk, []))
            row.last_heard_at = row.updated_at = now
            diff = {n: getattr(row, n) for n in _STATE_FIELDS if getattr(row, n) != before[n]}
            if diff:
                changes[pk] = diff
            if pk in created:
                outgoing.append(Outgoing(signals.intent_created, intent=row))
            outgoing.extend(_events._signals_of(row, transitions))
            outgoing.extend(_events._notable(row, fresh.get(pk, [])))
            if transitions:
                moved.append(row)
            known, refused = counts.get(pk, (0, 0))
            results.append(
                IngestResult(
                    stored=len(fresh.get(pk, [])),
                    transitions=transitions,
                    intent=row,
                    duplicates=sum(i.duplicates for i in items) + known + merged_duplicates[pk],
                    skipped=sum(i.skipped for i in items) + refused,
                    late=late,
                    created=pk in created,
                )
            )
        changed = sorted({name for diff in changes.values() for name in diff})
        update_rows(
            Intent,
            [rows[pk] for pk in items_of],
            changed,
            constants={"last_heard_at": now, "updated_at": now},
        )
        queue_signals(outgoing)
        if moved:
            from django_axme.sync.approvals import settle_after_intents_moved

            settle_after_intents_moved(moved)
    return results


def _merge_items(
    items_of: dict[int, list[_Item]],
) -> tuple[dict[int, list[RemoteEvent]], dict[int, int]]:
    """The parsed events of each row, ascending and unique by seq (two items naming one row,
    by pk and by remote id, are merged; the first copy of a seq wins), and the number of
    copies dropped per row."""
    out: dict[int, list[RemoteEvent]] = {}
    dropped: dict[int, int] = {}
    for pk, items in items_of.items():
        dropped[pk] = 0
        if len(items) == 1:
            out[pk] = items[0].parsed
            continue
        by_seq: dict[int, RemoteEvent] = {}
        for item in items:
            for event in item.parsed:
                if event.seq in by_seq:
                    dropped[pk] += 1
                else:
                    by_seq[event.seq] = event
        out[pk] = [by_seq[s] for s in sorted(by_seq)]
    return out, dropped


def _stored_seqs(
    rows: dict[int, Intent], events_of: dict[int, list[RemoteEvent]]
) -> set[tuple[int, int]]:
    """(intent pk, seq) already stored, among the events at or below each row's ``last_seq``
    (one query, none when every event is newer than its cursor)."""
    condition = Q()
    for pk, events in events_of.items():
        old = [e.seq for e in events if e.seq <= rows[pk].last_seq]
        if old:
            condition |= Q(intent_id=pk, seq__gte=old[0], seq__lte=old[-1])
    if not condition:
        return set()
    return set(IntentEvent.objects.filter(condition).values_list("intent_id", "seq"))


def _insert_events(
    rows: dict[int, Intent],
    events_of: dict[int, list[RemoteEvent]],
    stored: set[tuple[int, int]],
    careful: bool,
) -> tuple[dict[int, list[IntentEvent]], dict[int, tuple[int, int]]]:
    """Insert the events not stored yet (one statement). Returns the saved rows of each intent
    (ascending seq) and, per intent, (already stored, refused by the database) counts."""
    counts: dict[int, list[int]] = {}
    pending: list[IntentEvent] = []
    for pk, events in events_of.items():
        known = 0
        for e in events:
            if (pk, e.seq) in stored:
                known += 1
            else:
                pending.append(event_row(rows[pk], e))
        counts[pk] = [known, 0]
    if not careful:
        _insert_or_retry(IntentEvent, pending)
        saved = pending
    else:
        saved = _insert_carefully(pending, counts)
    fresh: dict[int, list[IntentEvent]] = {}
    for ev in saved:
        fresh.setdefault(ev.intent_id, []).append(ev)
    return fresh, {pk: (c[0], c[1]) for pk, c in counts.items()}


def _insert_carefully(
    pending: list[IntentEvent], counts: dict[int, list[int]]
) -> list[IntentEvent]:
    """One insert in a savepoint; if the database refuses it, one savepoint per event."""
    try:
        with transaction.atomic():
            insert_returning(IntentEvent, pending)
        return pending
    except REFUSED as exc:
        logger.warning(
            "the database refused a batch of %d event(s) (%s); storing them one by one",
            len(pending),
            exc,
        )
        return _insert_one_by_one(pending, counts)


def _insert_one_by_one(
    pending: list[IntentEvent], counts: dict[int, list[int]]
) -> list[IntentEvent]:
    kept: list[IntentEvent] = []
    for ev in pending:
        ev.pk = None
        try:
            with transaction.atomic():
                insert_returning(IntentEvent, [ev])
        except IntegrityError:  # stored meanwhile by a writer that bypassed the row lock
            counts[ev.intent_id][0] += 1
            continue
        except REFUSED as one:
            counts[ev.intent_id][1] += 1
            logger.error(
                "intent %s: event seq %s skipped: the database refused it (%s)",
                ev.intent.intent_id,
                ev.seq,
                one,
            )
            continue
        kept.append(ev)
    return kept
