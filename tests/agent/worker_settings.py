"""Settings of the worker processes of the agent kill run: the task tests' worker settings plus
the handlers of :mod:`tests.agent.worker_handlers`."""

from __future__ import annotations

from tests.tasks.worker_settings import *  # noqa: F403
from tests.tasks.worker_settings import CELERY_IMPORTS

CELERY_IMPORTS = [*CELERY_IMPORTS, "tests.agent.worker_handlers"]
