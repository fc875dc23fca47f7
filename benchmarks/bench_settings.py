"""Settings of the benchmark's worker: the test project's, plus the signal probe and the
observer sizing given by the benchmark (``AXME_BENCH_AXME``, JSON)."""

from __future__ import annotations

import json
import os

from testproject.settings import *  # noqa: F403
from testproject.settings import AXME

AXME = {**AXME, **json.loads(os.environ.get("AXME_BENCH_AXME", "{}"))}
CELERY_IMPORTS = ["benchmarks.probe"]
CELERY_BEAT_SCHEDULE: dict = {}
LOGGING["loggers"]["django_axme"]["level"] = "WARNING"  # noqa: F405
if CELERY_BROKER_URL.startswith("filesystem://"):  # noqa: F405
    from django_axme.celery import FILESYSTEM_TRANSPORT

    CELERY_BROKER_TRANSPORT = FILESYSTEM_TRANSPORT
