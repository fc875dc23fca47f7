"""Settings of the worker processes the task tests start: the test project's settings, plus
AXME overrides from ``AXME_TEST_SETTINGS`` (JSON), a fast beat schedule, and the signal
recorder. Used only by ``tests/tasks`` (``DJANGO_SETTINGS_MODULE=tests.tasks.worker_settings``).
"""

from __future__ import annotations

import json
import os

from testproject.settings import *  # noqa: F403
from testproject.settings import AXME

from django_axme.celery import beat_schedule

AXME = {**AXME, **json.loads(os.environ.get("AXME_TEST_SETTINGS", "{}"))}
CELERY_IMPORTS = ["tests.tasks.recorder"]
CELERY_BEAT_SCHEDULE = beat_schedule(
    reconcile_seconds=float(os.environ.get("AXME_TEST_RECONCILE_SECONDS", "2")),
    inbox_seconds=float(os.environ.get("AXME_TEST_INBOX_SECONDS", "2")),
    idle_poll_seconds=float(os.environ.get("AXME_TEST_IDLE_POLL_SECONDS", "2")),
)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# No remote control: no exclusive pidbox queue per node name, which a just-killed worker of
# the same name can still hold on RabbitMQ (RESOURCE_LOCKED). The tests never use it.
CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
# A queue of its own, so that a shared broker (RabbitMQ's default vhost) never mixes runs.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("AXME_TEST_QUEUE", "celery")
if CELERY_BROKER_URL.startswith("filesystem://"):  # noqa: F405
    from django_axme.celery import FILESYSTEM_TRANSPORT

    CELERY_BROKER_TRANSPORT = FILESYSTEM_TRANSPORT
