"""The query vocabulary of the mirror: ``Intent.objects.open()``, ``.by_remote_id(...)``...

Every read that selects intents by openness, lease or silence goes through these methods, so
"open" means one thing everywhere (a status outside ``TERMINAL_STATUSES``). Reads only:
writes stay in :mod:`django_axme.sync`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Q
from django.utils import timezone

if TYPE_CHECKING:  # pragma: no cover
    from django_axme.models import ApprovalDecision, Intent, SyncCursor  # noqa: F401

__all__ = ["IntentQuerySet", "SyncCursorQuerySet"]


def _terminal() -> frozenset[str]:
    from django_axme.models import TERMINAL_STATUSES

    return TERMINAL_STATUSES


class IntentQuerySet(models.QuerySet["Intent"]):
    """Reads of :class:`~django_axme.models.Intent` (``Intent.objects`` is one)."""

    def open(self) -> IntentQuerySet:
        """Intents whose status is not terminal (outbox rows included)."""
        return self.exclude(status__in=list(_terminal()))

    def terminal(self) -> IntentQuerySet:
        """Intents in a terminal status (COMPLETED, FAILED, CANCELED, TIMED_OUT)."""
        return self.filter(status__in=list(_terminal()))

    def remote(self) -> IntentQuerySet:
        """Intents the gateway knows (with a remote ``intent_id``)."""
        return self.exclude(intent_id__isnull=True).exclude(intent_id="")

    def by_remote_id(self, intent_id: str | Iterable[str]) -> IntentQuerySet:
        """The intent(s) with this remote id (or any of these ids)."""
        if isinstance(intent_id, str):
            return self.filter(intent_id=intent_id)
        return self.filter(intent_id__in=list(intent_id))

    def with_live_lease(self, now: datetime | None = None) -> IntentQuerySet:
        """Intents an observer holds a lease on that has not expired."""
        now = now or timezone.now()
        return self.exclude(observer_token="").filter(observer_lease_until__gt=now)

    def lease_expired(self, now: datetime | None = None) -> IntentQuerySet:
        """Intents with no lease or an expired one (no observer follows them)."""
        now = now or timezone.now()
        return self.filter(Q(observer_lease_until__isnull=True) | Q(observer_lease_until__lte=now))

    def without_live_observer(self, now: datetime | None = None) -> IntentQuerySet:
        """Open, remote intents no observer holds a live lease on (what ``start_observing``
        enqueues)."""
        now = now or timezone.now()
        live = Q(observer_lease_until__gt=now) & ~Q(observer_token="")
        return self.open().remote().exclude(live)

    def observed_but_silent(self, seconds: float, now: datetime | None = None) -> IntentQuerySet:
        """Open, remote intents with a live lease not heard from for ``seconds`` (or never):
        a stuck stream the reconcile sweep re-reads."""
        now = now or timezone.now()
        cutoff = now - timedelta(seconds=float(seconds))
        return (
            self.open()
            .remote()
            .filter(Q(last_heard_at__isnull=True) | Q(last_heard_at__lte=cutoff))
            .filter(observer_lease_until__gt=now)
        )

    def orphaned(self, now: datetime | None = None) -> IntentQuerySet:
        """Open, remote intents whose lease is missing or expired, least recently heard first
        (what the reconcile sweep gives observers again)."""
        return self.open().remote().lease_expired(now).order_by("last_heard_at", "id")

    def remote_ids(self) -> list[str]:
        """The non-empty remote ids of these intents, in the queryset's order."""
        return [i for i in self.values_list("intent_id", flat=True) if i]


class SyncCursorQuerySet(models.QuerySet["SyncCursor"]):
    """Reads of :class:`~django_axme.models.SyncCursor`."""

    def value_of(self, name: str) -> str | None:
        """The stored value of the named cursor, or ``None`` (absent or empty)."""
        value = self.filter(name=name).values_list("value", flat=True).first()
        return value or None


def unsent_decisions(older_than_seconds: float, limit: int = 100) -> list[ApprovalDecision]:
    """Decisions still ``recorded`` at least ``older_than_seconds`` after they were recorded,
    oldest first (with their approvals): a crash or an unexpected error came between recording
    and sending them. The reconcile sweep resends them with their own idempotency key."""
    from django_axme.models import ApprovalDecision, DecisionState

    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        ApprovalDecision.objects.filter(state=DecisionState.RECORDED, created_at__lte=cutoff)
        .select_related("approval", "user")
        .order_by("created_at", "pk")[:limit]
    )
