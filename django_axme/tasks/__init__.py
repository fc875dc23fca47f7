"""Celery tasks of django-axme: thin; they call :mod:`django_axme.services` (which asks the
client and hands what it learns to the one writer, :mod:`django_axme.sync`) and add Celery
retries. Importable without a broker and without a running worker. Every task takes ids
(remote intent ids, or the local primary key of an outbox row), never model instances.

Split by job, every name importable from ``django_axme.tasks`` as before (task names
unchanged, see :mod:`django_axme.celery`):

- :mod:`~django_axme.tasks.observe`: ``observe_intent``, ``observe_many``,
  ``start_observing``, ``wait_for_intent``;
- :mod:`~django_axme.tasks.send`: ``send_intent``, ``retry_intent``, ``send_retry``;
- :mod:`~django_axme.tasks.controls`: ``update_intent_controls``, ``update_intent_policy``;
- :mod:`~django_axme.tasks.periodic`: ``reconcile_open_intents``, ``sync_inbox``,
  ``poll_idle_intents``, ``prune``, and the worker-start signal delivery;
- :mod:`~django_axme.tasks.webhooks`: ``process_webhook_delivery``,
  ``reprocess_webhook_deliveries``;
- :mod:`django_axme.agent.tasks`: ``agent_listen``, ``run_agent_handler``,
  ``run_agent_handlers`` (the agent side).

Retries, one rule: an error the client calls retryable (``AxmeError.retryable``: transport
errors, 408, 429, 5xx other than 501/505, the statuses the client itself retries) is retried
by Celery with the client's backoff (:class:`~django_axme.client.retry.RetryPolicy`: full
jitter, at most ``AXME["TASK_MAX_RETRIES"]`` times, capped at
``AXME["TASK_RETRY_BACKOFF_MAX_SECONDS"]``, honouring ``Retry-After``). Any other error is
recorded on the mirror (``Intent.last_error``, one shape:
:func:`django_axme.services.errors.error_record`) and logged with the intent id. See
``docs/tasks.rst`` for each task.
"""

from __future__ import annotations

from django_axme.agent.tasks import agent_listen, run_agent_handler, run_agent_handlers
from django_axme.exceptions import IntentWaitError, IntentWaitTimeout, StalePolicyGenerationError
from django_axme.services.errors import error_record  # noqa: F401 - former public helper
from django_axme.tasks._common import backoff_seconds as _backoff_seconds  # noqa: F401
from django_axme.tasks._common import retry_later as _retry_later  # noqa: F401
from django_axme.tasks.controls import update_intent_controls, update_intent_policy
from django_axme.tasks.observe import (
    intent_as_dict,
    observe_intent,
    observe_many,
    start_observing,
    wait_for_intent,
)
from django_axme.tasks.periodic import (
    deliver_signals_at_worker_start,
    inbox_cursor_name,  # noqa: F401 - former public helper
    poll_idle_intents,
    prune,
    reconcile_open_intents,
    resend_unsent_decisions,
    sync_inbox,
)
from django_axme.tasks.send import retry_intent, send_intent, send_retry
from django_axme.tasks.webhooks import process_webhook_delivery, reprocess_webhook_deliveries

__all__ = [
    "IntentWaitError",
    "IntentWaitTimeout",
    "StalePolicyGenerationError",
    "agent_listen",
    "deliver_signals_at_worker_start",
    "intent_as_dict",
    "observe_intent",
    "observe_many",
    "poll_idle_intents",
    "process_webhook_delivery",
    "prune",
    "reconcile_open_intents",
    "reprocess_webhook_deliveries",
    "resend_unsent_decisions",
    "retry_intent",
    "run_agent_handler",
    "run_agent_handlers",
    "send_intent",
    "send_retry",
    "start_observing",
    "sync_inbox",
    "update_intent_controls",
    "update_intent_policy",
    "wait_for_intent",
]
