"""Test-only signal recorder, imported by worker processes (``CELERY_IMPORTS`` in
``worker_settings``). Not part of the package.

Every django-axme signal delivered in the worker is recorded as one JSON row in a table of the
test database (:func:`table_name` of ``AXME_SIGNAL_LOG``), written by the receiver itself, i.e.
inside the delivery transaction: a database effect, which django-axme delivers exactly once
even when the worker is SIGKILLed mid-delivery. (A file written from a receiver would be an
outside effect, which a kill between the write and the delivery's commit may repeat.)
Chain results (not signals) are appended as JSON lines to the ``AXME_SIGNAL_LOG`` file.
:func:`read` returns both, so the test process can see exactly what fired, where and when.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from typing import Any

from celery import shared_task
from django.db import DatabaseError, connection, transaction
from django.dispatch import receiver

from django_axme import signals


def write(record: dict[str, Any]) -> None:
    path = os.environ.get("AXME_SIGNAL_LOG")
    if not path:
        return
    record = {**record, "t": time.time(), "pid": os.getpid()}
    line = (json.dumps(record, default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def table_name(path: str) -> str:
    """The signal table belonging to a signal log path (same name in every process)."""
    return "axme_test_signals_" + hashlib.sha1(path.encode()).hexdigest()[:12]


def ensure_table(path: str) -> None:
    """Create the signal table of ``path`` if needed (autocommit; a lost creation race is
    harmless)."""
    with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {table_name(path)} (line TEXT NOT NULL)")


def write_signal(record: dict[str, Any]) -> None:
    """Insert one signal record in the current (delivery) transaction."""
    path = os.environ.get("AXME_SIGNAL_LOG")
    if not path:
        return
    record = {**record, "t": time.time(), "pid": os.getpid()}
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table_name(path)} (line) VALUES (%s)", [json.dumps(record, default=str)]
        )


if os.environ.get("AXME_SIGNAL_LOG"):  # a worker process of the tests: table ready up front
    ensure_table(os.environ["AXME_SIGNAL_LOG"])
    connection.close()


@receiver(signals.intent_created, dispatch_uid="axme-test-recorder-created")
def _created(sender: Any, intent: Any, **kwargs: Any) -> None:
    write_signal({"signal": "intent_created", "intent_id": intent.intent_id})


@receiver(signals.intent_status_changed, dispatch_uid="axme-test-recorder-status")
def _status(
    sender: Any, intent: Any, previous_status: str, status: str, event: Any, **kw: Any
) -> None:
    write_signal(
        {
            "signal": "intent_status_changed",
            "intent_id": intent.intent_id,
            "previous": previous_status,
            "status": status,
            "seq": getattr(event, "seq", None),
            "event_at": event.at.timestamp() if getattr(event, "at", None) else None,
        }
    )


def _terminal(name: str) -> Any:
    def handler(sender: Any, intent: Any, event: Any, **kwargs: Any) -> None:
        write_signal(
            {"signal": name, "intent_id": intent.intent_id, "seq": getattr(event, "seq", None)}
        )

    return handler


for _name in ("intent_completed", "intent_failed", "intent_canceled", "intent_timed_out"):
    getattr(signals, _name).connect(
        _terminal(_name), weak=False, dispatch_uid=f"axme-test-recorder-{_name}"
    )


@receiver(signals.approval_requested, dispatch_uid="axme-test-recorder-approval")
def _approval(sender: Any, approval: Any, **kwargs: Any) -> None:
    write_signal(
        {
            "signal": "approval_requested",
            "thread_id": approval.thread_id,
            "intent_id": approval.remote_intent_id,
        }
    )


@shared_task(name="tests.tasks.recorder.record_result")
def record_result(result: Any) -> None:
    """The last link of a chain in the tests: writes what it received."""
    write({"signal": "chain_result", "result": result})


def read(path: str) -> list[dict[str, Any]]:
    """Everything recorded for ``path`` (the test process side): the signal table's rows and
    the file's lines, in time order."""
    records: list[dict[str, Any]] = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            records.extend(json.loads(line) for line in fh if line.strip())
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT line FROM {table_name(path)}")
            records.extend(json.loads(line) for (line,) in cursor.fetchall())
    except DatabaseError:
        pass  # no worker created the table: nothing was signalled
    return sorted(records, key=lambda r: r.get("t", 0))


@shared_task(name="tests.tasks.recorder.record_error")
def record_error(request: Any, exc: BaseException, traceback: Any) -> None:
    """Errback of a chain in the tests: writes the error the chain ended with."""
    write({"signal": "chain_error", "error": type(exc).__name__, "message": str(exc)})
