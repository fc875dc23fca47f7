"""Periodic tasks (the beat schedule of :mod:`django_axme.celery`) and the worker-start hook."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from celery import shared_task
from celery.signals import worker_ready

from django_axme.celery import (
    POLL_IDLE_INTENTS_TASK,
    PRUNE_TASK,
    RECONCILE_OPEN_INTENTS_TASK,
    SYNC_INBOX_TASK,
)
from django_axme.client.errors import AxmeError
from django_axme.conf import get_setting
from django_axme.services.inbox import inbox_cursor_name
from django_axme.tasks._common import client, error_record, record_error_quietly, retry_later
from django_axme.tasks.observe import start_observing
from django_axme.tasks.send import send_intent

logger = logging.getLogger("django_axme.tasks")

__all__ = [
    "deliver_signals_at_worker_start",
    "inbox_cursor_name",
    "poll_idle_intents",
    "prune",
    "reconcile_open_intents",
    "resend_unsent_decisions",
    "schedule_takeovers",
    "sync_inbox",
]


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
       from the stored cursor. Leases that are still live but were not renewed on time (their
       worker probably died) get a successor scheduled at the lease's end
       (:func:`schedule_takeovers`), so a dead worker's intents are taken over when its lease
       ends rather than at the first sweep after that.
    3. Open intents whose observer holds a lease but that were not heard from for
       ``AXME["RECONCILE_AFTER_SECONDS"]`` are re-read once (snapshot and events since the
       cursor), as a safety net against a stuck stream.
    4. Approval decisions still ``recorded`` ``decisions_after_seconds`` after they were
       recorded (the process died, or failed unexpectedly, between recording and sending) are
       resent with their own idempotency key (:func:`resend_unsent_decisions`).

    Each step is isolated: an unexpected error in one intent or decision is logged and the
    sweep goes on with the next.
    """
    from django_axme.models import Intent
    from django_axme.sync import deliver_pending_signals, outbox

    delivered = deliver_pending_signals(older_than_seconds=signals_after_seconds, limit=limit)
    pending = outbox.pending_rows(pending_after_seconds, limit)
    for pk in pending:
        send_intent.apply_async(args=(pk,))
    # Observed (live lease) but silent for too long: read it once, whatever the observer does.
    silent = float(get_setting("RECONCILE_AFTER_SECONDS"))
    stale = Intent.objects.observed_but_silent(silent)[:limit].remote_ids()
    resynced = _resync(stale)
    orphans = Intent.objects.orphaned()[:limit].remote_ids()
    started = start_observing(orphans)
    takeovers = schedule_takeovers(limit)
    decisions = resend_unsent_decisions(older_than_seconds=decisions_after_seconds, limit=limit)
    result = {
        "signals": delivered,
        "sent": len(pending),
        "resynced": resynced,
        "observers": started,
        "takeovers": takeovers,
        "decisions": decisions,
    }
    if any(result.values()):
        logger.info("reconcile_open_intents: %s", result)
    return result


def schedule_takeovers(limit: int = 1000) -> int:
    """Schedule a successor for each lease running out unrenewed; return how many intents.

    A live observer renews its leases every third of ``AXME["OBSERVER_LEASE_SECONDS"]``, so a
    lease with less than 60% of that left was not renewed on time: its worker probably died
    (:meth:`~django_axme.querysets.IntentQuerySet.lease_lapsing`). One ``observe_many`` per
    lease end (a dead token's leases share one) is enqueued to run just after it: it claims the
    leases that expired and finds those renewed meanwhile busy, so a live observer is never
    displaced and a dead one is replaced within its lease time. Several sweeps may schedule
    the same takeover; the lease lets one of them observe.
    """
    from django.utils import timezone

    from django_axme.celery import observer_task_options
    from django_axme.models import Intent
    from django_axme.tasks.observe import observe_many

    lease = float(get_setting("OBSERVER_LEASE_SECONDS"))
    size = max(1, int(get_setting("OBSERVER_BATCH_SIZE")))
    now = timezone.now()
    by_end: dict[Any, list[str]] = {}
    rows = Intent.objects.lease_lapsing(lease * 0.6, now)[:limit]
    for intent_id, until in rows.values_list("intent_id", "observer_lease_until"):
        if intent_id:
            by_end.setdefault(until, []).append(intent_id)
    for until, ids in by_end.items():
        countdown = max(0.0, (until - now).total_seconds()) + 0.2
        for start in range(0, len(ids), size):
            observe_many.apply_async(
                args=(ids[start : start + size],), countdown=countdown, **observer_task_options()
            )
    return sum(len(ids) for ids in by_end.values())


#: Intents re-read per batch write by the reconcile sweep.
RESYNC_BATCH = 100


def _resync(intent_ids: list[str], operation: str = "reconcile", *, cheap: bool = False) -> int:
    """Re-read ``intent_ids`` (snapshots and events since their cursors), their events written
    ``RESYNC_BATCH`` intents per transaction (:func:`services.refresh.refresh_intents`; with
    ``cheap``, :func:`services.refresh.poll_intents`: the snapshot only of those with news).
    Returns how many were re-read; one intent's error is recorded or logged, never raised."""
    from django_axme.services.refresh import poll_intents, refresh_intents

    read = poll_intents if cheap else refresh_intents
    resynced = 0
    for start in range(0, len(intent_ids), RESYNC_BATCH):
        chunk = intent_ids[start : start + RESYNC_BATCH]
        try:
            outcomes = read(client(), chunk)
        except Exception:
            logger.exception("%s: %d intent(s) not re-read; next sweep", operation, len(chunk))
            continue
        for intent_id, outcome in outcomes.items():
            if not isinstance(outcome, Exception):
                resynced += 1
            elif isinstance(outcome, AxmeError) and outcome.retryable:
                logger.info("%s: intent %s not re-read (%s)", operation, intent_id, outcome)
            elif isinstance(outcome, AxmeError):
                logger.error("%s: intent %s: %s", operation, intent_id, outcome)
                record_error_quietly(intent_id, error_record(outcome, operation=operation))
            else:
                logger.error(
                    "%s: intent %s not re-read; next sweep",
                    operation,
                    intent_id,
                    exc_info=(type(outcome), outcome, outcome.__traceback__),
                )
    return resynced


