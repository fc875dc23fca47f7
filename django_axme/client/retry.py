"""When to retry and how long to wait (capped exponential backoff with full jitter)."""

from __future__ import annotations

import random
from dataclasses import dataclass

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


# 501 Not Implemented and 505 HTTP Version Not Supported are permanent answers.
_PERMANENT_5XX = frozenset({501, 505})


def is_retryable_status(status_code: int) -> bool:
    """408, 429 and 5xx (except 501 and 505) may succeed on a later attempt."""
    if status_code in (408, 429):
        return True
    return status_code >= 500 and status_code not in _PERMANENT_5XX


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for attempt ``n`` (0-based): a random delay in ``[0, min(cap, base * 2**n)]``
    ("full jitter"), or the server's integer ``Retry-After`` when it sent one.

    A ``Retry-After`` longer than ``cap`` is not slept through: :meth:`delay` returns ``None``
    and the caller raises the error, so a worker never blocks for minutes inside one call.
    """

    max_retries: int
    base: float
    cap: float

    def attempts(self, retryable: bool) -> int:
        return 1 + self.max_retries if retryable else 1

    def delay(self, attempt_index: int, retry_after: int | None = None) -> float | None:
        if retry_after is not None:
            return float(retry_after) if retry_after <= self.cap else None
        ceiling = min(self.cap, self.base * (2**attempt_index))
        return random.uniform(0.0, ceiling)
