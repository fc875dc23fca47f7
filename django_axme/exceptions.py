"""Every error django-axme raises, in one place.

The client's HTTP error hierarchy (all under :class:`AxmeError`) is re-exported unchanged, so
``from django_axme.exceptions import AxmeNotFoundError`` and
``from django_axme.client import AxmeNotFoundError`` name the same class. The Django-side
errors below subclass :class:`AxmeError` too, so one ``except AxmeError`` catches everything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext

from django_axme.client.errors import (
    AxmeAPIError,
    AxmeAuthError,
    AxmeConflictError,
    AxmeError,
    AxmeHttpError,
    AxmeIdempotencyError,
    AxmeIdempotencyWarning,
    AxmeNotFoundError,
    AxmeRateLimitError,
    AxmeServerError,
    AxmeStalePolicyError,
    AxmeTransportError,
    AxmeValidationError,
)

if TYPE_CHECKING:  # pragma: no cover
    from django_axme.models import Approval, ApprovalDecision

__all__ = [
    "AxmeAPIError",
    "AxmeAuthError",
    "AxmeConflictError",
    "AxmeError",
    "AxmeHttpError",
    "AxmeIdempotencyError",
    "AxmeIdempotencyWarning",
    "AxmeNotFoundError",
    "AxmeRateLimitError",
    "AxmeServerError",
    "AxmeStalePolicyError",
    "AxmeTransportError",
    "AxmeValidationError",
    "DecisionConflict",
    "IntentWaitError",
    "IntentWaitTimeout",
    "InvalidDecision",
    "StalePolicyGenerationError",
]


class DecisionConflict(AxmeError):
    """A decision was recorded for an approval that already has one, or is no longer open.

    ``existing`` is the live :class:`~django_axme.models.ApprovalDecision` that won (``None``
    when the approval was closed without a local decision); ``approval`` is the approval.
    The message is translated and safe to show to the user who tried to decide.
    """

    def __init__(self, approval: Approval, existing: ApprovalDecision | None) -> None:
        self.approval = approval
        self.existing = existing
        if existing is not None:
            who = str(existing.user) if existing.user_id else gettext("someone")
            message = gettext("This approval was already decided (%(decision)s by %(user)s).") % {
                "decision": existing.get_decision_display(),
                "user": who,
            }
        else:
            message = gettext("This approval is no longer open (%(status)s).") % {
                "status": approval.get_status_display(),
            }
        super().__init__(message)


class InvalidDecision(AxmeError, ValueError):
    """A decision that cannot be recorded as given (unknown decision, outcome not allowed,
    missing required note). The message names the problem."""


class IntentWaitError(AxmeError, RuntimeError):
    """``wait_for_intent`` cannot succeed: the intent ended in a status it does not wait for,
    or it is unknown to the gateway. (Also a ``RuntimeError``, as it always was.)"""


class IntentWaitTimeout(IntentWaitError, TimeoutError):
    """``wait_for_intent`` gave up after its ``timeout``."""


class StalePolicyGenerationError(AxmeError, RuntimeError):
    """A controls/policy update kept meeting a newer ``policy_generation`` and gave up.
    (Also a ``RuntimeError``, as it always was.)"""
