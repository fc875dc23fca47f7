"""Settings of the idle benchmark's worker: the benchmark settings plus django-axme's default
beat schedule (reconcile every minute, inbox sync every 30 s, idle poll every 10 s), run by
the worker's embedded beat (``-B``)."""

from __future__ import annotations

from benchmarks.bench_settings import *  # noqa: F403
from django_axme.celery import AXME_BEAT_SCHEDULE

CELERY_BEAT_SCHEDULE = dict(AXME_BEAT_SCHEDULE)
