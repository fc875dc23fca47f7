"""Settings of the webhooks benchmark's worker: the benchmark settings with the approval probe."""

from __future__ import annotations

from benchmarks.bench_settings import *  # noqa: F403

CELERY_IMPORTS = ["benchmarks.webhook_probe"]