def resend_unsent_decisions(*, older_than_seconds: float = 300.0, limit: int = 100) -> int:
    """Resend the approval decisions left ``recorded`` for ``older_than_seconds`` or more;
    return how many were resent and answered (sent, superseded or failed).

    Each goes through :func:`django_axme.services.decisions.send_decision` with its own
    idempotency key, so a decision the gateway already took is answered as the first time and
    confirmed as usual, one whose thread moved on (decided elsewhere, done) is superseded
    (409) or failed, and one met by a retryable error (transport, 408, 429, 5xx) stays
    ``recorded`` for the next sweep. An unexpected error on one decision is logged; the others
    go on.
    """
    from django_axme.models import DecisionState
    from django_axme.querysets import unsent_decisions
    from django_axme.services.decisions import send_decision

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


@shared_task(name=POLL_IDLE_INTENTS_TASK, ignore_result=True)
def poll_idle_intents(limit: int = 1000) -> dict[str, int]:
    """Follow the idle intents cheaply: re-read those whose poll is due, in one pass.

    Idle intents (``WAITING`` with no event for ``AXME["OBSERVER_IDLE_AFTER_SECONDS"]``, let
    go by their observer, see :mod:`django_axme.sync.idle`) whose ``next_poll_at`` has come,
    up to ``limit`` of them, are re-read with :func:`services.refresh.poll_intents` (events
    since the stored cursor, one request; the snapshot too only for those with news; events
    written in batches, each transition signalled once). Those that moved since they went
    idle (no longer ``WAITING``, or an event stored after ``idle_since``, by this poll or by a
    wake-up's refresh) are woken and handed back to a live observer (:func:`start_observing`;
    a terminal one needs none); the others, and those whose read failed, have their next poll
    backed off (10 s doubling to 10 min; an intent the inbox feed covers:
    ``AXME["OBSERVER_IDLE_SWEEP_SECONDS"]``). A wake-up that was missed is caught by the next
    due poll. Safe at any time and concurrently (a re-read is idempotent). Returns the counts.
    """
    from django_axme.models import Intent
    from django_axme.sync import idle

    due = Intent.objects.due_for_poll()[:limit].remote_ids()
    if not due:
        return {"polled": 0, "woken": 0, "observers": 0, "backed_off": 0}
    polled = _resync(due, operation="idle poll", cheap=True)
    moved = set(Intent.objects.filter(intent_id__in=due).moved_since_idle().remote_ids())
    woken = idle.wake(sorted(moved))
    backed_off = idle.poll_unchanged([i for i in due if i not in moved])
    started = start_observing(woken)
    result = {
        "polled": polled,
        "woken": len(woken),
        "observers": started,
        "backed_off": backed_off,
    }
    logger.info("poll_idle_intents: %s", result)
    return result


@shared_task(name=SYNC_INBOX_TASK, bind=True, acks_late=True, ignore_result=True)
def sync_inbox(
    self: Any, owner_agents: Sequence[str] | None = None, max_pages: int = 20, page_size: int = 100
) -> dict[str, int]:
    """Pull inbox changes for each owner (default: :func:`django_axme.services.inbox.
    inbox_owners`, i.e. ``AXME["INBOX_OWNER_AGENTS"]``, else ``DEFAULT_OWNER_AGENT``) and
    feed the threads to the approval mirror (:func:`django_axme.services.inbox.sync_inbox`).

    The cursor is stored per owner in :class:`~django_axme.models.SyncCursor` after each page
    is ingested: a crash re-reads at most one page, which ingestion ignores. Malformed change
    items are logged and skipped. A retryable error retries the task; any other is logged and
    raised. Returns the number of threads ingested per owner. With the default owners, the
    ``reply_to`` inboxes of idle intents are read too, as completion wake-ups
    (:func:`django_axme.services.inbox.sync_completion_inboxes`; best effort, never raises).
    """
    from django_axme.services.inbox import inbox_owners, sync_completion_inboxes
    from django_axme.services.inbox import sync_inbox as read_inbox

    owners = list(owner_agents or inbox_owners())
    try:
        threads = read_inbox(client(), owners, max_pages=max_pages, page_size=page_size).threads
        if owner_agents is None:
            sync_completion_inboxes(client())
        return threads
    except AxmeError as exc:
        if exc.retryable:
            return retry_later(self, exc, kwargs={"owner_agents": owners})
        logger.error("sync_inbox: refused, not retried: %s", exc)
        raise


@shared_task(name=PRUNE_TASK, ignore_result=True)
def prune(retention_days: int | None = None, batch_size: int | None = None) -> dict[str, int]:
    """Delete mirror rows past ``AXME["RETENTION_DAYS"]`` in batches of
    ``AXME["PRUNE_BATCH_SIZE"]`` (what ``manage.py axme_prune`` does); returns the counts."""
    from django_axme.sync.prune import prune as prune_mirror

    counts = prune_mirror(retention_days=retention_days, batch_size=batch_size)
    result = dataclasses.asdict(counts)
    logger.info("prune: %s", result)
    return result


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
