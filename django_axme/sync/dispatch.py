"""The signal outbox: durable, exactly-once-effect delivery of :mod:`django_axme.signals`.

This is the only place that sends the public signals. How a signal travels:

1. **Recorded with the change.** The one writer calls :func:`queue_signals` inside the
   transaction that changes the mirror: one :class:`~django_axme.models.PendingSignal` row per
   signal (one bulk insert per call). The row commits or rolls back with the change: a rolled
   back transaction (or savepoint) leaves no signal behind.
2. **Delivered after commit.** A ``transaction.on_commit`` callback then delivers the pending
   rows of the intents it touched, all of them in one pass (:func:`deliver_groups`: one
   claim query and one delete for up to :data:`DELIVERY_BATCH` signals, whatever the number
   of intents; should that pass fail, intent by intent with :func:`deliver_group`). Each
   delivery is **one transaction**: the rows are claimed (``SELECT ... FOR UPDATE`` on
   PostgreSQL, the ``IMMEDIATE`` write lock on SQLite) and deleted, then every receiver of
   every claimed signal is called inside its own savepoint (opened when the receiver sends
   its first SQL statement: a receiver that does not touch the database costs none; see
   :func:`~django_axme.sync.receivers.call_isolated`). The claim and whatever the receivers
   wrote to the database commit together.
3. **Recovered after a crash.** A process killed after the mirror commit but before the
   delivery commit leaves the rows (and rolls back any partial receiver writes);
   :func:`deliver_pending_signals` (run by the worker at start, by the periodic reconcile task
   and by ``manage.py axme_sync``) delivers them later, in the same way.

Guarantees:

- **exactly once for database effects**: a delivery either commits (the rows are gone, the
  receivers' writes are kept) or rolls back as a whole (the rows stay, the writes are undone)
  and is delivered again; two deliverers never both commit the same row (the second one finds
  it locked, waits, and then finds it deleted);
- **at least once for effects outside the database** (an e-mail, an HTTP call, a file) done
  directly in a receiver: a crash after the receiver ran but before the delivery committed
  repeats it. A receiver that needs at-most-once for such an effect registers it with
  ``transaction.on_commit`` (it then runs after the delivery commits);
- **order**: the signals of one intent are delivered in the order they were recorded (for a
  batch of events: ascending ``seq``); concurrent deliverers of one intent wait for each other.
  There is no order between different intents;
- **isolation**: a receiver that raises ``Exception`` is logged on the ``django_axme.signals``
  logger with the signal name and the remote intent id, its savepoint is rolled back, the other
  receivers still run and the signal counts as delivered. A ``BaseException`` (e.g.
  ``KeyboardInterrupt``, ``SystemExit``) aborts the delivery: nothing of it is committed and the
  rows stay pending.

Signal arguments are rebuilt from the stored ids when a row is delivered by another process
than the one that recorded it, or after that process's after-commit delivery is over (the
``intent``/``approval`` instance is then the row as it is at delivery time); the normal
after-commit path hands over the writer's own instances (:mod:`django_axme.sync.handover`),
also when a delivery in another thread of the same process claims the row first (two threads
writing the same intent), and, on PostgreSQL, for the signals that several calls of one
transaction recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any, NamedTuple

from django.db import connections, transaction
from django.db.models import Q
from django.dispatch import Signal
from django.utils import timezone

from django_axme import signals
from django_axme.models import Approval, ApprovalDecision, Intent, IntentEvent, PendingSignal
from django_axme.sync import handover
from django_axme.sync.bulk import converted_rows, insert_plain
from django_axme.sync.handover import Kwargs
from django_axme.sync.receivers import call_isolated, live_receivers

logger = logging.getLogger("django_axme.signals")

__all__ = [
    "Outgoing",
    "deliver_group",
    "deliver_groups",
    "deliver_pending_signals",
    "queue_signals",
    "signal_name",
]

_NAMES: dict[int, str] = {id(getattr(signals, name)): name for name in signals.__all__}

#: Rows claimed per delivery transaction (a larger backlog takes several).
DELIVERY_BATCH = 5000

#: ``("i", intent pk)`` for intent-linked signals, ``("a", approval pk)`` for approval signals
#: of an approval whose intent is not mirrored. Signals of one key are delivered in order.
GroupKey = tuple[str, int]


def signal_name(signal: Signal) -> str:
    return _NAMES.get(id(signal), repr(signal))


@dataclass(frozen=True)
class Outgoing:
    """One signal to record: the signal and the rows its arguments are built from."""

    signal: Signal
    intent: Intent | None = None
    remote_intent_id: str = ""
    event: IntentEvent | None = None
    approval: Approval | None = None
    decision: ApprovalDecision | None = None
    previous_status: str | None = None
    status: str | None = None

    def kwargs(self) -> Kwargs:
        """The keyword arguments receivers get (besides ``signal`` and ``sender``)."""
        return _arguments(
            signal_name(self.signal),
            intent=self.intent,
            event=self.event,
            approval=self.approval,
            decision=self.decision,
            plain={"previous_status": self.previous_status, "status": self.status},
        )


def _arguments(
    name: str,
    *,
    intent: Intent | None,
    event: IntentEvent | None,
    approval: Approval | None,
    decision: ApprovalDecision | None,
    plain: dict[str, Any],
) -> Kwargs:
    if name == "intent_created":
        return {"intent": intent}
    if name == "intent_status_changed":
        return {
            "intent": intent,
            "previous_status": plain.get("previous_status"),
            "status": plain.get("status"),
            "event": event,
        }
    if name.startswith("intent_"):
        return {"intent": intent, "event": event}
    if name == "approval_requested":
        return {"approval": approval}
    if name == "approval_decided":
        return {
            "approval": approval,
            "decision": decision,
            "user": decision.user if decision is not None else None,
        }
    raise ValueError(f"unknown django-axme signal {name!r}")


def _sender(name: str) -> type:
    return Approval if name.startswith("approval_") else Intent


def _key(intent_pk: int | None, approval_pk: int | None) -> GroupKey | None:
    if intent_pk is not None:
        return ("i", intent_pk)
    if approval_pk is not None:
        return ("a", approval_pk)
    return None


def queue_signals(items: Sequence[Outgoing]) -> None:
    """Record ``items`` as pending signals in the current transaction (one insert) and
    deliver them after the outermost commit (see the module docstring).

    Must be called inside ``transaction.atomic`` with saved instances. Nothing is delivered if
    the transaction (or the savepoint the call ran in) rolls back.
    """
    if not items:
        return
    now = timezone.now()
    rows = []
    for item in items:
        intent = item.intent
        if intent is None and item.approval is not None and item.approval.intent_id is not None:
            intent = item.approval.intent
        remote_id = item.remote_intent_id or (intent.intent_id if intent is not None else "")
        arguments = {
            k: v
            for k, v in (("previous_status", item.previous_status), ("status", item.status))
            if v is not None
        }
        rows.append(
            (
                signal_name(item.signal),
                _pk(intent),
                (remote_id or "")[:64],
                _pk(item.event),
                _pk(item.approval),
                _pk(item.decision),
                arguments,
                now,
            )
        )
    pks = insert_plain(PendingSignal, _COLUMNS, rows)
    cache: dict[int, Kwargs] = {
        pk: item.kwargs() for pk, item in zip(pks, items, strict=True) if pk is not None
    }
    handover.remember(
        connections[PendingSignal.objects.db].vendor,
        (
            (pk, handover.identity(row[0], row[1], row[3], row[4], row[5], row[6]), cache[pk])
            for pk, row in zip(pks, rows, strict=True)
            if pk is not None
        ),
    )
    keys = _unique_keys((row[1], row[4]) for row in rows)
    transaction.on_commit(partial(_deliver_after_commit, keys, cache), robust=True)


#: The columns :func:`queue_signals` writes, in the order of its rows.
_COLUMNS = (
    "signal",
    "intent_id",
    "remote_intent_id",
    "event_id",
    "approval_id",
    "decision_id",
    "arguments",
    "created_at",
)


def _pk(row: Any) -> Any:
    if row is None:
        return None
    if row.pk is None:
        raise ValueError(
            f"queue_signals needs saved instances, got an unsaved {type(row).__name__}"
        )
    return row.pk


def _unique_keys(pairs: Iterable[tuple[int | None, int | None]]) -> list[GroupKey]:
    keys: dict[GroupKey, None] = {}
    for intent_pk, approval_pk in pairs:
        key = _key(intent_pk, approval_pk)
        if key is not None:
            keys.setdefault(key, None)
    return list(keys)


def _deliver_after_commit(keys: list[GroupKey], cache: dict[int, Kwargs]) -> None:
    handover.publish(cache)
    try:
        _deliver_keys(keys, cache)
    finally:
        handover.withdraw(cache)


def _deliver_keys(keys: list[GroupKey], cache: dict[int, Kwargs]) -> None:
    try:
        deliver_groups(keys, cache)
        return
    except Exception:
        logger.exception("batched signal delivery failed; delivering intent by intent")
    for key in keys:
        try:
            deliver_group(key, cache)
        except Exception:
            logger.exception(
                "signals of %s #%s not delivered now; they stay pending for "
                "deliver_pending_signals()",
                "intent" if key[0] == "i" else "approval",
                key[1],
            )


def _groups_filter(keys: Iterable[GroupKey]) -> Q:
    intents = [pk for kind, pk in keys if kind == "i"]
    approvals = [pk for kind, pk in keys if kind == "a"]
    condition = Q(intent_id__in=intents) if intents else Q(pk__in=[])
    if approvals:
        condition |= Q(intent__isnull=True, approval_id__in=approvals)
    return condition


def deliver_group(key: GroupKey, cache: dict[int, Kwargs] | None = None) -> int:
    """Deliver every pending signal of one intent (or intent-less approval), in order.

    :func:`deliver_groups` for one key. Returns the number delivered.
    """
    return deliver_groups([key], cache)


def deliver_groups(keys: Sequence[GroupKey], cache: dict[int, Kwargs] | None = None) -> int:
    """Deliver every pending signal of the given intents (or intent-less approvals): the
    signals of each key in the order they were recorded, no order between keys.

    Each batch of up to :data:`DELIVERY_BATCH` rows is one transaction: claim (one
    ``SELECT ... FOR UPDATE`` in primary-key order, so concurrent deliverers lock in the same
    order) and delete (one query) the rows, call the receivers (each in a savepoint), commit.
    Rows another deliverer holds are waited for and then skipped (already deleted). Returns
    the number delivered.
    """
    if not keys:
        return 0
    condition = _groups_filter(keys)
    delivered = 0
    while True:
        with transaction.atomic():
            rows = _claim(condition)
            if not rows:
                return delivered
            for row, kwargs in _rebuild(rows, cache or {}):
                signal = getattr(signals, row.signal)
                _send(signal, _sender(row.signal), kwargs, row.remote_intent_id or None)
        delivered += len(rows)
        if len(rows) < DELIVERY_BATCH:
            return delivered


class _Claimed(NamedTuple):
    """A claimed (deleted) pending signal row: what delivery needs of it."""

    pk: int
    signal: str
    intent_id: int | None
    remote_intent_id: str
    event_id: int | None
    approval_id: int | None
    decision_id: int | None
    arguments: Any


_CLAIMED = (
    *("id", "signal", "intent_id", "remote_intent_id", "event_id", "approval_id"),
    *("decision_id", "arguments"),
)


def _claim(condition: Q) -> list[_Claimed]:
    """Lock and delete up to :data:`DELIVERY_BATCH` pending rows matching ``condition``
    (oldest first) and return them, in primary-key order. One statement on PostgreSQL and
    SQLite (``DELETE ... WHERE pk IN (SELECT ... FOR UPDATE) RETURNING``); two elsewhere."""
    claimed = (
        PendingSignal.objects.select_for_update().filter(condition).order_by("pk")[:DELIVERY_BATCH]
    )
    connection = connections[claimed.db]
    if connection.vendor not in ("postgresql", "sqlite"):
        found = list(claimed)
        PendingSignal.objects.filter(pk__in=[r.pk for r in found]).delete()
        return [_Claimed(*(getattr(r, name) for name in _CLAIMED)) for r in found]
    inner, params = claimed.values("pk").query.sql_with_params()
    opts = PendingSignal._meta
    fields = [opts.get_field(name) for name in _CLAIMED]
    table = connection.ops.quote_name(opts.db_table)
    pk = connection.ops.quote_name(str(opts.pk.column))
    returning = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)  # type: ignore[union-attr]
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE {pk} IN ({inner}) RETURNING {returning}",  # noqa: S608
            params,
        )
        found = cursor.fetchall()
    rows = [
        _Claimed(*values) for values in converted_rows(PendingSignal, fields, found, connection)
    ]
    rows.sort(key=lambda r: r.pk)
    return rows


def _rebuild(rows: list[_Claimed], cache: dict[int, Kwargs]) -> Iterable[tuple[_Claimed, Kwargs]]:
    """The receivers' arguments of each row: the writer's instances when this process recorded
    the row, else re-read from the database (a few queries per batch). Rows that cannot be
    rebuilt (an unknown signal name) are logged and dropped."""
    missing = [r for r in rows if r.pk not in cache]
    if missing:
        held = handover.known(missing)
        if held:
            cache = {**cache, **held}
            missing = [r for r in missing if r.pk not in held]
    intents = Intent.objects.in_bulk({r.intent_id for r in missing if r.intent_id})
    events = IntentEvent.objects.in_bulk({r.event_id for r in missing if r.event_id})
    approvals = Approval.objects.in_bulk({r.approval_id for r in missing if r.approval_id})
    decisions = ApprovalDecision.objects.select_related("user").in_bulk(
        {r.decision_id for r in missing if r.decision_id}
    )
    out = []
    for row in rows:
        if row.signal not in signals.__all__:
            logger.error("dropped pending signal #%s: unknown signal %r", row.pk, row.signal)
            continue
        if row.pk in cache:
            out.append((row, cache[row.pk]))
            continue
        out.append(
            (
                row,
                _arguments(
                    row.signal,
                    intent=intents.get(row.intent_id) if row.intent_id else None,
                    event=events.get(row.event_id) if row.event_id else None,
                    approval=approvals.get(row.approval_id) if row.approval_id else None,
                    decision=decisions.get(row.decision_id) if row.decision_id else None,
                    plain=dict(row.arguments or {}),
                ),
            )
        )
    return out


def _send(signal: Signal, sender: type, kwargs: Kwargs, intent_id: str | None) -> None:
    """Call each receiver in its own savepoint
    (:func:`~django_axme.sync.receivers.call_isolated`); log (never raise) an ``Exception``."""
    for receiver in live_receivers(signal, sender):
        try:
            call_isolated(receiver, signal=signal, sender=sender, **kwargs)
        except Exception as exc:
            logger.error(
                "receiver %s of %s failed for intent %s: %s",
                getattr(receiver, "__qualname__", repr(receiver)),
                signal_name(signal),
                intent_id,
                exc,
                exc_info=(type(exc), exc, exc.__traceback__),
            )


def deliver_pending_signals(*, older_than_seconds: float = 0.0, limit: int = 10_000) -> int:
    """Deliver the signals a crash left pending; return how many were delivered.

    Looks at up to ``limit`` rows recorded at least ``older_than_seconds`` ago and delivers,
    intent by intent (oldest first), every pending signal of those intents, exactly as the
    after-commit path does (see the module docstring). Safe to run at any time and in any
    number of processes at once: a signal is claimed by one deliverer only. The intents are
    delivered together (:func:`deliver_groups`); should that fail, intent by intent, where a
    failure while delivering one intent's signals is logged and leaves them pending while the
    others go on.
    Call it outside a transaction (inside one, the deliveries commit only with it).
    """
    if older_than_seconds < 0:
        raise ValueError("older_than_seconds must be >= 0")
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    candidates = (
        PendingSignal.objects.filter(created_at__lte=cutoff)
        .order_by("pk")
        .values_list("intent_id", "approval_id")[:limit]
    )
    keys = _unique_keys(candidates)
    delivered = 0
    try:
        delivered = deliver_groups(keys)
        keys = []
    except Exception:
        logger.exception("batched recovery of pending signals failed; intent by intent")
    for key in keys:
        try:
            delivered += deliver_group(key)
        except Exception:
            logger.exception(
                "pending signals of %s #%s not delivered; next recovery",
                "intent" if key[0] == "i" else "approval",
                key[1],
            )
    if delivered:
        logger.info("delivered %s pending signal(s)", delivered)
    return delivered
