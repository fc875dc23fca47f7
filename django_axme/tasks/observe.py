"""Observer tasks: follow intents' event streams in slices, and wait for an intent."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from celery import shared_task

from django_axme.celery import (
    OBSERVE_INTENT_TASK,
    OBSERVE_MANY_TASK,
    WAIT_FOR_INTENT_TASK,
    observer_task_options,
)
from django_axme.client.errors import AxmeError, AxmeNotFoundError
from django_axme.conf import get_setting
from django_axme.exceptions import IntentWaitError, IntentWaitTimeout
from django_axme.tasks._common import client, error_record, record_error_quietly, retry_later

logger = logging.getLogger("django_axme.tasks")

__all__ = [
    "intent_as_dict",
    "observe_intent",
    "observe_many",
    "start_observing",
    "wait_for_intent",
]


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


def start_observing(intent_ids: Iterable[str]) -> int:
    """Enqueue observers for these intents, unless a live lease shows one is running.

    One intent gets an ``observe_intent`` slice; several get ``observe_many`` slices of up to
    ``AXME["OBSERVER_BATCH_SIZE"]`` intents. Returns the number of intents enqueued.
    Safe to call repeatedly: a duplicate observer finds the lease taken and stops at once.
    """
    from django_axme.models import Intent

    ids = list(dict.fromkeys(i for i in intent_ids if i))
    if not ids:
        return 0
    todo = list(Intent.objects.filter(intent_id__in=ids).without_live_observer().remote_ids())
    options = observer_task_options()
    if len(todo) == 1:
        observe_intent.apply_async(args=(todo[0],), **options)
    else:
        size = max(1, int(get_setting("OBSERVER_BATCH_SIZE")))
        for start in range(0, len(todo), size):
            observe_many.apply_async(args=(todo[start : start + size],), **options)
    return len(todo)


def mirror_remote(intent_id: str) -> Any:
    """Read an intent from the gateway into the mirror (snapshot, then its new events)."""
    from django_axme.services.refresh import refresh_intent

    return refresh_intent(client(), intent_id).intent


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


@shared_task(name=OBSERVE_INTENT_TASK, bind=True, acks_late=True, ignore_result=True)
def observe_intent(self: Any, intent_id: str, lease_token: str | None = None) -> str:
    """Follow one intent's event stream for one window, then re-enqueue until terminal.

    Holds the observer lease (one observer per intent); the cursor is ``Intent.last_seq``.
    Returns "terminal", "continued", "busy" (another observer holds the lease), "idle" (the
    intent waits with no event for ``AXME["OBSERVER_IDLE_AFTER_SECONDS"]``: its lease is
    released and ``poll_idle_intents`` follows it) or an error state. Safe to redeliver
    (``acks_late``): events are ingested idempotently. Retryable gateway errors
    (``AxmeError.retryable``) and transient database errors
    (``OperationalError`` such as "database is locked", ``InterfaceError``) retry the slice
    with backoff and the same lease token, so the chain of slices never ends for them (until
    ``TASK_MAX_RETRIES`` in a row).
    """
    from django_axme.models import Intent
    from django_axme.observer import observe_window_slice
    from django_axme.sync import leases
    from django_axme.sync.idle import let_go_quiet

    token = lease_token or leases.new_token()
    lease_seconds = float(get_setting("OBSERVER_LEASE_SECONDS"))
    try:
        if not Intent.objects.by_remote_id(intent_id).exists():
            mirror_remote(intent_id)
        result = observe_window_slice(
            client(),
            intent_id,
            token,
            window_seconds=int(get_setting("OBSERVE_WINDOW_SECONDS")),
            lease_seconds=lease_seconds,
        )
        if result.state == "open" and not leases.claim_lease(
            intent_id, token, seconds=lease_seconds
        ):
            return "busy"
        if result.state == "open" and let_go_quiet(
            [intent_id], token, float(get_setting("OBSERVER_IDLE_AFTER_SECONDS"))
        ):
            return "idle"
    except AxmeNotFoundError as exc:
        logger.error("intent %s: unknown to the gateway; observer stopped", intent_id)
        record_error_quietly(intent_id, error_record(exc, operation="observe"))
        leases.release_lease(intent_id, token)
        return "gone"
    except AxmeError as exc:
        if exc.retryable:
            logger.info("intent %s: observer slice failed (%s); retrying", intent_id, exc)
            return retry_later(self, exc, kwargs={"lease_token": token})
        logger.error("intent %s: observer stopped: %s", intent_id, exc)
        record_error_quietly(intent_id, error_record(exc, operation="observe"))
        leases.release_lease(intent_id, token)
        return "failed"
    except _transient_database_errors() as exc:
        # "database is locked", a dropped connection...: what was ingested is committed
        # (one transaction per event) and the cursor is in the database, so the slice is
        # simply run again later, with the same lease token.
        logger.warning("intent %s: database error in observer slice (%s); retrying", intent_id, exc)
        _discard_broken_connection()
        return retry_later(self, exc, kwargs={"lease_token": token})
    if result.state == "open":
        observe_intent.apply_async(
            args=(intent_id,), kwargs={"lease_token": token}, **observer_task_options()
        )
        return "continued"
    if result.state == "terminal":
        leases.release_lease(intent_id, token)
    return result.state


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
    skipped. Intents waiting with no event for ``AXME["OBSERVER_IDLE_AFTER_SECONDS"]`` go idle
    (the ``poll_idle_intents`` task follows them). Returns counts per outcome ("busy", "open",
    "terminal", "gone", "failed", "lost", "idle").
    """
    from django_axme.client import AxmeClient
    from django_axme.observer import MultiplexedSlice
    from django_axme.sync import leases
    from django_axme.sync.idle import let_go_quiet

    ids = list(dict.fromkeys(str(i) for i in intent_ids if i))
    size = max(1, int(get_setting("OBSERVER_BATCH_SIZE")))
    if len(ids) > size:
        for start in range(size, len(ids), size):
            observe_many.apply_async(args=(ids[start : start + size],), **observer_task_options())
        ids = ids[:size]
    token = lease_token or leases.new_token()
    lease_seconds = float(get_setting("OBSERVER_LEASE_SECONDS"))
    window = int(get_setting("OBSERVE_WINDOW_SECONDS"))
    claimed = leases.claim_leases(ids, token, seconds=lease_seconds)
    idle_after = float(get_setting("OBSERVER_IDLE_AFTER_SECONDS"))
    # Intents already quiet past the idle period (e.g. picked up again after a restart) go
    # straight to the idle poll, without opening a stream first.
    went_idle = set(let_go_quiet(claimed, token, idle_after))
    held = [i for i in claimed if i not in went_idle]
    if not held:
        return (
            {"busy": len(ids) - len(claimed), "idle": len(went_idle)}
            if claimed
            else {"busy": len(ids)}
        )
    base = client()
    pool_size = max(10, size + 10)
    report = MultiplexedSlice(
        lambda: AxmeClient(dataclasses.replace(base.config, pool_maxsize=pool_size)),
        held,
        token,
        slice_seconds=float(slice_seconds or window),
        window_seconds=window,
        lease_seconds=lease_seconds,
        writers=_observer_writers(),
        idle_after=idle_after,
    ).run()
    for intent_id, error in report.errors.items():
        logger.error("intent %s: observer stopped: %s", intent_id, error.get("message"))
        record_error_quietly(intent_id, {**error, "operation": "observe"})
    still_open = report.still_open
    if still_open:
        leases.renew_leases(token, seconds=lease_seconds)
        observe_many.apply_async(
            args=(still_open,),
            kwargs={"lease_token": token, "slice_seconds": slice_seconds},
            **observer_task_options(),
        )
    counts: dict[str, int] = {"busy": len(ids) - len(claimed)}
    if went_idle:
        counts["idle"] = len(went_idle)
    for outcome in report.outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _observer_writers() -> int:
    """Writer threads of an ``observe_many`` slice: SQLite serialises writers, so one there;
    four elsewhere (each holds one database connection while the slice runs)."""
    from django.db import connection

    return 1 if connection.vendor == "sqlite" else 4


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
    intent = Intent.objects.by_remote_id(intent_id).select_related("retry_of").first()
    if intent is None:
        try:
            intent = mirror_remote(intent_id)
        except AxmeError as exc:
            if not exc.retryable:
                raise IntentWaitError(f"cannot wait for intent {intent_id}: {exc}") from exc
            return retry_later(
                self,
                exc,
                kwargs={
                    "terminal_states": sorted(states),
                    "timeout": timeout,
                    "poll_seconds": poll_seconds,
                    "deadline": deadline,
                },
            )
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
