"""Signal probe of the webhooks benchmark's worker (``CELERY_IMPORTS``): appends one line per
``approval_requested`` (``<time> <thread_id>``) to ``AXME_BENCH_SIGNALS``, and, for the per-hop
figures (``benchmarks/webhook_hops.py``), one line per webhook task taken by the consumer
(``<time> received <pk>``) and started in the pool (``<time> started <pk>``) to
``AXME_BENCH_HOPS``. Wall-clock times."""

from __future__ import annotations

import os
import time
from typing import Any

from celery.signals import task_prerun, task_received

from benchmarks.webhook_hops import append_line
from django_axme import signals
from django_axme.celery import PROCESS_WEBHOOK_DELIVERY_TASK

_PATH = os.environ.get("AXME_BENCH_SIGNALS", "")
_HOPS = os.environ.get("AXME_BENCH_HOPS", "")


def _on_approval(sender: Any, approval: Any, **kwargs: Any) -> None:
    if _PATH:
        append_line(_PATH, f"{time.time():.6f} {approval.thread_id}\n")


def _on_received(sender: Any = None, request: Any = None, **kwargs: Any) -> None:
    if _HOPS and request is not None and request.name == PROCESS_WEBHOOK_DELIVERY_TASK:
        append_line(_HOPS, f"{time.time():.6f} received {request.args[0]}\n")


def _on_started(sender: Any = None, task: Any = None, args: Any = None, **kwargs: Any) -> None:
    if _HOPS and task is not None and task.name == PROCESS_WEBHOOK_DELIVERY_TASK and args:
        append_line(_HOPS, f"{time.time():.6f} started {args[0]}\n")


signals.approval_requested.connect(_on_approval, weak=False, dispatch_uid="axme-bench-approvals")
task_received.connect(_on_received, weak=False, dispatch_uid="axme-bench-received")
task_prerun.connect(_on_started, weak=False, dispatch_uid="axme-bench-started")
