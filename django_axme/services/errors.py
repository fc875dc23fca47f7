"""One retry rule and one shape for ``Intent.last_error``.

Retryable or not is the client's own answer (:attr:`django_axme.exceptions.AxmeError.retryable`,
from the status table the client's retries use: transport errors, 408, 429 and 5xx other than
501/505); nothing here keeps a second list.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django_axme.client.errors import (
    AxmeAPIError,
    AxmeAuthError,
    AxmeError,
    AxmeTransportError,
    AxmeValidationError,
)

logger = logging.getLogger("django_axme.services")

__all__ = ["error_record", "is_retryable", "record_error_quietly"]


def is_retryable(exc: BaseException) -> bool:
    """True when ``exc`` is an :class:`AxmeError` whose call may succeed later unchanged."""
    return isinstance(exc, AxmeError) and exc.retryable


def error_record(exc: BaseException, *, operation: str) -> dict[str, Any]:
    """The one JSON-serialisable description of an error stored in ``Intent.last_error``.

    Always has ``operation``, ``category`` ("auth", "validation", "api", "transport" or
    "local"), ``error`` (the class name), ``message`` and ``retryable``; ``status_code``,
    ``request_id`` and ``trace_id`` when the error carries them.
    """
    if isinstance(exc, AxmeAuthError):
        category = "auth"
    elif isinstance(exc, AxmeValidationError):
        category = "validation"
    elif isinstance(exc, AxmeAPIError):
        category = "api"
    elif isinstance(exc, AxmeTransportError):
        category = "transport"
    else:
        category = "local"
    record: dict[str, Any] = {
        "operation": operation,
        "category": category,
        "error": type(exc).__name__,
        "message": str(exc),
        "retryable": is_retryable(exc),
    }
    for attr in ("status_code", "request_id", "trace_id"):
        value = getattr(exc, attr, None)
        if value is not None:
            record[attr] = value
    return record


def record_error_quietly(intent_id: str, error: Mapping[str, Any]) -> None:
    """Store ``error`` as the intent's ``last_error`` through the one writer; a failure to
    store it is logged, never raised (bookkeeping must not hide the original problem)."""
    from django_axme import sync

    try:
        sync.record_intent_error(intent_id, error)
    except Exception:
        logger.exception("intent %s: could not record error %s", intent_id, error)
