"""Controls and policy tasks: compare-and-set on the generation, re-reading when stale."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from celery import shared_task

from django_axme.celery import UPDATE_INTENT_CONTROLS_TASK, UPDATE_INTENT_POLICY_TASK
from django_axme.client.errors import AxmeError
from django_axme.exceptions import StalePolicyGenerationError
from django_axme.tasks._common import client, error_record, record_error_quietly, retry_later

logger = logging.getLogger("django_axme.tasks")

__all__ = ["update_intent_controls", "update_intent_policy"]


def _update_with_generation(
    task: Any,
    intent_id: str,
    method: str,
    body: dict[str, Any],
    *,
    owner_agent: str | None,
    max_attempts: int,
) -> dict[str, Any]:
    """:func:`django_axme.services.controls.update_until_applied` with Celery around it: a
    retryable error retries the task, any other is recorded on the intent and raised, a
    generation still stale after ``max_attempts`` raises :class:`StalePolicyGenerationError`
    (recorded too)."""
    from django_axme.services.controls import APPLIED, STALE, update_until_applied

    def log_stale(attempt: int, generation: int | None) -> None:
        logger.info(
            "intent %s: %s met a stale policy_generation %s (attempt %d/%d); re-reading",
            intent_id,
            method,
            generation,
            attempt,
            max_attempts,
        )

    try:
        result = update_until_applied(
            client(),
            intent_id,
            method,
            body,
            owner_agent=owner_agent,
            max_attempts=max_attempts,
            on_stale=log_stale,
        )
    except AxmeError as exc:  # met while re-reading the intent
        result = None
        error: BaseException | None = exc
    if result is not None:
        error = result.error
    if result is not None and (result.status == APPLIED or (result.answer and error is None)):
        # applied, or answered ``applied: false`` for a reason other than a stale
        # generation: the gateway's answer is the task's result, as it always was.
        return dict(result.answer)
    if result is not None and result.status == STALE:
        stale = StalePolicyGenerationError(
            f"intent {intent_id}: {method} still stale after {max_attempts} attempts"
        )
        record_error_quietly(intent_id, error_record(stale, operation=method))
        raise stale
    if isinstance(error, AxmeError) and error.retryable:
        return retry_later(task, error)
    if error is None:  # pragma: no cover - every other result carries its error
        error = AxmeError(f"{method} not applied")
    logger.error("intent %s: %s refused, not retried: %s", intent_id, method, error)
    record_error_quietly(intent_id, error_record(error, operation=method))
    raise error


@shared_task(name=UPDATE_INTENT_CONTROLS_TASK, bind=True, acks_late=True)
def update_intent_controls(
    self: Any,
    intent_id: str,
    controls_patch: Mapping[str, Any],
    *,
    actor: str | None = None,
    reason: str | None = None,
    owner_agent: str | None = None,
    max_attempts: int = 3,
) -> dict[str, Any]:
    """Apply ``controls_patch`` to an intent's controls with the current policy generation.

    A stale ``policy_generation`` (409 ``stale_policy_generation``, or ``200 {"applied":
    false, "reason": "stale_policy_generation"}``) makes it re-read the intent and try again,
    at most ``max_attempts`` times (then :class:`StalePolicyGenerationError`). Returns the
    gateway's answer; the mirror is refreshed. Errors the client does not call retryable
    (auth, validation, another conflict) are recorded on the intent and raised, not retried.
    """
    body: dict[str, Any] = {"controls_patch": dict(controls_patch)}
    if actor:
        body["actor"] = actor
    if reason:
        body["reason"] = reason
    return _update_with_generation(
        self,
        intent_id,
        "update_intent_controls",
        body,
        owner_agent=owner_agent,
        max_attempts=max_attempts,
    )


@shared_task(name=UPDATE_INTENT_POLICY_TASK, bind=True, acks_late=True)
def update_intent_policy(
    self: Any,
    intent_id: str,
    grants_patch: Mapping[str, Any] | None = None,
    envelope_patch: Mapping[str, Any] | None = None,
    *,
    actor: str | None = None,
    reason: str | None = None,
    owner_agent: str | None = None,
    max_attempts: int = 3,
) -> dict[str, Any]:
    """Apply ``grants_patch`` / ``envelope_patch`` to an intent's policy, like
    :func:`update_intent_controls` (same stale-generation handling and errors)."""
    if not grants_patch and not envelope_patch:
        raise ValueError("update_intent_policy needs grants_patch or envelope_patch")
    body: dict[str, Any] = {}
    if grants_patch:
        body["grants_patch"] = dict(grants_patch)
    if envelope_patch:
        body["envelope_patch"] = dict(envelope_patch)
    if actor:
        body["actor"] = actor
    if reason:
        body["reason"] = reason
    return _update_with_generation(
        self,
        intent_id,
        "update_intent_policy",
        body,
        owner_agent=owner_agent,
        max_attempts=max_attempts,
    )
