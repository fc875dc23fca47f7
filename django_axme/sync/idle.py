"""Idle intents: the writes that take an intent off the live stream and bring it back.

An intent ``WAITING`` (for a human, a time, another agent) with no new event for
``AXME["OBSERVER_IDLE_AFTER_SECONDS"]`` costs a reader thread and an HTTP stream per intent
while nothing happens. The observer lets it go (:func:`mark_idle`: ``idle_since`` set, its
lease released in the same statement, first poll in :data:`FIRST_POLL_SECONDS`); the batched
``poll_idle_intents`` task re-reads the due ones and either backs their next poll off
(:func:`poll_unchanged`: 10 s doubling up to :data:`MAX_POLL_SECONDS`) or, when they moved,
clears the mark (:func:`wake`) so that they return to a live observer. A wake-up from the
inbox or a webhook only makes the poll due now (:func:`poll_now`); a missed wake-up costs at
most one backed-off interval, never an event: the poll reads from the stored cursor.

An idle intent whose approval thread is in an inbox the project synchronises
(:func:`~django_axme.conf.inbox_owners`; the thread pending or its decision sent) is *covered*
by that feed: the feed (or a webhook) wakes it when its thread moves, so it is not polled on
the backoff at all, only swept every ``AXME["OBSERVER_IDLE_SWEEP_SECONDS"]`` (default two
hours) for a wake-up that was missed. This is what lets 10,000 intents wait for people at the
cost of the inbox feed's few requests per minute.

Every function here is one or a few conditional ``UPDATE`` statements; none calls the
network, none sends a signal (the events themselves go through :func:`ingest_batch`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from django_axme.conf import get_setting, inbox_owners
from django_axme.models import Intent

__all__ = [
    "FIRST_POLL_SECONDS",
    "MAX_POLL_SECONDS",
    "covered_by_inbox",
    "let_go_quiet",
    "mark_idle",
    "poll_interval",
    "poll_now",
    "poll_unchanged",
    "wake",
]

#: Seconds from going idle (or from a poll that found it moved) to the first poll.
FIRST_POLL_SECONDS = 10.0
#: Longest interval between two polls of an idle intent that does not change.
MAX_POLL_SECONDS = 600.0
#: ``idle_polls`` stops growing here (``10 * 2**6`` is past :data:`MAX_POLL_SECONDS`).
_MAX_STEP = 6
#: Ids per statement.
_CHUNK = 500


def poll_interval(unchanged_polls: int) -> float:
    """Seconds until the next poll after ``unchanged_polls`` polls found nothing new:
    10, 20, 40 ... capped at 600."""
    step = max(0, min(int(unchanged_polls), _MAX_STEP))
    return min(MAX_POLL_SECONDS, FIRST_POLL_SECONDS * (2**step))


def _chunks(ids: Iterable[str]) -> list[list[str]]:
    unique = list(dict.fromkeys(i for i in ids if i))
    return [unique[n : n + _CHUNK] for n in range(0, len(unique), _CHUNK)]


def covered_by_inbox(intent_ids: Iterable[str]) -> set[str]:
    """The ids among these whose approval thread (pending, or its decision sent) belongs to
    an owner whose inbox is synchronised: the inbox feed wakes them, see the module's
    docstring. Empty when no inbox is synchronised. One query per 500 ids."""
    owners = inbox_owners()
    if not owners:
        return set()
    covered: set[str] = set()
    for chunk in _chunks(intent_ids):
        covered.update(
            i
            for i in Intent.objects.filter(
                intent_id__in=chunk,
                approvals__owner_agent__in=owners,
                approvals__status__in=("pending", "sent"),
            )
            .values_list("intent_id", flat=True)
            .distinct()
            if i
        )
    return covered


def sweep_seconds() -> float:
    """Seconds between two re-reads of an idle intent the inbox feed covers."""
    return float(get_setting("OBSERVER_IDLE_SWEEP_SECONDS"))


def mark_idle(intent_ids: Iterable[str], token: str) -> list[str]:
    """Take these intents off the live stream: ``idle_since`` now, first poll in
    :data:`FIRST_POLL_SECONDS` (an intent the inbox feed covers: in :func:`sweep_seconds`),
    and the observer lease ``token`` holds released.

    Only intents whose lease ``token`` still holds and that are still ``WAITING`` are marked
    (a successor's lease, or an intent that moved meanwhile, is left alone). Returns the ids
    marked; the caller stops following exactly those.
    """
    now = timezone.now()
    marked: list[str] = []
    for chunk in _chunks(intent_ids):
        qs = Intent.objects.filter(
            intent_id__in=chunk, observer_token=token, status="WAITING", idle_since__isnull=True
        )
        ids = [i for i in qs.values_list("intent_id", flat=True) if i]
        if not ids:
            continue
        covered = covered_by_inbox(ids)
        for group, first_poll in (
            ([i for i in ids if i not in covered], FIRST_POLL_SECONDS),
            ([i for i in ids if i in covered], sweep_seconds()),
        ):
            if group:
                qs.filter(intent_id__in=group).update(
                    idle_since=now,
                    next_poll_at=now + timedelta(seconds=first_poll),
                    idle_polls=0,
                    observer_lease_until=None,
                    observer_token="",
                )
        marked.extend(
            i for i in Intent.objects.filter(intent_id__in=ids, idle_since=now).remote_ids()
        )
    return marked


def let_go_quiet(intent_ids: Iterable[str], token: str, quiet_seconds: float) -> list[str]:
    """Mark idle (:func:`mark_idle`) those of these intents, observed under ``token``, that are
    ``WAITING`` with no event stored for ``quiet_seconds``
    (:meth:`~django_axme.querysets.IntentQuerySet.quiet_waiting`). ``quiet_seconds <= 0``
    marks none. Returns the ids marked: the observer stops reading their streams."""
    if quiet_seconds <= 0:
        return []
    quiet: list[str] = []
    for chunk in _chunks(intent_ids):
        quiet.extend(
            Intent.objects.filter(intent_id__in=chunk).quiet_waiting(quiet_seconds).remote_ids()
        )
    return mark_idle(quiet, token) if quiet else []


def poll_unchanged(intent_ids: Iterable[str]) -> int:
    """A poll found these idle intents unchanged: push each one's next poll out (10 s
    doubling to 600 s by its count of unchanged polls; one the inbox feed covers, see
    :func:`covered_by_inbox`, by :func:`sweep_seconds`). One statement per distinct count
    (at most eight). Returns how many were rescheduled."""
    now = timezone.now()
    done = 0
    for chunk in _chunks(intent_ids):
        covered = covered_by_inbox(chunk)
        if covered:
            done += (
                Intent.objects.idle()
                .filter(intent_id__in=covered)
                .update(
                    idle_polls=_MAX_STEP,
                    next_poll_at=now + timedelta(seconds=sweep_seconds()),
                )
            )
        qs = Intent.objects.idle().filter(intent_id__in=chunk).exclude(intent_id__in=covered)
        steps = sorted(set(qs.values_list("idle_polls", flat=True)))
        for step in steps:
            nxt = min(int(step) + 1, _MAX_STEP)
            done += qs.filter(idle_polls=step).update(
                idle_polls=nxt, next_poll_at=now + timedelta(seconds=poll_interval(nxt))
            )
    return done


def poll_now(intent_ids: Iterable[str]) -> int:
    """A wake-up (the inbox feed or a webhook saw the intent's thread move): make the idle
    poll of these intents due now. Intents that are not idle are left alone. Returns how
    many were made due."""
    now = timezone.now()
    done = 0
    for chunk in _chunks(intent_ids):
        done += (
            Intent.objects.idle()
            .filter(intent_id__in=chunk)
            .filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__gt=now))
            .update(next_poll_at=now)
        )
    return done


def wake(intent_ids: Iterable[str]) -> list[str]:
    """Clear the idle mark of these intents (they moved): ``start_observing`` may follow them
    on a live stream again, and the reconcile sweep treats them as any open intent. Returns
    the ids that were idle."""
    woken: list[str] = []
    for chunk in _chunks(intent_ids):
        qs = Intent.objects.idle().filter(intent_id__in=chunk)
        ids = qs.remote_ids()
        if ids:
            Intent.objects.filter(intent_id__in=ids).update(
                idle_since=None, next_poll_at=None, idle_polls=0
            )
            woken.extend(ids)
    return woken
