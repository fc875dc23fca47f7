"""Controls and policy updates with compare-and-set on ``policy_generation``.

One stale rule for every caller: the gateway says a generation is stale either with HTTP 409
whose body names ``stale_policy_generation`` (the client raises
:class:`~django_axme.exceptions.AxmeStalePolicyError`, whose ``current_policy_generation`` is
the gateway's) or with ``200 {"applied": false, "reason": "stale_policy_generation",
"policy_generation": <current>}``. Any other 409 or ``applied: false`` is a refusal, not a
stale generation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from django_axme.client.errors import AxmeConflictError, AxmeError, AxmeStalePolicyError
from django_axme.services.intents import read_back
from django_axme.services.results import (
    APPLIED,
    FAILED,
    REFUSED,
    STALE,
    OperationResult,
    operation_key,
)

logger = logging.getLogger("django_axme.tasks")

__all__ = [
    "STALE_POLICY_REASON",
    "compare_and_set",
    "current_generation",
    "update_controls",
    "update_until_applied",
]

STALE_POLICY_REASON = "stale_policy_generation"

#: The two client methods that take ``expected_policy_generation``.
_METHODS = ("update_intent_controls", "update_intent_policy")


def _generation(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def compare_and_set(
    client: Any,
    intent_id: str,
    method: str,
    body: Mapping[str, Any],
    *,
    expected_generation: int | None,
    owner_agent: str | None = None,
    idempotency_key: str | None = None,
) -> OperationResult:
    """One ``client.<method>`` call (``update_intent_controls`` or ``update_intent_policy``)
    carrying ``expected_policy_generation`` when one is given. Does not touch the mirror.

    APPLIED (``current_generation`` is the generation the gateway answered, when it did);
    STALE (``current_generation`` is the gateway's current one, when it said); REFUSED (any
    other 409 or ``applied: false``; ``reason``); FAILED (any other client error, ``error``;
    :attr:`OperationResult.retryable` says whether to try again).
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, not {method!r}")
    call_body = dict(body)
    if expected_generation is not None:
        call_body["expected_policy_generation"] = expected_generation
    try:
        answer = getattr(client, method)(
            intent_id, call_body, owner_agent=owner_agent, idempotency_key=idempotency_key
        )
    except AxmeStalePolicyError as exc:
        return OperationResult(STALE, error=exc, current_generation=exc.current_policy_generation)
    except AxmeConflictError as exc:
        return OperationResult(REFUSED, error=exc, reason=str(exc))
    except AxmeError as exc:
        return OperationResult(FAILED, error=exc)
    answer = answer if isinstance(answer, Mapping) else {}
    current = _generation(answer.get("policy_generation"))
    if answer.get("applied") is False:
        reason = str(answer.get("reason") or "") or None
        status = STALE if reason == STALE_POLICY_REASON else REFUSED
        return OperationResult(status, answer, reason=reason, current_generation=current)
    return OperationResult(APPLIED, answer, current_generation=current)


def current_generation(client: Any, intent_id: str) -> int | None:
    """Read the intent from the gateway into the mirror and return its ``policy_generation``
    (raises the client's errors)."""
    from django_axme import sync

    return sync.ingest_intent(client.get_intent(intent_id)).policy_generation


def update_controls(
    client: Any,
    intent_id: str,
    *,
    controls_patch: Mapping[str, Any],
    envelope_patch: Mapping[str, Any],
    expected_generation: int | None,
    actor: str,
    reason: str = "",
    owner_agent: str | None = None,
    key_prefix: str = "django-axme",
) -> OperationResult:
    """Apply an envelope (retries) patch through ``update_intent_policy`` and a controls
    patch through ``update_intent_controls``, each compare-and-set on the generation (the
    second call carries the generation the first answered). Stops at the first result that
    is not APPLIED and returns it; re-reads the intent into the mirror unless the last result
    is FAILED. Each call has a deterministic idempotency key (a double submit is one change).
    With nothing to change returns REFUSED with reason ``"nothing to change"``.
    """
    common: dict[str, Any] = {"actor": actor}
    if reason:
        common["reason"] = reason
    calls: list[tuple[str, dict[str, Any]]] = []
    if envelope_patch:
        calls.append(("update_intent_policy", {"envelope_patch": dict(envelope_patch)}))
    if controls_patch:
        calls.append(("update_intent_controls", {"controls_patch": dict(controls_patch)}))
    if not calls:
        return OperationResult(REFUSED, reason="nothing to change")
    generation = expected_generation
    result = OperationResult(APPLIED)
    for method, body in calls:
        body = {**body, **common}
        key_body = {
            **body,
            **({} if generation is None else {"expected_policy_generation": generation}),
        }
        result = compare_and_set(
            client,
            intent_id,
            method,
            body,
            expected_generation=generation,
            owner_agent=owner_agent,
            idempotency_key=operation_key(
                key_prefix, "controls", intent_id, generation, sorted(key_body.items())
            ),
        )
        if result.status != APPLIED:
            break
        generation = (
            result.current_generation if result.current_generation is not None else generation
        )
    if result.status == FAILED:
        return result
    intent = read_back(client, intent_id)
    if result.status == APPLIED:
        return OperationResult(APPLIED, result.answer, intent=intent, current_generation=generation)
    return OperationResult(
        result.status,
        result.answer,
        intent=intent,
        error=result.error,
        reason=result.reason,
        current_generation=result.current_generation,
    )


def update_until_applied(
    client: Any,
    intent_id: str,
    method: str,
    body: Mapping[str, Any],
    *,
    owner_agent: str | None = None,
    max_attempts: int = 3,
    on_stale: Callable[[int, int | None], None] | None = None,
) -> OperationResult:
    """Compare-and-set with the mirrored generation (the gateway's when the mirror has
    none); while the answer is STALE, re-read the intent (mirrored) and try again, at most
    ``max_attempts`` calls in all. The last result is returned (STALE when every attempt met
    a newer generation); an APPLIED change re-reads the intent into the mirror.
    ``on_stale(attempt, generation)`` is called for each stale answer. Raises the client's
    errors met while re-reading; a FAILED call is returned as such. The intent is re-read
    into the mirror after every answer that is not a stale generation or an error.
    """
    from django_axme.models import Intent

    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    generation = (
        Intent.objects.filter(intent_id=intent_id)
        .values_list("policy_generation", flat=True)
        .first()
    )
    if generation is None:
        generation = current_generation(client, intent_id)
    result = OperationResult(STALE)
    for attempt in range(1, max_attempts + 1):
        result = compare_and_set(
            client, intent_id, method, body, expected_generation=generation, owner_agent=owner_agent
        )
        if result.status != STALE:
            break
        if on_stale is not None:
            on_stale(attempt, generation)
        generation = current_generation(client, intent_id)
    if result.status == APPLIED or (result.status == REFUSED and result.error is None):
        from django_axme import sync

        sync.ingest_intent(client.get_intent(intent_id))
    return result
