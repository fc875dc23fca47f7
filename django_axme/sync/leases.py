"""Observer leases and cursors on :class:`~django_axme.models.Intent`.

A lease says "this observer follows this intent until ``observer_lease_until``". It is claimed
with one conditional ``UPDATE`` (free, expired, or already ours), so whatever the database
(SQLite, PostgreSQL, MySQL) at most one observer per intent holds it at any moment, without
row locks held across network calls. An observer that dies simply stops renewing: once the
lease expires, the next slice or the reconcile sweep claims it again and resumes from the
stored cursor (``Intent.last_seq``), which only the one writer advances.

Failure mode, stated plainly: a lease is time-based. An observer frozen for longer than its
lease (for example a stopped VM) can overlap with its successor for up to one window; the
overlap is harmless because event ingestion is idempotent and signals are sent once per
transition by the writer, not by the observer.

Reads are the models' query vocabulary (:mod:`django_axme.querysets`); the few read helpers
left here (``lease_is_live``, ``read_cursor``, ``expired_open_intents``, ``read_sync_cursor``)
are one-line callers of it, kept for their import paths.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import timedelta

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from django_axme.models import Intent


def _update_in_pk_order(qs: QuerySet[Intent], **values: object) -> int:
    """``qs.update(**values)``, the rows locked first in primary-key order.

    A bare multi-row ``UPDATE`` locks its rows in scan order; the batched writer locks intent
    rows in primary-key order (``sync.batch.lock_intents``). A lease renewal over a thousand
    rows running beside a writer's batch could thus lock in the opposite order and deadlock
    (PostgreSQL aborts one of them: seen with 5,000 intents over four worker processes). So
    the rows are locked with one ``SELECT ... ORDER BY pk FOR UPDATE`` (which re-checks the
    filter on each row it waits for), then updated by primary key, in one short transaction.
    """
    with transaction.atomic():
        pks = list(qs.order_by("pk").select_for_update().values_list("pk", flat=True))
        if not pks:
            return 0
        return Intent.objects.filter(pk__in=pks).update(**values)


def new_token() -> str:
    """Return a fresh, unique lease token."""
    return uuid.uuid4().hex


def _lease_seconds(seconds: float | None) -> float:
    if seconds is None:
        from django_axme.conf import get_setting

        seconds = float(get_setting("OBSERVER_LEASE_SECONDS"))
    if seconds <= 0:
        raise ValueError("observer lease seconds must be positive")
    return seconds


def _claimable(token: str) -> Q:
    now = timezone.now()
    return (
        Q(observer_lease_until__isnull=True)
        | Q(observer_lease_until__lte=now)
        | Q(observer_token=token)
    )


def claim_lease(intent_id: str, token: str, *, seconds: float | None = None) -> bool:
    """Claim (or extend) the observer lease of one open intent for ``token``.

    True when ``token`` now holds the lease: it was free, expired, or already held by
    ``token``. False when another observer holds a live lease, the intent is terminal, or it
    is not in the mirror. One conditional UPDATE: atomic on every database.
    """
    until = timezone.now() + timedelta(seconds=_lease_seconds(seconds))
    updated = (
        Intent.objects.by_remote_id(intent_id)
        .open()
        .filter(_claimable(token))
        .update(observer_lease_until=until, observer_token=token)
    )
    return updated == 1


def claim_leases(
    intent_ids: Iterable[str], token: str, *, seconds: float | None = None
) -> list[str]:
    """Claim the leases of many open intents for one ``token``; return the ids now held.

    Intents held by another live observer, terminal or unknown ones are left out.
    """
    ids = list(dict.fromkeys(i for i in intent_ids if i))
    if not ids:
        return []
    until = timezone.now() + timedelta(seconds=_lease_seconds(seconds))
    held: list[str] = []
    for start in range(0, len(ids), 500):  # keep the IN list well under every backend's limit
        chunk = ids[start : start + 500]
        _update_in_pk_order(
            Intent.objects.by_remote_id(chunk).open().filter(_claimable(token)),
            observer_lease_until=until,
            observer_token=token,
        )
        held.extend(
            i
            for i in Intent.objects.filter(intent_id__in=chunk, observer_token=token).values_list(
                "intent_id", flat=True
            )
            if i
        )
    return [i for i in ids if i in set(held)]


def renew_leases(token: str, *, seconds: float | None = None) -> int:
    """Extend every lease ``token`` still holds; return how many it holds.

    A lease lost meanwhile (expired and claimed by someone else) is not taken back.
    """
    until = timezone.now() + timedelta(seconds=_lease_seconds(seconds))
    return _update_in_pk_order(
        Intent.objects.filter(observer_token=token), observer_lease_until=until
    )


def held_by(token: str, intent_ids: Iterable[str] | None = None) -> set[str]:
    """Return the remote ids of the intents whose lease ``token`` holds (optionally among ids)."""
    qs = Intent.objects.filter(observer_token=token)
    if intent_ids is not None:
        qs = qs.filter(intent_id__in=list(intent_ids))
    return {i for i in qs.values_list("intent_id", flat=True) if i}


def release_leases(token: str, intent_ids: Iterable[str] | None = None) -> int:
    """Release the leases ``token`` holds (all, or only those of ``intent_ids``).

    Only ever clears a lease that is still ours, so a late release never frees a successor's.
    """
    qs = Intent.objects.filter(observer_token=token)
    if intent_ids is not None:
        ids = list(intent_ids)
        if not ids:
            return 0
        qs = qs.filter(intent_id__in=ids)
    return _update_in_pk_order(qs, observer_lease_until=None, observer_token="")


def release_lease(intent_id: str, token: str) -> bool:
    """Release one intent's lease if ``token`` still holds it."""
    return release_leases(token, [intent_id]) == 1


def lease_is_live(intent: Intent) -> bool:
    """True when some observer holds a lease on ``intent`` that has not expired."""
    return bool(
        intent.observer_token
        and intent.observer_lease_until is not None
        and intent.observer_lease_until > timezone.now()
    )


def read_cursor(intent_id: str) -> int:
    """Return the stored observe cursor (the highest event seq in the mirror) of an intent."""
    value = Intent.objects.by_remote_id(intent_id).values_list("last_seq", flat=True).first()
    if value is None:
        raise Intent.DoesNotExist(f"intent {intent_id} is not in the mirror")
    return int(value)


def expired_open_intents(limit: int) -> list[str]:
    """Return up to ``limit`` remote ids of open intents with no live observer lease
    (``Intent.objects.orphaned()``, least recently heard first)."""
    return Intent.objects.orphaned()[:limit].remote_ids()


def mark_heard(intent_ids: Iterable[str]) -> int:
    """Record that the gateway answered for these intents just now (``last_heard_at``).

    Called after a stream window that brought no event, so that the reconcile sweep only
    re-reads intents nobody is hearing from.
    """
    ids = [i for i in intent_ids if i]
    if not ids:
        return 0
    now = timezone.now()
    done = 0
    for start in range(0, len(ids), 500):
        done += _update_in_pk_order(
            Intent.objects.filter(intent_id__in=ids[start : start + 500]), last_heard_at=now
        )
    return done


def read_sync_cursor(name: str) -> str | None:
    """Return the stored value of the named cursor (``SyncCursor.objects.value_of``)."""
    from django_axme.models import SyncCursor

    return SyncCursor.objects.value_of(name)


def save_sync_cursor(name: str, value: str) -> None:
    """Store the named cursor (upsert); call it after what the cursor covers is ingested."""
    from django_axme.models import SyncCursor

    SyncCursor.objects.update_or_create(name=name, defaults={"value": value})
