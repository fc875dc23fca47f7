"""Signal probe of the webhooks benchmark's worker (``CELERY_IMPORTS``): appends one line per
``approval_requested`` (``<time> <thread_id>``) to ``AXME_BENCH_SIGNALS``."""

from __future__ import annotations

import os
import time
from typing import Any

from django_axme import signals

_PATH = os.environ.get("AXME_BENCH_SIGNALS", "")


def _on_approval(sender: Any, approval: Any, **kwargs: Any) -> None:
    if not _PATH:
        return
    line = f"{time.time():.6f} {approval.thread_id}\n".encode()
    fd = os.open(_PATH, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


signals.approval_requested.connect(_on_approval, weak=False, dispatch_uid="axme-bench-approvals")
