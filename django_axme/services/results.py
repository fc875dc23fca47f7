"""The result every remote operation of :mod:`django_axme.services` returns."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from django_axme.models import Intent

__all__ = ["APPLIED", "FAILED", "REFUSED", "STALE", "OperationResult", "operation_key"]

#: The gateway took the change.
APPLIED = "applied"
#: The change was made against an older ``policy_generation``; nothing changed.
STALE = "stale"
#: The gateway answered but did not take the change (409, or ``applied: false``).
REFUSED = "refused"
#: No answer or an error answer (``error`` says which; ``error.retryable`` whether to retry).
FAILED = "failed"


@dataclass(frozen=True)
class OperationResult:
    """What one remote operation did.

    ``status`` is :data:`APPLIED`, :data:`STALE` (``current_generation`` is the gateway's
    generation when it said so), :data:`REFUSED` (``reason`` says why when the gateway did)
    or :data:`FAILED` (``error`` is the exception). ``answer`` is the gateway's answer body,
    ``intent`` the mirror row after the operation's refresh (``None`` when it was not read).
    """

    status: str
    answer: Mapping[str, Any] = field(default_factory=dict)
    intent: Intent | None = None
    error: BaseException | None = None
    reason: str | None = None
    current_generation: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == APPLIED

    @property
    def retryable(self) -> bool:
        """A failure that may succeed if the same operation is tried again later."""
        from django_axme.services.errors import is_retryable

        return self.status == FAILED and self.error is not None and is_retryable(self.error)


def operation_key(prefix: str, operation: str, intent_id: str, *parts: object) -> str:
    """A deterministic idempotency key for one operation with the same inputs (the same
    call repeated, e.g. a double submit, is one call for the gateway)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:24]
    return f"{prefix}:{operation}:{intent_id}:{digest}"
