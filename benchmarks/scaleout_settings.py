"""Settings of ``benchmarks/scaleout.py``'s workers and beat: the benchmark settings, one
reserved message per pool slot (so N observer tasks spread over the worker processes through
the queue), and a fast reconcile sweep (``AXME_BENCH_RECONCILE_SECONDS``) for the kill run."""

from __future__ import annotations

import os

from benchmarks.bench_settings import *  # noqa: F403
from django_axme.celery import beat_schedule

CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
CELERY_BEAT_SCHEDULE = beat_schedule(
    reconcile_seconds=float(os.environ.get("AXME_BENCH_RECONCILE_SECONDS", "5")),
    inbox_seconds=3600,
    idle_poll_seconds=3600,
)
# What production runs: with DEBUG on, Django records (and formats) every query of the writer.
DEBUG = False
