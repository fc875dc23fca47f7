"""Signal arguments handed over in memory, within one process, from the writer that recorded a
signal to the delivery that claims its row (the outbox's fast path; used only by
:mod:`django_axme.sync.dispatch`). Whatever is not found here is read from the database, as a
delivery in another process does, so these tables only ever save reads.

Two tables:

- **committed** (shared by the threads of the process): the arguments of the signals of a
  committed transaction, from its after-commit delivery's start to its end
  (:func:`publish`, :func:`withdraw`). A delivery in another thread that claims such a row
  (the same intent, written by two threads) gets the writer's instances. Entries are added
  after the commit only, so they never describe a rolled-back change.
- **recorded here** (one per thread): the arguments of the signals this thread recorded, from
  the recording (:func:`remember`) to the end of the after-commit delivery of the call that
  recorded them. One transaction often records its signals in several calls (the intents it
  inserts, their events, what the caller adds) and registers one delivery per call; the first
  delivery claims the rows of all of them and takes their arguments from here. A row is only
  claimed after the transaction that inserted it committed; only databases that never hand a
  rolled-back row's primary key out again use this table (:data:`KEYS_NEVER_REUSED`:
  sequences are not transactional), so an entry describes a committed row or is never looked
  up; an entry is also used only for a row with the same signal, rows and arguments
  (:func:`identity`). Entries of rolled-back transactions are dropped once the table grows
  past :data:`RECORDED_HERE_MAX`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "KEYS_NEVER_REUSED",
    "RECORDED_HERE_MAX",
    "Identity",
    "Kwargs",
    "identity",
    "known",
    "publish",
    "recorded_here",
    "remember",
    "withdraw",
]

Kwargs = dict[str, Any]
Identity = tuple[Any, ...]

#: Database vendors whose primary keys are never handed out again after a rollback.
KEYS_NEVER_REUSED = frozenset({"postgresql"})
#: Entries a thread's table may hold before the ones left by rollbacks are dropped.
RECORDED_HERE_MAX = 50_000

_committed: dict[int, Kwargs] = {}
_committed_lock = threading.Lock()
_here = threading.local()


def identity(
    signal: str,
    intent_id: int | None,
    event_id: int | None,
    approval_id: int | None,
    decision_id: int | None,
    arguments: Any,
) -> Identity:
    """What a pending row says (its signal, the rows it names and its plain arguments): an
    entry is handed over only for a row that says the same."""
    return (signal, intent_id, event_id, approval_id, decision_id, dict(arguments or {}))


def recorded_here() -> dict[int, tuple[Identity, Kwargs]]:
    """This thread's table: pending row pk -> (its identity, its arguments)."""
    table: dict[int, tuple[Identity, Kwargs]] | None = getattr(_here, "recorded", None)
    if table is None:
        table = _here.recorded = {}
    return table


def remember(vendor: str, entries: Iterable[tuple[int, Identity, Kwargs]]) -> None:
    """Keep ``(pk, identity, arguments)`` of rows this thread just recorded, on a database
    whose keys are never reused (else nothing)."""
    if vendor not in KEYS_NEVER_REUSED:
        return
    table = recorded_here()
    if len(table) > RECORDED_HERE_MAX:
        table.clear()  # left by rolled-back transactions; only saved reads are lost
    for pk, ident, kwargs in entries:
        table[pk] = (ident, kwargs)


def publish(cache: Mapping[int, Kwargs]) -> None:
    """A committed call's arguments, for the other threads' deliveries."""
    with _committed_lock:
        _committed.update(cache)


def withdraw(cache: Mapping[int, Kwargs]) -> None:
    """The call's own delivery is over: forget its arguments in both tables."""
    with _committed_lock:
        for pk in cache:
            _committed.pop(pk, None)
    table = recorded_here()
    for pk in cache:
        table.pop(pk, None)


def known(rows: Sequence[Any]) -> dict[int, Kwargs]:
    """The arguments held in memory for claimed ``rows`` (objects with ``pk``, ``signal``,
    ``intent_id``, ``event_id``, ``approval_id``, ``decision_id`` and ``arguments``): from
    this thread's table when the identity matches, else from the committed table."""
    table = recorded_here()
    found: dict[int, Kwargs] = {}
    for r in rows:
        entry = table.get(r.pk)
        if entry is not None and entry[0] == identity(
            r.signal, r.intent_id, r.event_id, r.approval_id, r.decision_id, r.arguments
        ):
            found[r.pk] = entry[1]
    rest = [r for r in rows if r.pk not in found]
    if rest:
        with _committed_lock:
            found.update({r.pk: _committed[r.pk] for r in rest if r.pk in _committed})
    return found
