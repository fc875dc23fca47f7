"""Calling the receivers of one signal for the signal outbox (:mod:`django_axme.sync.dispatch`).

- :func:`live_receivers`: the receivers ``Signal.send`` would call, in connection order;
- :func:`call_isolated`: one receiver call isolated as ``with transaction.atomic():`` would
  isolate it, its savepoint opened only when the receiver first sends SQL.

Nothing here logs, records or commits: the caller owns the delivery transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import DatabaseError, Error, transaction
from django.dispatch import Signal

__all__ = ["call_isolated", "live_receivers"]


def live_receivers(signal: Signal, sender: type) -> list[Callable[..., Any]]:
    """The receivers ``signal.send`` would call for ``sender`` (sync ones; async ones wrapped
    with ``async_to_sync``), in connection order."""
    if not signal.has_listeners(sender):
        return []
    found = signal._live_receivers(sender)
    if isinstance(found, tuple):  # Django >= 5.0: (sync receivers, async receivers)
        sync_receivers, async_receivers = found
        if async_receivers:
            from asgiref.sync import async_to_sync

            return [*sync_receivers, *(async_to_sync(r) for r in async_receivers)]
        return list(sync_receivers)
    return list(found)  # pragma: no cover - older Django


def call_isolated(receiver: Callable[..., Any], **kwargs: Any) -> None:
    """Call ``receiver(**kwargs)`` as ``with transaction.atomic(): receiver(**kwargs)`` would,
    inside the delivery transaction, but open the savepoint only when the receiver first sends
    SQL through Django's connection (an ``execute_wrapper``): a receiver that does not touch
    the database (most of them, most of the time: they skip intents that are not theirs) costs
    no round trip, and one that does gets its savepoint before its first statement.

    The outcome is the one of the plain ``atomic`` block: a receiver that raises has its
    statements rolled back (to the savepoint, if it sent any) and the ``on_commit`` callbacks
    it registered dropped, then the exception propagates; one that returns with the
    transaction marked for rollback (an error it swallowed inside ``atomic(savepoint=False)``,
    or ``set_rollback(True)``) is rolled back the same way without an exception; otherwise its
    savepoint is released (a failing release is rolled back and raised, as ``atomic`` does).
    Statements sent on the raw driver connection (``connection.connection``) bypass Django's
    cursor and its wrappers: they are not seen, so they get no savepoint of their own.
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:  # pragma: no cover - delivery always runs in one
        with transaction.atomic():
            receiver(**kwargs)
        return
    state: dict[str, Any] = {"sid": None, "opening": False}

    def open_savepoint(execute: Any, sql: Any, params: Any, many: Any, context: Any) -> Any:
        if state["sid"] is None and not state["opening"] and not connection.needs_rollback:
            state["opening"] = True  # the SAVEPOINT statement itself passes through here
            try:
                state["sid"] = connection.savepoint()
            finally:
                state["opening"] = False
        return execute(sql, params, many, context)

    callbacks = len(connection.run_on_commit)

    def undo() -> None:
        sid = state["sid"]
        connection.needs_rollback = False
        del connection.run_on_commit[callbacks:]
        if sid is not None:
            try:
                connection.savepoint_rollback(sid)
                connection.savepoint_commit(sid)
            except Error:  # as ``atomic``: mark for rollback at a higher level
                connection.needs_rollback = True

    try:
        with connection.execute_wrapper(open_savepoint):
            receiver(**kwargs)
    except BaseException:
        undo()
        raise
    if connection.needs_rollback:
        undo()
        return
    if state["sid"] is not None:
        try:
            connection.savepoint_commit(state["sid"])
        except DatabaseError:
            undo()
            raise
