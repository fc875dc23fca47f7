"""Signal probe loaded by the benchmarks' workers (``CELERY_IMPORTS``).

- ``AXME_BENCH_SIGNALS`` (a file): one line per ``intent_status_changed``
  (``<time> <intent_id> <seq> <status>``), appended by the receiver. Cheap, but an outside
  effect: a worker SIGKILLed between the write and the delivery's commit writes it again.
- ``AXME_BENCH_SIGNALS_TABLE`` (a table name, used instead of the file): one row per
  ``intent_status_changed``, inserted by the receiver inside the delivery transaction, so it
  is exactly as durable as the delivery (what a kill run counts).
- ``AXME_BENCH_TASKS`` (a file): ``<time> <pid> <lease token> <intent count>`` for each
  observer task a worker starts (which process holds which lease token).
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery.signals import task_prerun

from django_axme import signals

_PATH = os.environ.get("AXME_BENCH_SIGNALS", "")
_TABLE = os.environ.get("AXME_BENCH_SIGNALS_TABLE", "")
_TASKS = os.environ.get("AXME_BENCH_TASKS", "")


def _append(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _on_status(sender: Any, intent: Any, status: str, event: Any, **kwargs: Any) -> None:
    if _TABLE:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {_TABLE} (t, intent_id, seq, status, pid) "
                "VALUES (%s, %s, %s, %s, %s)",
                [time.time(), intent.intent_id, event.seq, status, os.getpid()],
            )
    elif _PATH:
        _append(_PATH, f"{time.time():.6f} {intent.intent_id} {event.seq} {status}\n")


def _on_task(sender: Any = None, args: Any = None, kwargs: Any = None, **extra: Any) -> None:
    if not _TASKS or sender is None or not str(sender.name).startswith("django_axme.tasks.observe"):
        return
    token = (kwargs or {}).get("lease_token") or "-"
    count = len(args[0]) if args and isinstance(args[0], (list, tuple)) else 1
    _append(_TASKS, f"{time.time():.6f} {os.getpid()} {token} {count}\n")


signals.intent_status_changed.connect(_on_status, weak=False, dispatch_uid="axme-bench-probe")
task_prerun.connect(_on_task, weak=False, dispatch_uid="axme-bench-probe-tasks")
