"""Signal probe loaded by the benchmark's worker (``CELERY_IMPORTS``): appends one line per
``intent_status_changed`` (``<time> <intent_id> <seq> <status>``) to ``AXME_BENCH_SIGNALS``."""

from __future__ import annotations

import os
import time
from typing import Any

from django_axme import signals

_PATH = os.environ.get("AXME_BENCH_SIGNALS", "")


def _on_status(sender: Any, intent: Any, status: str, event: Any, **kwargs: Any) -> None:
    if not _PATH:
        return
    line = f"{time.time():.6f} {intent.intent_id} {event.seq} {status}\n".encode()
    fd = os.open(_PATH, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


signals.intent_status_changed.connect(_on_status, weak=False, dispatch_uid="axme-bench-probe")
