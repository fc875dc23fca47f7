"""Reading the inbox: one owner rule and one way to read (the changes feed with a cursor).

The periodic ``sync_inbox`` task, ``manage.py axme_sync --inbox`` and the admin's "Refresh
from AXME" button all call :func:`sync_inbox` with the owners of :func:`inbox_owners`, so
they read the same inboxes the same way and share the stored cursors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django_axme.conf import inbox_owners
from django_axme.exceptions import AxmeError

logger = logging.getLogger("django_axme.tasks")

__all__ = [
    "InboxSync",
    "completion_inboxes",
    "inbox_cursor_name",
    "inbox_owners",
    "sync_completion_inboxes",
    "sync_inbox",
]

#: Most ``reply_to`` inboxes read per inbox sync as completion wake-ups.
MAX_COMPLETION_INBOXES = 20


def inbox_cursor_name(owner_agent: str) -> str:
    """Name of the :class:`~django_axme.models.SyncCursor` holding an owner's inbox cursor."""
    return f"inbox_changes:{owner_agent}"


@dataclass
class InboxSync:
    """What :func:`sync_inbox` did, per owner: threads read and approvals mirrored."""

    threads: dict[str, int] = field(default_factory=dict)
    approvals: dict[str, int] = field(default_factory=dict)

    @property
    def approval_count(self) -> int:
        return sum(self.approvals.values())


def sync_inbox(
    client: Any,
    owner_agents: Iterable[str] | None = None,
    *,
    max_pages: int = 20,
    page_size: int = 100,
) -> InboxSync:
    """Pull each owner's inbox changes after its stored cursor and mirror the threads.

    ``owner_agents`` defaults to :func:`inbox_owners`. Each page goes through
    :func:`django_axme.services.refresh.ingest_inbox_threads` (which first reads the intents
    of the threads newer than the mirror, their events written in one batch). The cursor is
    stored per owner (:func:`inbox_cursor_name`) after each page is ingested, so a crash
    re-reads at most one page, which ingestion ignores (idempotent). Malformed pages and
    change items are logged and skipped. Raises the client's errors (the caller decides
    whether to retry: what was stored before stays stored).
    """
    from django_axme.services.refresh import ingest_inbox_threads
    from django_axme.sync import leases

    owners = list(inbox_owners() if owner_agents is None else owner_agents)
    result = InboxSync()
    for owner in owners:
        name = inbox_cursor_name(owner)
        cursor = leases.read_sync_cursor(name)
        result.threads[owner] = result.approvals[owner] = 0
        for _page in range(max_pages):
            page = client.list_inbox_changes(owner_agent=owner, cursor=cursor, limit=page_size)
            changes = page.get("changes") if isinstance(page, Mapping) else None
            if not isinstance(changes, list):
                logger.warning("sync_inbox: %s: malformed changes page skipped", owner)
                break
            last_cursor = None
            threads = []
            for change in changes:
                thread = change.get("thread") if isinstance(change, Mapping) else None
                if not isinstance(thread, Mapping):
                    logger.warning("sync_inbox: %s: malformed change skipped: %r", owner, change)
                    continue
                threads.append(thread)
                if isinstance(change.get("cursor"), str):
                    last_cursor = change["cursor"]
            for approval in ingest_inbox_threads(client, threads):
                if approval is not None:
                    result.approvals[owner] += 1
                result.threads[owner] += 1
            next_cursor = page.get("next_cursor") or last_cursor
            if isinstance(next_cursor, str) and next_cursor and next_cursor != cursor:
                leases.save_sync_cursor(name, next_cursor)
                cursor = next_cursor
            if not page.get("has_more"):
                break
    return result


def completion_inboxes(limit: int = MAX_COMPLETION_INBOXES) -> list[str]:
    """The ``reply_to`` addresses of idle intents (off the live stream) that are not inbox
    owners already, at most ``limit`` of them: the gateway posts an intent's completion to its
    ``reply_to`` inbox (``completion_delivery``, a thread whose id is the intent's), so reading
    those inboxes wakes the idle intent when it ends, well before its next backed-off poll."""
    from django_axme.models import Intent

    owners = set(inbox_owners())
    addresses = (
        Intent.objects.idle()
        .exclude(reply_to="")
        .order_by()
        .values_list("reply_to", flat=True)
        .distinct()[: limit + len(owners)]
    )
    return [a for a in addresses if a not in owners][:limit]


def sync_completion_inboxes(client: Any, *, max_pages: int = 5, page_size: int = 100) -> int:
    """Read the :func:`completion_inboxes` like the owners' inboxes (same cursors, same
    ingestion: a thread of an idle intent wakes it). Best effort: an inbox the gateway will not
    show us (another party's ``reply_to``) or any client error is logged and skipped, never
    raised, so it cannot stop the owners' own inbox sync. Returns the threads read."""
    read = 0
    for address in completion_inboxes():
        try:
            read += sync_inbox(client, [address], max_pages=max_pages, page_size=page_size).threads[
                address
            ]
        except AxmeError as exc:
            logger.info("sync_inbox: completion inbox %s not read: %s", address, exc)
    return read
