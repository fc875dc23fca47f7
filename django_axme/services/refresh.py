"""Fetch from the gateway and hand what was read to the one writer (:mod:`django_axme.sync`).

(Importable as ``django_axme.refresh`` too, its former path.)

Every path that re-reads remote state (the observer's fallback, the reconcile sweep,
``sync_inbox``, ``manage.py axme_sync`` and the admin's "Refresh from AXME" buttons) goes
through these two functions, so they agree on paging, on cursors and on the order in which an
inbox thread and its intent are read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django_axme import sync
from django_axme.exceptions import AxmeAPIError, AxmeNotFoundError
from django_axme.models import Approval, Intent
from django_axme.sync import idle
from django_axme.sync.approvals import intent_waits_for_human, thread_asks_for_human
from django_axme.sync.remote import MAX_DB_INT, storable_id

logger = logging.getLogger("django_axme.sync")

__all__ = [
    "MAX_EVENT_PAGES",
    "RefreshedIntent",
    "ingest_inbox_thread",
    "ingest_inbox_threads",
    "poll_intents",
    "refresh_intent",
    "refresh_intents",
    "refresh_thread",
]

#: Safety bound on event pages fetched for one intent in one refresh.
MAX_EVENT_PAGES = 1000


@dataclass(frozen=True)
class RefreshedIntent:
    """What one :func:`refresh_intent` call did: the mirror row after it, events stored and
    transitions applied (each transition was signalled once, after commit)."""

    intent: Intent
    stored: int
    transitions: int


def _valid_seqs(events: Iterable[Any]) -> list[int]:
    """The seqs the writer stores (integers in ``1..2**31 - 1``); others are skipped by it."""
    return [
        e["seq"]
        for e in events
        if isinstance(e, Mapping)
        and isinstance(e.get("seq"), int)
        and not isinstance(e["seq"], bool)
        and 1 <= e["seq"] <= MAX_DB_INT
    ]


def refresh_intent(client: Any, intent_id: str, *, since: int | None = None) -> RefreshedIntent:
    """Read one intent (snapshot, then its events after ``since``) into the mirror.

    ``since`` defaults to the mirror's stored cursor (``last_seq``; 0 for an intent not
    mirrored yet). The gateway answers every event after ``since`` at once (two calls in
    all); an answer that says ``has_more`` is followed by the next page, each page ingested in
    its own transaction, so a failure midway keeps what was stored. Idempotent. Raises the
    client's errors (the caller decides what is transient).
    """
    if since is None:
        since = (
            Intent.objects.filter(intent_id=intent_id).values_list("last_seq", flat=True).first()
            or 0
        )
    row = sync.ingest_intent(client.get_intent(intent_id))
    stored = transitions = 0
    for _page in range(MAX_EVENT_PAGES):
        answer = client.list_intent_events(intent_id, since=since or None)
        events = answer.get("events") if isinstance(answer, Mapping) else None
        if not isinstance(events, list):
            logger.warning("intent %s: events answer without an 'events' list", intent_id)
            break
        if not events:
            break
        result = sync.ingest_events(row, events)
        stored += result.stored
        transitions += len(result.transitions)
        row = result.intent
        top = max(_valid_seqs(events), default=since)
        if top <= since or not answer.get("has_more"):
            break
        since = top
    return RefreshedIntent(row, stored, transitions)


def refresh_intents(
    client: Any, intent_ids: Iterable[str], *, since: Mapping[str, int] | None = None
) -> dict[str, RefreshedIntent | Exception]:
    """:func:`refresh_intent` for many intents, their events written in one batch.

    Per intent: the snapshot and the first page of events after its cursor (``since[id]``,
    else the mirror's ``last_seq``) are read and the snapshot is mirrored; then the first pages
    of all of them go to the writer in one :func:`django_axme.sync.ingest_batch` call (one
    transaction, a fixed number of queries); an intent whose answer says ``has_more`` reads
    its further pages with :func:`refresh_intent`. Returns, per id, what was done or the
    exception met (a client error, or a database error while writing its snapshot): one
    intent's failure costs no other. A failure of the batch write itself is raised (nothing of
    it was stored; the cursors did not move, so a retry reads the same events again).
    """
    ids = list(dict.fromkeys(i for i in intent_ids if i))
    cursors = dict(since or {})
    missing = [i for i in ids if i not in cursors]
    if missing:
        for remote_id, seq in Intent.objects.filter(intent_id__in=missing).values_list(
            "intent_id", "last_seq"
        ):
            cursors[remote_id or ""] = seq
    out: dict[str, RefreshedIntent | Exception] = {}
    rows: dict[str, Intent] = {}
    pages: dict[str, list[Any]] = {}
    more: list[str] = []
    for intent_id in ids:
        try:
            rows[intent_id] = sync.ingest_intent(client.get_intent(intent_id))
            answer = client.list_intent_events(intent_id, since=cursors.get(intent_id) or None)
        except Exception as exc:  # reported per intent; the others go on
            out[intent_id] = exc
            continue
        events = answer.get("events") if isinstance(answer, Mapping) else None
        if not isinstance(events, list):
            logger.warning("intent %s: events answer without an 'events' list", intent_id)
            events = []
        pages[intent_id] = events
        top = max(_valid_seqs(events), default=0)
        if answer.get("has_more") and top > (cursors.get(intent_id) or 0):
            more.append(intent_id)
            cursors[intent_id] = top
    written = {
        r.intent.intent_id: r
        for r in sync.ingest_batch((rows[i], e) for i, e in pages.items() if e)
    }
    for intent_id in pages:
        result = written.get(intent_id)
        out[intent_id] = (
            RefreshedIntent(result.intent, result.stored, len(result.transitions))
            if result is not None
            else RefreshedIntent(rows[intent_id], 0, 0)
        )
    for intent_id in more:
        first = out[intent_id]
        if not isinstance(first, RefreshedIntent):
            continue
        try:
            rest = refresh_intent(client, intent_id, since=cursors[intent_id])
        except Exception as exc:
            out[intent_id] = exc
            continue
        out[intent_id] = RefreshedIntent(
            rest.intent, first.stored + rest.stored, first.transitions + rest.transitions
        )
    return out


def poll_intents(client: Any, intent_ids: Iterable[str]) -> dict[str, RefreshedIntent | Exception]:
    """The idle poll's cheap read: one request per intent that did not move.

    Each intent's events after its stored cursor are asked for first (every lifecycle move is
    an event, so an empty answer means the intent did not move, and its snapshot is not read);
    only the intents with news are then read in full by :func:`refresh_intents` (snapshot and
    events, written in one batch, each transition signalled once). Returns, per id, what was
    done or the exception met; one intent's failure costs no other.
    """
    ids = list(dict.fromkeys(i for i in intent_ids if i))
    rows = {r.intent_id: r for r in Intent.objects.filter(intent_id__in=ids)}
    out: dict[str, RefreshedIntent | Exception] = {}
    moved: dict[str, int] = {}
    for intent_id in ids:
        row = rows.get(intent_id)
        cursor = row.last_seq if row is not None else 0
        try:
            answer = client.list_intent_events(intent_id, since=cursor or None)
        except Exception as exc:  # reported per intent; the others go on
            out[intent_id] = exc
            continue
        events = answer.get("events") if isinstance(answer, Mapping) else None
        if row is None or (isinstance(events, list) and _valid_seqs(events)):
            moved[intent_id] = cursor
        else:
            out[intent_id] = RefreshedIntent(row, 0, 0)
    if moved:
        out.update(refresh_intents(client, list(moved), since=moved))
    return out


def _mirror_disagrees(intent: Intent, thread: Mapping[str, Any]) -> bool:
    return intent_waits_for_human(intent) != thread_asks_for_human(thread)


def _unreadable(exc: AxmeAPIError) -> bool:
    """The gateway will not show this intent to us (unknown to it, or not ours to read)."""
    return isinstance(exc, AxmeNotFoundError) or getattr(exc, "status_code", None) == 403


def ingest_inbox_thread(client: Any, thread: Mapping[str, Any]) -> Approval | None:
    """Mirror an inbox thread, reading its intent first when the mirror is behind the thread.

    The mirrored intent decides whether a thread waits for a human
    (:func:`django_axme.sync.ingest_thread`), but the inbox and the event stream are read
    separately, so the thread may be newer than the mirror: it shows a human task while the
    mirror still says ``IN_PROGRESS``, or it is done while the mirror still waits. When the
    two disagree and the mirrored intent is open, the intent's new events are read first
    (one snapshot and one events call); the gateway writes the event before the thread, so the
    mirror is then at least as new as the thread. A thread asking for a human whose intent is
    not mirrored yet has its intent mirrored first, so the approval links to it. A thread of an
    idle intent (off the live stream, :mod:`django_axme.sync.idle`) is a wake-up: its intent
    is read first whatever the thread says, and its idle poll is made due now, so the poll
    hands it back to a live observer if it moved. Otherwise (the thread agrees with the
    mirror, or is no approval) it costs no call.

    An intent the gateway will not show (404, 403) is logged and the thread is judged on its
    own; other client errors are raised before the thread is written, so a caller that retries
    loses nothing. A thread whose ``intent_id`` cannot be stored (see
    :func:`django_axme.sync.ingest_thread`) costs no call either.
    """
    return ingest_inbox_threads(client, [thread])[0]


def ingest_inbox_threads(client: Any, threads: list[Mapping[str, Any]]) -> list[Approval | None]:
    """:func:`ingest_inbox_thread` for a page of threads: the intents of the threads that are
    newer than the mirror are read first, their events written in one batch
    (:func:`refresh_intents`), then each thread is mirrored. Same rules and errors as
    :func:`ingest_inbox_thread` (a client error other than 404/403 is raised before any
    thread of the page is written). Returns the approvals, in the order of ``threads``.
    """
    wanted: dict[str, list[Mapping[str, Any]]] = {}
    for thread in threads:
        intent_id = storable_id(thread.get("intent_id")) if isinstance(thread, Mapping) else None
        if intent_id is not None:
            wanted.setdefault(intent_id, []).append(thread)
    mirrored = {i.intent_id: i for i in Intent.objects.filter(intent_id__in=list(wanted))}
    stale: dict[str, int] = {}
    for intent_id, its_threads in wanted.items():
        intent = mirrored.get(intent_id)
        for thread in its_threads:
            if intent is None:
                behind = thread_asks_for_human(thread)
            else:
                behind = not intent.is_terminal and (
                    intent.idle_since is not None or _mirror_disagrees(intent, thread)
                )
            if behind:
                stale[intent_id] = intent.last_seq if intent else 0
    woken = [i for i in stale if i in mirrored and mirrored[i].idle_since is not None]
    if stale:
        for intent_id, outcome in refresh_intents(client, list(stale), since=stale).items():
            if not isinstance(outcome, Exception):
                continue
            if not isinstance(outcome, AxmeAPIError) or not _unreadable(outcome):
                raise outcome
            for thread in wanted[intent_id]:
                logger.warning(
                    "inbox thread %s: the gateway does not show its intent %s (%s)",
                    thread.get("thread_id"),
                    intent_id,
                    outcome,
                )
    approvals = [sync.ingest_thread(thread) for thread in threads]
    if woken:
        idle.poll_now(woken)
    return approvals


def refresh_thread(client: Any, approval: Approval) -> Approval | None:
    """Re-read an approval's inbox thread into the mirror, then its intent (when known).

    One ``get_inbox_thread`` call with the approval's owner, handed to the writer
    (:func:`django_axme.sync.ingest_thread`), then :func:`refresh_intent` from the mirrored
    cursor. Idempotent. Raises the client's errors; returns the approval as mirrored (``None``
    when the answer was not a thread the writer could store).
    """
    answer = client.get_inbox_thread(approval.thread_id, owner_agent=approval.owner_agent or None)
    thread = answer.get("thread", answer) if isinstance(answer, Mapping) else {}
    mirrored = sync.ingest_thread(thread if isinstance(thread, Mapping) else {})
    intent_id = approval.remote_intent_id or (approval.intent and approval.intent.intent_id)
    if intent_id:
        refresh_intent(client, intent_id, since=approval.intent.last_seq if approval.intent else 0)
    return mirrored
