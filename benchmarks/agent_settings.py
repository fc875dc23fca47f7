"""Settings of the agent benchmark's worker: the benchmark settings plus the no-op handler."""

from __future__ import annotations

from benchmarks.bench_settings import *  # noqa: F403
from benchmarks.bench_settings import CELERY_IMPORTS

CELERY_IMPORTS = [*CELERY_IMPORTS, "benchmarks.agent_handlers"]
