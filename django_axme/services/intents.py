"""Cancel and resume an intent, then re-read it into the mirror.

Each function makes one client call, reads the intent back
(:func:`django_axme.services.refresh.refresh_intent`) and returns an
:class:`~django_axme.services.results.OperationResult`; expected remote failures are results,
never exceptions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django_axme.client.errors import AxmeConflictError, AxmeError
from django_axme.services.results import APPLIED, FAILED, REFUSED, OperationResult

logger = logging.getLogger("django_axme.services")

__all__ = ["cancel_intent", "read_back", "resume_intent"]


def read_back(client: Any, intent_id: str) -> Any:
    """Refresh the intent after an operation; returns the mirror row, or ``None`` when the
    read failed (logged: the operation's own result is what the caller reports)."""
    from django_axme.services.refresh import refresh_intent

    try:
        return refresh_intent(client, intent_id).intent
    except AxmeError as exc:
        logger.warning("intent %s: not re-read after the operation: %s", intent_id, exc)
        return None


def cancel_intent(
    client: Any,
    intent_id: str,
    *,
    reason: str,
    actor: str,
    owner_agent: str | None = None,
    idempotency_key: str | None = None,
) -> OperationResult:
    """Resolve the intent with status CANCELED (``reason``, ``actor``), then re-read it.

    APPLIED, REFUSED (409: the intent is already closed; ``error`` is the conflict) or
    FAILED (any other client error; the mirror is not re-read).
    """
    try:
        answer = client.resolve_intent(
            intent_id,
            {"status": "CANCELED", "reason": reason, "actor": actor},
            owner_agent=owner_agent,
            idempotency_key=idempotency_key,
        )
    except AxmeConflictError as exc:
        return OperationResult(REFUSED, intent=read_back(client, intent_id), error=exc)
    except AxmeError as exc:
        return OperationResult(FAILED, error=exc)
    return OperationResult(
        APPLIED, _mapping(answer), intent=read_back(client, intent_id), reason=None
    )


def resume_intent(
    client: Any,
    intent_id: str,
    *,
    actor: str,
    reason: str = "",
    expected_generation: int | None = None,
    owner_agent: str | None = None,
    idempotency_key: str | None = None,
) -> OperationResult:
    """Resume a waiting intent (approving its current step), then re-read it.

    APPLIED; REFUSED for a 409 (``error``) or an ``applied: false`` answer (``reason``);
    FAILED for any other client error (the mirror is not re-read).
    """
    body: dict[str, Any] = {"approve_current_step": True, "actor": actor}
    if reason:
        body["reason"] = reason
    if expected_generation is not None:
        body["expected_policy_generation"] = expected_generation
    try:
        answer = client.resume_intent(
            intent_id, body, owner_agent=owner_agent, idempotency_key=idempotency_key
        )
    except AxmeConflictError as exc:
        return OperationResult(REFUSED, intent=read_back(client, intent_id), error=exc)
    except AxmeError as exc:
        return OperationResult(FAILED, error=exc)
    intent = read_back(client, intent_id)
    answer = _mapping(answer)
    if answer.get("applied") is False:
        return OperationResult(
            REFUSED, answer, intent=intent, reason=str(answer.get("reason") or "") or None
        )
    return OperationResult(APPLIED, answer, intent=intent)


def _mapping(answer: Any) -> Mapping[str, Any]:
    return answer if isinstance(answer, Mapping) else {}
