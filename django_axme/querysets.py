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
        """Open, remote intents no observer holds a live lease on and that are not idle (what
        ``start_observing`` enqueues; idle ones are the idle poll's)."""
        now = now or timezone.now()
        live = Q(observer_lease_until__gt=now) & ~Q(observer_token="")
        return self.open().remote().exclude(live).not_idle()

    def idle(self) -> IntentQuerySet:
        """Intents off the live stream, followed by the idle poll (``idle_since`` set)."""
        return self.filter(idle_since__isnull=False)

    def not_idle(self) -> IntentQuerySet:
        """Intents not marked idle (a live stream follows them, or should)."""
        return self.filter(idle_since__isnull=True)

    def due_for_poll(self, now: datetime | None = None) -> IntentQuerySet:
        """Idle, remote intents whose next poll is due, the most overdue first (one that ended
        meanwhile, e.g. read by the inbox sync, is polled once more and woken)."""
        now = now or timezone.now()
        return self.remote().idle().filter(next_poll_at__lte=now).order_by("next_poll_at", "id")

    def quiet_waiting(self, seconds: float, now: datetime | None = None) -> IntentQuerySet:
        """Remote intents ``WAITING`` (for a human, a time, an agent...) whose last stored event
        (or, with none, the row's creation) is older than ``seconds``, not idle yet: what the
        observer lets go of (``AXME["OBSERVER_IDLE_AFTER_SECONDS"]``)."""
        from django.db.models import Max
        from django.db.models.functions import Coalesce

        now = now or timezone.now()
        cutoff = now - timedelta(seconds=float(seconds))
        return (
            self.remote()
            .not_idle()
            .filter(status="WAITING")
            .annotate(_last_moved=Coalesce(Max("events__received_at"), "created_at"))
            .filter(_last_moved__lte=cutoff)
        )

    def moved_since_idle(self) -> IntentQuerySet:
        """Idle intents that moved since they went idle: no longer ``WAITING``, or an event
        stored after ``idle_since`` (what returns them to live observation)."""
        from django.db.models import Exists, OuterRef

        from django_axme.models import IntentEvent

        newer = IntentEvent.objects.filter(
            intent=OuterRef("pk"), received_at__gt=OuterRef("idle_since")
        )
        return self.idle().filter(~Q(status="WAITING") | Exists(newer))

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

    def lease_lapsing(self, within: float, now: datetime | None = None) -> IntentQuerySet:
        """Open, remote, non-idle intents whose live lease ends within ``within`` seconds,
        soonest first: a holder that renews on time (every third of the lease) never lets
        its lease get this short, so its process probably died (what the reconcile sweep
        schedules a takeover for, at the lease's end)."""
        now = now or timezone.now()
        return (
            self.open()
            .remote()
            .not_idle()
            .with_live_lease(now)
            .filter(observer_lease_until__lte=now + timedelta(seconds=within))
            .order_by("observer_lease_until", "id")
        )

    def orphaned(self, now: datetime | None = None) -> IntentQuerySet:
        """Open, remote intents whose lease is missing or expired and that are not idle, least
        recently heard first (what the reconcile sweep gives observers again)."""
        return self.open().remote().not_idle().lease_expired(now).order_by("last_heard_at", "id")

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
