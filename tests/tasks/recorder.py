"""Test-only signal recorder, imported by worker processes (``CELERY_IMPORTS`` in
``worker_settings``): every django-axme signal delivered in the worker is appended as one JSON
line to the file named by ``AXME_SIGNAL_LOG`` (one ``write`` per line, ``O_APPEND``), so
the test process can read exactly what fired, where and when. Not part of the package.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from celery import shared_task
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


@receiver(signals.intent_created, dispatch_uid="axme-test-recorder-created")
def _created(sender: Any, intent: Any, **kwargs: Any) -> None:
    write({"signal": "intent_created", "intent_id": intent.intent_id})


@receiver(signals.intent_status_changed, dispatch_uid="axme-test-recorder-status")
def _status(
    sender: Any, intent: Any, previous_status: str, status: str, event: Any, **kw: Any
) -> None:
    write(
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
        write({"signal": name, "intent_id": intent.intent_id, "seq": getattr(event, "seq", None)})

    return handler


for _name in ("intent_completed", "intent_failed", "intent_canceled", "intent_timed_out"):
    getattr(signals, _name).connect(
        _terminal(_name), weak=False, dispatch_uid=f"axme-test-recorder-{_name}"
    )


@receiver(signals.approval_requested, dispatch_uid="axme-test-recorder-approval")
def _approval(sender: Any, approval: Any, **kwargs: Any) -> None:
    write(
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
    """Read the recorded lines (the test process side)."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@shared_task(name="tests.tasks.recorder.record_error")
def record_error(request: Any, exc: BaseException, traceback: Any) -> None:
    """Errback of a chain in the tests: writes the error the chain ended with."""
    write({"signal": "chain_error", "error": type(exc).__name__, "message": str(exc)})
