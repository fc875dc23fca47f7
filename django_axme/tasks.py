"""Celery tasks of django-axme: thin; they call the client and hand what they learn to the
one writer (:mod:`django_axme.sync`). Importable without a broker and without a running
worker. Every task takes ids (remote intent ids, or the local primary key of an outbox row),
never model instances.

Retries: transport errors, 429 and 5xx are retried by Celery with exponential backoff and
jitter (at most ``AXME["TASK_MAX_RETRIES"]`` times, capped at
``AXME["TASK_RETRY_BACKOFF_MAX_SECONDS"]``, honouring ``Retry-After``). Authentication and
validation errors are not retried: they are recorded on the mirror (``Intent.last_error``)
and logged with the intent id. See ``docs/tasks.rst`` for each task.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.utils import timezone

from django_axme.celery import (
    OBSERVE_INTENT_TASK,
    OBSERVE_MANY_TASK,
    PRUNE_TASK,
    RECONCILE_OPEN_INTENTS_TASK,
    SEND_INTENT_TASK,
    SEND_RETRY_TASK,
    SYNC_INBOX_TASK,
    UPDATE_INTENT_CONTROLS_TASK,
    UPDATE_INTENT_POLICY_TASK,
    WAIT_FOR_INTENT_TASK,
    observer_task_options,
)
from django_axme.conf import get_setting

logger = logging.getLogger("django_axme.tasks")

__all__ = [
    "IntentWaitError",
    "IntentWaitTimeout",
    "StalePolicyGenerationError",
    "deliver_signals_at_worker_start",
    "intent_as_dict",
    "observe_intent",
    "observe_many",
    "prune",
    "reconcile_open_intents",
    "resend_unsent_decisions",
    "retry_intent",
    "send_intent",
    "send_retry",
    "start_observing",
    "sync_inbox",
    "update_intent_controls",
    "update_intent_policy",
    "wait_for_intent",
]


class IntentWaitError(RuntimeError):
    """``wait_for_intent`` cannot succeed: the intent ended in a status it does not wait for,
    or it is unknown to the gateway."""


class IntentWaitTimeout(IntentWaitError, TimeoutError):
    """``wait_for_intent`` gave up after its ``timeout``."""


class StalePolicyGenerationError(RuntimeError):
    """A controls/policy update kept meeting a newer ``policy_generation`` and gave up."""


# -- errors and retries ----------------------------------------------------------------------


def _transient_errors() -> tuple[type[BaseException], ...]:
    from django_axme.client import AxmeRateLimitError, AxmeServerError, AxmeTransportError

    return (AxmeTransportError, AxmeRateLimitError, AxmeServerError)


def _permanent_errors() -> tuple[type[BaseException], ...]:
    """API errors that a retry cannot fix (4xx other than 429), and refused idempotency reuse."""
    from django_axme.client import AxmeAPIError, AxmeIdempotencyError

    return (AxmeAPIError, AxmeIdempotencyError)


def error_record(exc: BaseException, *, operation: str) -> dict[str, Any]:
    """A JSON-serialisable description of a client error, as stored in ``Intent.last_error``."""
    from django_axme.client import AxmeAuthError, AxmeValidationError

    if isinstance(exc, AxmeAuthError):
        category = "auth"
    elif isinstance(exc, AxmeValidationError):
        category = "validation"
    else:
        category = "api"
    record: dict[str, Any] = {
        "operation": operation,
        "category": category,
        "error": type(exc).__name__,
        "message": str(exc),
    }
    for attr in ("status_code", "request_id", "trace_id"):
        value = getattr(exc, attr, None)
        if value is not None:
            record[attr] = value
    return record


def _backoff_seconds(retries: int, exc: BaseException) -> float:
    """Exponential backoff with jitter (between half and all of ``2**retries`` seconds),
    capped by ``TASK_RETRY_BACKOFF_MAX_SECONDS``; never shorter than a ``Retry-After``."""
    cap = float(get_setting("TASK_RETRY_BACKOFF_MAX_SECONDS"))
    ceiling = min(cap, float(2 ** min(retries, 20)))
    delay = random.uniform(ceiling / 2, ceiling)
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, (int, float)) and retry_after > 0:
        delay = max(delay, min(float(retry_after), cap))
    return delay


def _retry_later(task: Any, exc: BaseException, **kwargs: Any) -> Any:
    """Ask Celery to run ``task`` again later for a transient ``exc`` (raises ``Retry``);
    when the budget ``TASK_MAX_RETRIES`` is spent, re-raises ``exc``."""
    return task.retry(
        exc=exc,
        countdown=_backoff_seconds(task.request.retries, exc),
        max_retries=int(get_setting("TASK_MAX_RETRIES")),
        **kwargs,
    )


def _client() -> Any:
    from django_axme.conf import get_client

    return get_client()


# -- serialisation ---------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def intent_as_dict(intent: Any) -> dict[str, Any]:
    """The mirror row as a JSON-serialisable dict (what ``wait_for_intent`` returns)."""
    return {
        "intent_id": intent.intent_id,
        "pk": intent.pk,
        "status": intent.status,
        "waiting_reason": intent.waiting_reason,
        "intent_type": intent.intent_type,
        "correlation_id": intent.correlation_id,
        "owner_agent": intent.owner_agent,
        "from_agent": intent.from_agent,
        "to_agent": intent.to_agent,
        "reply_to": intent.reply_to,
        "payload": intent.payload,
        "human_task": intent.human_task,
        "result": intent.result,
        "error": intent.error,
        "controls": intent.controls,
        "policy_generation": intent.policy_generation,
        "deadline_at": _iso(intent.deadline_at),
        "last_seq": intent.last_seq,
        "attempt": intent.attempt,
        "retry_of": intent.retry_of.intent_id if intent.retry_of_id else None,
        "send_state": intent.send_state,
        "last_error": intent.last_error,
        "created_at": _iso(intent.remote_created_at or intent.created_at),
        "updated_at": _iso(intent.remote_updated_at or intent.updated_at),
    }


# -- observing -------------------------------------------------------------------------------


def start_observing(intent_ids: Iterable[str]) -> int:
    """Enqueue observers for these intents, unless a live lease shows one is running.

    One intent gets an ``observe_intent`` slice; several get ``observe_many`` slices of up to
    ``AXME["OBSERVER_BATCH_SIZE"]`` intents. Returns the number of intents enqueued.
    Safe to call repeatedly: a duplicate observer finds the lease taken and stops at once.
    """
    from django_axme.models import TERMINAL_STATUSES, Intent
    from django_axme.sync.leases import lease_is_live

    ids = list(dict.fromkeys(i for i in intent_ids if i))
    if not ids:
        return 0
    rows = Intent.objects.filter(intent_id__in=ids).exclude(status__in=TERMINAL_STATUSES)
    todo = [
        row.intent_id
        for row in rows.only("intent_id", "observer_token", "observer_lease_until")
        if row.intent_id and not lease_is_live(row)
    ]
    options = observer_task_options()
    if len(todo) == 1:
        observe_intent.apply_async(args=(todo[0],), **options)
    else:
        size = max(1, int(get_setting("OBSERVER_BATCH_SIZE")))
        for start in range(0, len(todo), size):
            observe_many.apply_async(args=(todo[start : start + size],), **options)
    return len(todo)


def _mirror_remote(intent_id: str) -> Any:
    """Read an intent from the gateway into the mirror (snapshot, then its new events)."""
    from django_axme.refresh import refresh_intent

    return refresh_intent(_client(), intent_id).intent


@shared_task(name=OBSERVE_INTENT_TASK, bind=True, acks_late=True, ignore_result=True)
def observe_intent(self: Any, intent_id: str, lease_token: str | None = None) -> str:
    """Follow one intent's event stream for one window, then re-enqueue until terminal.

    Holds the observer lease (one observer per intent); the cursor is ``Intent.last_seq``.
    Returns "terminal", "continued", "busy" (another observer holds the lease) or an error
    state. Safe to redeliver (``acks_late``): events are ingested idempotently. Transient
    gateway errors and transient database errors (``OperationalError`` such as "database is
    locked", ``InterfaceError``) retry the slice with backoff and the same lease token, so
    the chain of slices never ends for them (until ``TASK_MAX_RETRIES`` in a row).
    """
    from django_axme import sync
    from django_axme.client import AxmeNotFoundError
    from django_axme.models import Intent
    from django_axme.observer import observe_window_slice
    from django_axme.sync import leases

    token = lease_token or leases.new_token()
    lease_seconds = float(get_setting("OBSERVER_LEASE_SECONDS"))
    try:
        if not Intent.objects.filter(intent_id=intent_id).exists():
            _mirror_remote(intent_id)
        result = observe_window_slice(
            _client(),
            intent_id,
            token,
            window_seconds=int(get_setting("OBSERVE_WINDOW_SECONDS")),
            lease_seconds=lease_seconds,
        )
        if result.state == "open" and not leases.claim_lease(
            intent_id, token, seconds=lease_seconds
        ):
            return "busy"
    except _transient_errors() as exc:
        logger.info("intent %s: observer slice failed (%s); retrying", intent_id, exc)
        return _retry_later(self, exc, kwargs={"lease_token": token})
    except _transient_database_errors() as exc:
        # "database is locked", a dropped connection...: what was ingested is committed
        # (one transaction per event) and the cursor is in the database, so the slice is
        # simply run again later, with the same lease token.
        logger.warning("intent %s: database error in observer slice (%s); retrying", intent_id, exc)
        _discard_broken_connection()
        return _retry_later(self, exc, kwargs={"lease_token": token})
    except AxmeNotFoundError as exc:
        logger.error("intent %s: unknown to the gateway; observer stopped", intent_id)
        sync.record_intent_error(intent_id, error_record(exc, operation="observe"))
        leases.release_lease(intent_id, token)
        return "gone"
    except _permanent_errors() as exc:
        logger.error("intent %s: observer stopped: %s", intent_id, exc)
        sync.record_intent_error(intent_id, error_record(exc, operation="observe"))
        leases.release_lease(intent_id, token)
        return "failed"
    if result.state == "open":
        observe_intent.apply_async(
            args=(intent_id,), kwargs={"lease_token": token}, **observer_task_options()
        )
        return "continued"
    if result.state == "terminal":
        leases.release_lease(intent_id, token)
    return result.state


def _transient_database_errors() -> tuple[type[BaseException], ...]:
    """Database errors that a later try can fix: ``OperationalError`` ("database is locked",
    a lost connection, a serialization failure) and ``InterfaceError`` (a closed connection).
    Integrity and programming errors are not among them."""
    from django.db import InterfaceError, OperationalError

    return (OperationalError, InterfaceError)


def _discard_broken_connection() -> None:
    """Close this thread's database connection if a failed query left it unusable, so the
    retried task opens a fresh one (never raises)."""
    from django.db import connection

    try:
        if connection.in_atomic_block:
            return
        connection.close_if_unusable_or_obsolete()
    except Exception:  # best effort: the retry reconnects anyway
        logger.debug("could not check the database connection", exc_info=True)


@shared_task(name=OBSERVE_MANY_TASK, bind=True, acks_late=True, ignore_result=True)
def observe_many(
    self: Any,
    intent_ids: Sequence[str],
    lease_token: str | None = None,
    slice_seconds: float | None = None,
) -> dict[str, int]:
    """Follow many intents' streams in one task for one slice, then re-enqueue the open ones.

    One reader thread per stream and a few writer threads that ingest in small batches (one
    intent always by the same writer, in order): one pool slot and at most four database
    connections for up to ``AXME["OBSERVER_BATCH_SIZE"]`` intents (more are split into further
    tasks). The slice lasts ``slice_seconds`` (default: ``AXME["OBSERVE_WINDOW_SECONDS"]``);
    the next slice, re-enqueued with the same lease token, adopts the streams still open in
    this process instead of reconnecting them. Intents whose lease another observer holds are
    skipped. Returns counts per outcome ("busy", "open", "terminal", "gone", "failed", "lost").
    """
    from django_axme.client import AxmeClient
    from django_axme.observer import MultiplexedSlice
    from django_axme.sync import leases

    ids = list(dict.fromkeys(str(i) for i in intent_ids if i))
    size = max(1, int(get_setting("OBSERVER_BATCH_SIZE")))
    if len(ids) > size:
        for start in range(size, len(ids), size):
            observe_many.apply_async(args=(ids[start : start + size],), **observer_task_options())
        ids = ids[:size]
    token = lease_token or leases.new_token()
    lease_seconds = float(get_setting("OBSERVER_LEASE_SECONDS"))
    window = int(get_setting("OBSERVE_WINDOW_SECONDS"))
    held = leases.claim_leases(ids, token, seconds=lease_seconds)
    if not held:
        return {"busy": len(ids)}
    base = _client()
    pool_size = max(10, size + 10)
    report = MultiplexedSlice(
        lambda: AxmeClient(dataclasses.replace(base.config, pool_maxsize=pool_size)),
        held,
        token,
        slice_seconds=float(slice_seconds or window),
        window_seconds=window,
        lease_seconds=lease_seconds,
        writers=_observer_writers(),
    ).run()
    for intent_id, error in report.errors.items():
        logger.error("intent %s: observer stopped: %s", intent_id, error.get("message"))
        _record_error_quietly(intent_id, {**error, "operation": "observe"})
    still_open = report.still_open
    if still_open:
        leases.renew_leases(token, seconds=lease_seconds)
        observe_many.apply_async(
            args=(still_open,),
            kwargs={"lease_token": token, "slice_seconds": slice_seconds},
            **observer_task_options(),
        )
    counts: dict[str, int] = {"busy": len(ids) - len(held)}
    for outcome in report.outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _observer_writers() -> int:
    """Writer threads of an ``observe_many`` slice: SQLite serialises writers, so one there;
    four elsewhere (each holds one database connection while the slice runs)."""
    from django.db import connection

    return 1 if connection.vendor == "sqlite" else 4


def _record_error_quietly(intent_id: str, error: Mapping[str, Any]) -> None:
    from django_axme import sync

    try:
        sync.record_intent_error(intent_id, error)
    except Exception:  # never let bookkeeping hide the original problem
        logger.exception("intent %s: could not record error %s", intent_id, error)


@shared_task(name=WAIT_FOR_INTENT_TASK, bind=True, acks_late=True, max_retries=None)
def wait_for_intent(
    self: Any,
    intent_id: str,
    terminal_states: Sequence[str] | None = None,
    timeout: float | None = None,
    poll_seconds: float = 1.0,
    deadline: float | None = None,
    observer_checked: float | None = None,
) -> dict[str, Any]:
    """Complete with the intent (as a dict, see :func:`intent_as_dict`) once the mirror shows
    a status in ``terminal_states`` (default: COMPLETED, FAILED, CANCELED, TIMED_OUT).

    Does not hold a worker slot while waiting: each run looks at the mirror, makes sure an
    observer follows the intent, and schedules itself again (Celery retry with a countdown
    growing from ``poll_seconds`` to 30 s). Fits in a chain:
    ``(wait_for_intent.s(intent_id) | handle_result.s()).delay()``.

    Raises :class:`IntentWaitTimeout` after ``timeout`` seconds, and :class:`IntentWaitError`
    when the intent ended in a terminal status not in ``terminal_states``.
    """
    from django_axme.models import TERMINAL_STATUSES, Intent
    from django_axme.sync.leases import lease_is_live

    states = {str(s).upper() for s in (terminal_states or TERMINAL_STATUSES)}
    now = time.time()
    if deadline is None and timeout is not None:
        if timeout <= 0:
            raise ValueError("wait_for_intent timeout must be a positive number of seconds")
        deadline = now + float(timeout)
    intent = Intent.objects.filter(intent_id=intent_id).select_related("retry_of").first()
    if intent is None:
        try:
            intent = _mirror_remote(intent_id)
        except _transient_errors() as exc:
            return _retry_later(
                self,
                exc,
                kwargs={
                    "terminal_states": sorted(states),
                    "timeout": timeout,
                    "poll_seconds": poll_seconds,
                    "deadline": deadline,
                },
            )
        except _permanent_errors() as exc:
            raise IntentWaitError(f"cannot wait for intent {intent_id}: {exc}") from exc
    if intent.status in states:
        return intent_as_dict(intent)
    if intent.status in TERMINAL_STATUSES:
        raise IntentWaitError(
            f"intent {intent_id} ended {intent.status}, not one of {sorted(states)}"
        )
    if deadline is not None and now >= deadline:
        raise IntentWaitTimeout(
            f"intent {intent_id} did not reach {sorted(states)} within {timeout} s "
            f"(status {intent.status})"
        )
    if not lease_is_live(intent) and (observer_checked is None or now - observer_checked > 10):
        start_observing([intent_id])
        observer_checked = now
    countdown = min(30.0, max(0.1, poll_seconds) * (1.5 ** min(self.request.retries, 20)))
    if deadline is not None:
        countdown = max(0.1, min(countdown, deadline - now))
    raise self.retry(
        countdown=countdown,
        max_retries=None,
        kwargs={
            "terminal_states": sorted(states),
            "timeout": timeout,
            "poll_seconds": poll_seconds,
            "deadline": deadline,
            "observer_checked": observer_checked,
        },
    )


# -- sending ---------------------------------------------------------------------------------


@shared_task(name=SEND_INTENT_TASK, bind=True, acks_late=True, ignore_result=True)
def send_intent(self: Any, intent_pk: int, observe: bool = True) -> str | None:
    """Create an outbox row's intent remotely, mirror the answer, start observing.

    Idempotent and safe to redeliver: the request body and idempotency key are the row's, so
    the gateway answers any repeat with the intent it created first. Transient errors retry
    with backoff; any other API error marks the row ``rejected`` (``last_error``), no retry.
    Returns the remote intent id, or None when the row was rejected or is gone.
    """
    from django_axme.models import Intent, SendState
    from django_axme.sync import outbox

    row = Intent.objects.filter(pk=intent_pk).first()
    if row is None:
        logger.warning("send_intent: outbox row #%s does not exist (rolled back?)", intent_pk)
        return None
    if row.send_state in (SendState.SENT, SendState.REMOTE):
        if observe and row.intent_id:
            start_observing([row.intent_id])
        return row.intent_id
    if row.send_state != SendState.PENDING:
        return None
    request = outbox.outbox_request(row)
    try:
        answer = _client().create_intent(
            request,
            correlation_id=request["correlation_id"],
            idempotency_key=row.idempotency_key,
        )
    except _transient_errors() as exc:
        logger.info("outbox row #%s: send failed (%s); retrying", row.pk, exc)
        return _retry_later(self, exc)
    except _permanent_errors() as exc:
        logger.error(
            "outbox row #%s (correlation %s): rejected by the gateway, not retried: %s",
            row.pk,
            row.correlation_id,
            exc,
        )
        outbox.mark_rejected(row, error_record(exc, operation="create_intent"))
        return None
    if not isinstance(answer, Mapping) or not answer.get("intent_id"):
        logger.error("outbox row #%s: create answer has no intent_id: %r", row.pk, answer)
        outbox.mark_rejected(
            row, {"operation": "create_intent", "message": "answer without intent_id"}
        )
        return None
    intent = outbox.mark_sent(row, request, answer)
    logger.info("outbox row #%s sent as intent %s", row.pk, intent.intent_id)
    if observe and intent.intent_id:
        start_observing([intent.intent_id])
    return intent.intent_id


def retry_intent(
    intent_id: str,
    countdown: float | None = None,
    eta: datetime | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Any:
    """Schedule a new attempt of a FAILED or TIMED_OUT intent; return the Celery AsyncResult.

    The new attempt is created when the task runs (after ``countdown`` seconds or at ``eta``):
    a new outbox row with ``attempt + 1``, ``retry_of`` = the original, the same correlation
    id, its own idempotency key; ``overrides`` replaces create fields (for example a new
    ``payload`` or ``deadline_at``). Raises ValueError if the intent is unknown or not FAILED
    or TIMED_OUT.
    """
    from django_axme.models import Intent, IntentStatus

    intent = Intent.objects.filter(intent_id=intent_id).first()
    if intent is None:
        raise ValueError(f"intent {intent_id} is not in the mirror")
    if intent.status not in (IntentStatus.FAILED, IntentStatus.TIMED_OUT):
        raise ValueError(
            f"only FAILED or TIMED_OUT intents can be retried; {intent_id} is {intent.status}"
        )
    options: dict[str, Any] = {}
    if countdown is not None:
        options["countdown"] = countdown
    if eta is not None:
        options["eta"] = eta
    return send_retry.apply_async(
        args=(intent_id,), kwargs={"overrides": dict(overrides) if overrides else None}, **options
    )


@shared_task(name=SEND_RETRY_TASK, bind=True, acks_late=True, ignore_result=True)
def send_retry(
    self: Any, intent_id: str, overrides: Mapping[str, Any] | None = None, observe: bool = True
) -> str | None:
    """Create (once) the next attempt of a FAILED or TIMED_OUT intent and enqueue its send.

    Idempotent: the attempt row is created only once per original, then sent by
    ``send_intent`` like any outbox row (same key on every try; a lost message is sent by the
    reconcile sweep). Returns the new attempt's remote id when it was already sent, else None.
    """
    from django_axme.models import Intent, IntentStatus, SendState
    from django_axme.sync import outbox

    original = Intent.objects.filter(intent_id=intent_id).first()
    if original is None or original.status not in (IntentStatus.FAILED, IntentStatus.TIMED_OUT):
        logger.warning(
            "send_retry: intent %s is %s; not retried",
            intent_id,
            original.status if original else "not mirrored",
        )
        return None
    try:
        attempt = outbox.create_retry_attempt(original.pk, overrides)
    except ValueError as exc:
        logger.error("send_retry: intent %s: %s", intent_id, exc)
        _record_error_quietly(intent_id, {"operation": "retry_intent", "message": str(exc)})
        return None
    logger.info(
        "intent %s: retry attempt %s is outbox row #%s", intent_id, attempt.attempt, attempt.pk
    )
    if attempt.send_state == SendState.PENDING:
        send_intent.apply_async(args=(attempt.pk,), kwargs={"observe": observe})
    return attempt.intent_id


# -- controls and policy ---------------------------------------------------------------------


def _is_stale_answer(answer: Any) -> bool:
    return (
        isinstance(answer, Mapping)
        and answer.get("applied") is False
        and "stale" in str(answer.get("reason", ""))
    )


def _is_stale_conflict(exc: BaseException) -> bool:
    from django_axme.client import AxmeConflictError, AxmeStalePolicyError

    if isinstance(exc, AxmeStalePolicyError):
        return True
    if not isinstance(exc, AxmeConflictError):
        return False
    body = getattr(exc, "body", None)
    return "stale_policy_generation" in str(body) or "stale" in str(exc).lower()


def _current_generation(intent_id: str) -> int | None:
    """Re-read the intent from the gateway, mirror it, return its ``policy_generation``."""
    from django_axme import sync

    data = _client().get_intent(intent_id)
    intent = sync.ingest_intent(data)
    return intent.policy_generation


def _update_with_generation(
    task: Any,
    intent_id: str,
    method: str,
    body: dict[str, Any],
    *,
    owner_agent: str | None,
    max_attempts: int,
) -> dict[str, Any]:
    """Call ``client.<method>`` with ``expected_policy_generation`` (the mirrored generation,
    or the gateway's when the mirror has none); while the gateway says it is stale, re-read the
    intent (``get_intent``, mirrored) and try again, at most ``max_attempts`` calls in all."""
    from django_axme import sync

    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    from django_axme.models import Intent

    try:
        generation = (
            Intent.objects.filter(intent_id=intent_id)
            .values_list("policy_generation", flat=True)
            .first()
        )
        if generation is None:
            generation = _current_generation(intent_id)
        for attempt in range(1, max_attempts + 1):
            call_body = dict(body)
            if generation is not None:
                call_body["expected_policy_generation"] = generation
            try:
                answer = getattr(_client(), method)(intent_id, call_body, owner_agent=owner_agent)
            except _permanent_errors() as exc:
                if not _is_stale_conflict(exc):
                    raise
                answer = None
            if answer is not None and not _is_stale_answer(answer):
                sync.ingest_intent(_client().get_intent(intent_id))
                return dict(answer)
            logger.info(
                "intent %s: %s met a stale policy_generation %s (attempt %d/%d); re-reading",
                intent_id,
                method,
                generation,
                attempt,
                max_attempts,
            )
            generation = _current_generation(intent_id)
    except _transient_errors() as exc:
        return _retry_later(task, exc)
    except _permanent_errors() as exc:
        logger.error("intent %s: %s refused, not retried: %s", intent_id, method, exc)
        _record_error_quietly(intent_id, error_record(exc, operation=method))
        raise
    error = StalePolicyGenerationError(
        f"intent {intent_id}: {method} still stale after {max_attempts} attempts"
    )
    _record_error_quietly(intent_id, {"operation": method, "message": str(error)})
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

    A stale ``policy_generation`` (409, or ``200 {"applied": false}``) makes it re-read the
    intent and try again, at most ``max_attempts`` times (then
    :class:`StalePolicyGenerationError`). Returns the gateway's answer; the mirror is
    refreshed. Auth/validation errors are recorded on the intent and raised, not retried.
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


# -- periodic --------------------------------------------------------------------------------


@shared_task(name=RECONCILE_OPEN_INTENTS_TASK, bind=True, ignore_result=True)
def reconcile_open_intents(
    self: Any,
    limit: int = 1000,
    pending_after_seconds: float = 30.0,
    signals_after_seconds: float = 10.0,
    decisions_after_seconds: float = 300.0,
) -> dict[str, int]:
    """Catch up with whatever a lost message left behind. Safe to run at any time.

    0. Signals recorded at least ``signals_after_seconds`` ago and still undelivered (their
       process died between the mirror commit and the delivery commit) are delivered
       (:func:`django_axme.sync.deliver_pending_signals`: each exactly once).
    1. Outbox rows still pending ``pending_after_seconds`` after they were written (their
       after-commit message was lost) are sent (same idempotency key: never twice).
    2. Open intents without a live observer lease (never observed, or its worker died and the
       lease expired) get observers again, batched into ``observe_many`` slices; they resume
       from the stored cursor.
    3. Open intents whose observer holds a lease but that were not heard from for
       ``AXME["RECONCILE_AFTER_SECONDS"]`` are re-read once (snapshot and events since the
       cursor), as a safety net against a stuck stream.
    4. Approval decisions still ``recorded`` ``decisions_after_seconds`` after they were
       recorded (the process died, or failed unexpectedly, between recording and sending) are
       resent with their own idempotency key (:func:`resend_unsent_decisions`).

    Each step is isolated: an unexpected error in one intent or decision is logged and the
    sweep goes on with the next.
    """
    from django.db.models import Q

    from django_axme.models import TERMINAL_STATUSES, Intent
    from django_axme.sync import deliver_pending_signals, leases, outbox

    delivered = deliver_pending_signals(older_than_seconds=signals_after_seconds, limit=limit)
    pending = outbox.pending_rows(pending_after_seconds, limit)
    for pk in pending:
        send_intent.apply_async(args=(pk,))
    cutoff = timezone.now() - timedelta(seconds=float(get_setting("RECONCILE_AFTER_SECONDS")))
    # Observed (live lease) but silent for too long: read it once, whatever the observer does.
    stale = [
        intent_id
        for intent_id in Intent.objects.exclude(intent_id__isnull=True)
        .exclude(status__in=TERMINAL_STATUSES)
        .filter(Q(last_heard_at__isnull=True) | Q(last_heard_at__lte=cutoff))
        .filter(observer_lease_until__gt=timezone.now())
        .values_list("intent_id", flat=True)[:limit]
        if intent_id
    ]
    resynced = 0
    for intent_id in stale:
        try:
            _mirror_remote(intent_id)
            resynced += 1
        except _transient_errors() as exc:
            logger.info("reconcile: intent %s not re-read (%s); next sweep", intent_id, exc)
        except _permanent_errors() as exc:
            logger.error("reconcile: intent %s: %s", intent_id, exc)
            _record_error_quietly(intent_id, error_record(exc, operation="reconcile"))
        except Exception:
            logger.exception("reconcile: intent %s not re-read; next sweep", intent_id)
    orphans = leases.expired_open_intents(limit)
    started = start_observing(orphans)
    decisions = resend_unsent_decisions(older_than_seconds=decisions_after_seconds, limit=limit)
    result = {
        "signals": delivered,
        "sent": len(pending),
        "resynced": resynced,
        "observers": started,
        "decisions": decisions,
    }
    if any(result.values()):
        logger.info("reconcile_open_intents: %s", result)
    return result


def resend_unsent_decisions(*, older_than_seconds: float = 300.0, limit: int = 100) -> int:
    """Resend the approval decisions left ``recorded`` for ``older_than_seconds`` or more;
    return how many were resent and answered (sent, superseded or failed).

    Each goes through :func:`django_axme.decisions.send_decision` with its own
    idempotency key, so a decision the gateway already took is answered as the first time and
    confirmed as usual, one whose thread moved on (decided elsewhere, done) is superseded
    (409) or failed, and one met by a transport error, 429 or 5xx stays ``recorded`` for the
    next sweep. An unexpected error on one decision is logged; the others go on.
    """
    from django_axme.decisions import send_decision
    from django_axme.models import DecisionState
    from django_axme.sync.approvals import unsent_decisions

    answered = 0
    for record in unsent_decisions(older_than_seconds, limit):
        try:
            send_decision(record, keep_on_transient=True)
            record.refresh_from_db(fields=["state"])
        except Exception:
            logger.exception("reconcile: decision #%s not resent; next sweep", record.pk)
            continue
        if record.state != DecisionState.RECORDED:
            answered += 1
            logger.info(
                "reconcile: decision #%s on thread %s resent: %s",
                record.pk,
                record.approval.thread_id,
                record.state,
            )
    return answered


def inbox_cursor_name(owner_agent: str) -> str:
    """Name of the :class:`~django_axme.models.SyncCursor` holding an owner's inbox cursor."""
    return f"inbox_changes:{owner_agent}"


@shared_task(name=SYNC_INBOX_TASK, bind=True, acks_late=True, ignore_result=True)
def sync_inbox(
    self: Any, owner_agents: Sequence[str] | None = None, max_pages: int = 20, page_size: int = 100
) -> dict[str, int]:
    """Pull inbox changes for each owner (default ``AXME["INBOX_OWNER_AGENTS"]``) and feed
    the threads to the approval mirror (``approval_requested``) through
    :func:`django_axme.refresh.ingest_inbox_thread`, which first reads a thread's intent when
    the thread is newer than the mirror (so a change is never passed over because the observer
    has not mirrored the ``WAITING_FOR_HUMAN`` event yet).

    The cursor is stored per owner in :class:`~django_axme.models.SyncCursor` after each page
    is ingested: a crash re-reads at most one page, which ingestion ignores. Malformed change
    items are logged and skipped. Returns the number of threads ingested per owner.
    """
    from django_axme.refresh import ingest_inbox_thread
    from django_axme.sync import leases

    owners = list(owner_agents or get_setting("INBOX_OWNER_AGENTS") or [])
    client = _client()
    counts: dict[str, int] = {}
    try:
        for owner in owners:
            name = inbox_cursor_name(owner)
            cursor = leases.read_sync_cursor(name)
            counts[owner] = 0
            for _page in range(max_pages):
                page = client.list_inbox_changes(owner_agent=owner, cursor=cursor, limit=page_size)
                changes = page.get("changes") if isinstance(page, Mapping) else None
                if not isinstance(changes, list):
                    logger.warning("sync_inbox: %s: malformed changes page skipped", owner)
                    break
                last_cursor = None
                for change in changes:
                    thread = change.get("thread") if isinstance(change, Mapping) else None
                    if not isinstance(thread, Mapping):
                        logger.warning(
                            "sync_inbox: %s: malformed change skipped: %r", owner, change
                        )
                        continue
                    ingest_inbox_thread(client, thread)
                    counts[owner] += 1
                    if isinstance(change.get("cursor"), str):
                        last_cursor = change["cursor"]
                next_cursor = page.get("next_cursor") or last_cursor
                if next_cursor and next_cursor != cursor:
                    leases.save_sync_cursor(name, next_cursor)
                    cursor = next_cursor
                if not page.get("has_more"):
                    break
    except _transient_errors() as exc:
        return _retry_later(self, exc, kwargs={"owner_agents": owners})
    except _permanent_errors() as exc:
        logger.error("sync_inbox: refused, not retried: %s", exc)
        raise
    return counts


@shared_task(name=PRUNE_TASK, ignore_result=True)
def prune(retention_days: int | None = None, batch_size: int | None = None) -> dict[str, int]:
    """Delete mirror rows past ``AXME["RETENTION_DAYS"]`` in batches of
    ``AXME["PRUNE_BATCH_SIZE"]`` (what ``manage.py axme_prune`` does); returns the counts."""
    from django_axme.sync.prune import prune as prune_mirror

    counts = prune_mirror(retention_days=retention_days, batch_size=batch_size)
    result = dataclasses.asdict(counts)
    logger.info("prune: %s", result)
    return result


# -- worker start ----------------------------------------------------------------------------


@worker_ready.connect(dispatch_uid="django_axme.deliver_pending_signals_at_start")
def deliver_signals_at_worker_start(**kwargs: Any) -> int:
    """At worker start (``worker_ready``, in the main process, for every pool), deliver the
    signals a killed process left pending (:func:`django_axme.sync.deliver_pending_signals`).

    Never stops the worker from starting: any error (e.g. a database that is not migrated
    yet) is logged and the periodic ``reconcile_open_intents`` tries again. Closes the
    database connection it used, so the main process keeps none open.
    """
    from django.db import connections

    try:
        from django_axme.sync import deliver_pending_signals

        return deliver_pending_signals(older_than_seconds=0.0)
    except Exception as exc:
        logger.warning("pending signals not delivered at worker start: %s", exc)
        return 0
    finally:
        try:
            connections.close_all()
        except Exception:  # pragma: no cover - closing is best effort
            logger.debug("closing connections after start-up delivery failed", exc_info=True)


from django_axme.agent.tasks import agent_listen, run_agent_handler  # noqa: E402,F401
