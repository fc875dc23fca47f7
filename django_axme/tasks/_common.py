"""What every task module shares: the client, the one retry rule and Celery's backoff."""

from __future__ import annotations

import logging
from typing import Any

from django_axme.client.retry import RetryPolicy
from django_axme.conf import get_setting
from django_axme.services.errors import error_record, is_retryable, record_error_quietly

logger = logging.getLogger("django_axme.tasks")

__all__ = [
    "backoff_seconds",
    "client",
    "error_record",
    "is_retryable",
    "record_error_quietly",
    "retry_later",
]


def client() -> Any:
    """The configured client (``django_axme.conf.get_client()``)."""
    from django_axme.conf import get_client

    return get_client()


def backoff_seconds(retries: int, exc: BaseException | None) -> float:
    """The wait before Celery retry number ``retries`` (0-based) after ``exc``: the client's
    own :class:`~django_axme.client.retry.RetryPolicy` (full jitter in
    ``[0, min(cap, 2**retries)]`` seconds, or the server's ``Retry-After``) with the cap
    ``AXME["TASK_RETRY_BACKOFF_MAX_SECONDS"]``; a ``Retry-After`` longer than the cap waits
    the cap."""
    cap = float(get_setting("TASK_RETRY_BACKOFF_MAX_SECONDS"))
    policy = RetryPolicy(max_retries=int(get_setting("TASK_MAX_RETRIES")), base=1.0, cap=cap)
    retry_after = getattr(exc, "retry_after", None)
    if not isinstance(retry_after, int) or isinstance(retry_after, bool) or retry_after <= 0:
        retry_after = None
    delay = policy.delay(min(retries, 20), retry_after)
    return cap if delay is None else delay


def retry_later(task: Any, exc: BaseException, **kwargs: Any) -> Any:
    """Ask Celery to run ``task`` again later for a retryable ``exc`` (raises ``Retry``);
    when the budget ``TASK_MAX_RETRIES`` is spent, re-raises ``exc``."""
    return task.retry(
        exc=exc,
        countdown=backoff_seconds(task.request.retries, exc),
        max_retries=int(get_setting("TASK_MAX_RETRIES")),
        **kwargs,
    )
