"""Changelist filters that are not plain field filters: open/closed intents, approval age."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from django_axme.querysets import IntentQuerySet


class OpenClosedFilter(admin.SimpleListFilter):
    """Open (not in a terminal status) or closed intents."""

    title = _("open or closed")
    parameter_name = "open"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, Any]]:
        return [("1", _("Open")), ("0", _("Closed"))]

    def queryset(self, request: Any, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        if self.value() == "1":
            return cast(IntentQuerySet, queryset).open()
        if self.value() == "0":
            return cast(IntentQuerySet, queryset).terminal()
        return queryset


AGE_BUCKETS: dict[str, tuple[timedelta | None, timedelta | None]] = {
    # key: (at least this old, younger than this)
    "1h": (None, timedelta(hours=1)),
    "1d": (timedelta(hours=1), timedelta(days=1)),
    "7d": (timedelta(days=1), timedelta(days=7)),
    "old": (timedelta(days=7), None),
}


class AgeFilter(admin.SimpleListFilter):
    """How long an approval has been waiting (remote creation time, else local)."""

    title = _("age")
    parameter_name = "age"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("1h", _("Less than an hour")),
            ("1d", _("1 to 24 hours")),
            ("7d", _("1 to 7 days")),
            ("old", _("More than 7 days")),
        ]

    @staticmethod
    def _created_before(moment: Any) -> Q:
        return Q(remote_created_at__lt=moment) | Q(
            remote_created_at__isnull=True, created_at__lt=moment
        )

    def queryset(self, request: Any, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        bucket = AGE_BUCKETS.get(self.value() or "")
        if bucket is None:
            return queryset
        now = timezone.now()
        older_than, younger_than = bucket
        if older_than is not None:
            queryset = queryset.filter(self._created_before(now - older_than))
        if younger_than is not None:
            queryset = queryset.exclude(self._created_before(now - younger_than))
        return queryset


class ApprovalStatusFilter(admin.SimpleListFilter):
    """The approval's status, **Pending by default**: the queue opens on what waits for a
    decision; "All" (``?status__exact=all``) shows decided approvals as well.

    The parameter keeps the name of Django's plain field filter, so older links still work.
    """

    title = _("status")
    parameter_name = "status__exact"
    ALL = "all"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, Any]]:
        from django_axme.models import ApprovalStatus

        return [*ApprovalStatus.choices, (self.ALL, _("All"))]

    def value(self) -> str:
        return str(super().value() or self._default())

    @staticmethod
    def _default() -> str:
        from django_axme.models import ApprovalStatus

        return str(ApprovalStatus.PENDING)

    def queryset(self, request: Any, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        value = self.value()
        return queryset if value == self.ALL else queryset.filter(status=value)

    def choices(self, changelist: Any) -> Any:
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


class NonEmptyValuesFilter(admin.AllValuesFieldListFilter):
    """A field's non-empty values as a filter, hidden when no row has a value (an
    always-empty column would only offer "All" and a link without text)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        values = [v for v in self.lookup_choices if v not in (None, "")]
        self.lookup_choices = values  # type: ignore[assignment]

    def has_output(self) -> bool:
        return bool(self.lookup_choices)


def assigned_to(user: Any) -> Q | None:
    """Approvals whose human task names one of ``user``'s identities among its assignees
    (``get_adapter().assignee_identities``), or ``None`` when the user has none.

    The assignees are read from the mirrored intent's human task, else the thread's; each
    identity is matched as a whole JSON string, case-insensitively.
    """
    import json

    from django_axme.adapter import get_adapter

    condition = Q()
    for identity in get_adapter().assignee_identities(user)[:60]:
        quoted = json.dumps(str(identity)[:383])
        condition |= Q(intent__human_task__assignees__icontains=quoted)
        condition |= Q(intent__isnull=True, raw__human_task__assignees__icontains=quoted)
    return condition or None


class AssignedToMeFilter(admin.SimpleListFilter):
    """ "Assigned to me": approvals whose task's assignees include the current user."""

    title = _("assignment")
    parameter_name = "assigned"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, Any]]:
        return [("me", _("Assigned to me"))]

    def queryset(self, request: Any, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        if self.value() != "me":
            return queryset
        condition = assigned_to(request.user)
        return queryset.filter(condition) if condition is not None else queryset.none()
