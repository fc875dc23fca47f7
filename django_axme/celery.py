"""Celery wiring for django-axme: task names, queue routing and the beat schedule.

Nothing here needs a broker or configured settings at import time. A project merges
:data:`AXME_BEAT_SCHEDULE` (or the result of :func:`beat_schedule`) into its own
``CELERY_BEAT_SCHEDULE``::

    from django_axme.celery import AXME_BEAT_SCHEDULE

    CELERY_BEAT_SCHEDULE = {**AXME_BEAT_SCHEDULE, **MY_OWN_SCHEDULE}

and, when observers should run on their own worker, sets ``AXME["OBSERVER_QUEUE"]`` and
starts a worker for that queue (see ``docs/deployment.rst``).
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from celery.schedules import crontab
from kombu.transport import filesystem as _kombu_filesystem

#: Names of every django-axme task (stable: they appear in brokers and beat schedules).
SEND_INTENT_TASK = "django_axme.tasks.send_intent"
OBSERVE_INTENT_TASK = "django_axme.tasks.observe_intent"
OBSERVE_MANY_TASK = "django_axme.tasks.observe_many"
WAIT_FOR_INTENT_TASK = "django_axme.tasks.wait_for_intent"
SEND_RETRY_TASK = "django_axme.tasks.send_retry"
UPDATE_INTENT_CONTROLS_TASK = "django_axme.tasks.update_intent_controls"
UPDATE_INTENT_POLICY_TASK = "django_axme.tasks.update_intent_policy"
RECONCILE_OPEN_INTENTS_TASK = "django_axme.tasks.reconcile_open_intents"
SYNC_INBOX_TASK = "django_axme.tasks.sync_inbox"
PRUNE_TASK = "django_axme.tasks.prune"
POLL_IDLE_INTENTS_TASK = "django_axme.tasks.poll_idle_intents"
PROCESS_WEBHOOK_DELIVERY_TASK = "django_axme.tasks.process_webhook_delivery"
REPROCESS_WEBHOOK_DELIVERIES_TASK = "django_axme.tasks.reprocess_webhook_deliveries"

#: Tasks that hold a stream open; routed to ``AXME["OBSERVER_QUEUE"]`` when it is set.
OBSERVER_TASKS: tuple[str, ...] = (OBSERVE_INTENT_TASK, OBSERVE_MANY_TASK)


def beat_schedule(
    *,
    reconcile_seconds: float = 60.0,
    inbox_seconds: float = 30.0,
    prune_schedule: Any = None,
    idle_poll_seconds: float = 10.0,
) -> dict[str, dict[str, Any]]:
    """Return a new beat schedule for the periodic django-axme tasks.

    - ``reconcile_open_intents`` every ``reconcile_seconds``: re-reads open intents that were not
      heard from for ``AXME["RECONCILE_AFTER_SECONDS"]``, restarts observers whose lease expired
      and sends outbox rows whose after-commit message was lost.
    - ``sync_inbox`` every ``inbox_seconds``: pulls inbox changes for
      ``AXME["INBOX_OWNER_AGENTS"]``.
    - ``poll_idle_intents`` every ``idle_poll_seconds``: re-reads, in one batch, the idle
      intents whose backed-off poll is due (one query when none is).
    - ``prune`` daily at 03:17 (or ``prune_schedule``): deletes mirror rows past retention.
    - ``reprocess_webhook_deliveries`` every ``reconcile_seconds``: the reconcile sweep of the
      webhooks, processing deliveries recorded but left unprocessed (one query when none).

    Each entry expires after its own period, so a beat running while no worker consumes does
    not pile up stale sweeps.
    """
    if reconcile_seconds <= 0 or inbox_seconds <= 0 or idle_poll_seconds <= 0:
        raise ValueError("beat_schedule periods must be positive numbers of seconds")
    return {
        "axme-reconcile-open-intents": {
            "task": RECONCILE_OPEN_INTENTS_TASK,
            "schedule": float(reconcile_seconds),
            "options": {"expires": float(reconcile_seconds)},
        },
        "axme-sync-inbox": {
            "task": SYNC_INBOX_TASK,
            "schedule": float(inbox_seconds),
            "options": {"expires": float(inbox_seconds)},
        },
        "axme-poll-idle-intents": {
            "task": POLL_IDLE_INTENTS_TASK,
            "schedule": float(idle_poll_seconds),
            "options": {"expires": float(idle_poll_seconds)},
        },
        "axme-reconcile-webhooks": {
            "task": REPROCESS_WEBHOOK_DELIVERIES_TASK,
            "schedule": float(reconcile_seconds),
            "options": {"expires": float(reconcile_seconds)},
        },
        "axme-prune": {
            "task": PRUNE_TASK,
            "schedule": prune_schedule
            if prune_schedule is not None
            else crontab(hour=3, minute=17),
            "options": {"expires": 3600.0},
        },
    }


#: The default schedule (reconcile every minute, inbox every 30 s, idle poll every 10 s, prune
#: daily at 03:17).
AXME_BEAT_SCHEDULE: dict[str, dict[str, Any]] = beat_schedule()


def observer_task_options() -> dict[str, Any]:
    """Return ``apply_async`` options for observer tasks (the observer queue, when configured)."""
    from django_axme.conf import get_setting

    queue = get_setting("OBSERVER_QUEUE")
    return {"queue": queue} if queue else {}


def task_routes() -> dict[str, dict[str, str]]:
    """Return a ``CELERY_TASK_ROUTES`` fragment sending observer tasks to the observer queue.

    Not needed when django-axme enqueues the observers itself (it passes the queue); useful
    when your code calls ``observe_intent.delay(...)`` directly and you route by name.
    """
    from django_axme.conf import get_setting

    queue = get_setting("OBSERVER_QUEUE")
    if not queue:
        return {}
    return {name: {"queue": queue} for name in OBSERVER_TASKS}


class FilesystemChannel(_kombu_filesystem.Channel):
    """kombu's filesystem channel, with messages written atomically.

    kombu's own ``_put`` creates the message file under its final name and then writes it, so
    a consumer in another process can pick the file up while it is still empty, fail to
    decode it and lose the message. Here the message is written to a hidden temporary name in
    the same folder and renamed into place (atomic on POSIX): a consumer sees a complete
    message or none.
    """

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        from kombu.exceptions import ChannelError
        from kombu.utils.json import dumps

        name = f"{round(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        temporary = os.path.join(self.data_folder_out, f".{name}.part")
        try:
            with open(temporary, "wb") as fh:
                fh.write(dumps(payload).encode())
            os.replace(temporary, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class FilesystemTransport(_kombu_filesystem.Transport):
    """The no-server filesystem broker with atomic message files (see
    :class:`FilesystemChannel`). Use it with ``CELERY_BROKER_URL = "filesystem://"`` and
    ``CELERY_BROKER_TRANSPORT = "django_axme.celery:FilesystemTransport"``."""

    Channel = FilesystemChannel


#: Value for ``CELERY_BROKER_TRANSPORT`` with the filesystem broker.
FILESYSTEM_TRANSPORT = "django_axme.celery:FilesystemTransport"
