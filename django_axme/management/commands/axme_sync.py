"""``manage.py axme_sync``: refresh mirrored intents (and inbox approvals) from the gateway.

Thin: it counts what :mod:`django_axme.services` does (the network through
``django_axme.get_client()``, every write through ``django_axme.sync``, so signals fire
exactly as for any other path, once per transition). The inbox is read like the
``sync_inbox`` task and the admin: the changes feed after the stored cursor, for the owners of
``services.inbox.inbox_owners()`` unless ``--owner-agent`` is given.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

import django_axme
from django_axme.exceptions import AxmeError
from django_axme.models import Intent
from django_axme.services.errors import error_record, record_error_quietly
from django_axme.services.inbox import inbox_owners, sync_inbox
from django_axme.services.refresh import refresh_intents

logger = logging.getLogger("django_axme.sync")

#: Show progress (a tqdm bar on stderr, or plain lines without tqdm) from this many intents on.
PROGRESS_THRESHOLD = 10
#: Without tqdm (the ``progress`` extra), a plain progress line every this many percent.
PLAIN_PROGRESS_PERCENT = 10
#: Signals recorded this long ago and still pending are delivered first (younger ones are
#: most likely being delivered right now by the process that recorded them).
PENDING_SIGNALS_AFTER_SECONDS = 5.0
#: Intents whose events are written in one transaction (one ``sync.ingest_batch`` call).
SYNC_BATCH = 100


@dataclass
class SyncTotals:
    intents: int = 0
    created: int = 0
    events: int = 0
    transitions: int = 0
    failed: int = 0
    approvals: int = 0


class Command(BaseCommand):
    help = _(
        "Refresh intents from the AXME gateway into the local mirror: the given intent ids, "
        "or every open one. With --inbox, also mirror the inbox threads waiting for a human."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "intent_ids", nargs="*", metavar="INTENT_ID", help=_("remote intent ids")
        )
        parser.add_argument(
            "--inbox",
            action="store_true",
            help=_("also sync the inbox threads of INBOX_OWNER_AGENTS (or --owner-agent)"),
        )
        parser.add_argument(
            "--inbox-only", action="store_true", help=_("sync inbox threads only, no intents")
        )
        parser.add_argument(
            "--owner-agent",
            action="append",
            default=[],
            help=_("an inbox owner agent address (repeatable; overrides INBOX_OWNER_AGENTS)"),
        )
        parser.add_argument(
            "--from-cursor",
            action="store_true",
            help=_("fetch only events after the stored last seq instead of the whole history"),
        )
        parser.add_argument(
            "--no-progress", action="store_true", help=_("never show a progress bar")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        client = django_axme.get_client()
        totals = SyncTotals()
        from django_axme import sync

        recovered = sync.deliver_pending_signals(older_than_seconds=PENDING_SIGNALS_AFTER_SECONDS)
        if recovered:
            self.stdout.write(
                _("Delivered %(n)d signal(s) left pending by an interrupted process.")
                % {"n": recovered}
            )
        if not options["inbox_only"]:
            self._sync_intents(client, options, totals)
        if options["inbox"] or options["inbox_only"]:
            self._sync_inbox(client, options, totals)
        self.stdout.write(
            _(
                "Synced %(intents)d intent(s): %(created)d new, %(events)d new event(s), "
                "%(transitions)d transition(s), %(approvals)d approval(s), %(failed)d failed."
            )
            % totals.__dict__
        )
        if totals.failed:
            raise CommandError(_("%(n)d intent(s) could not be synced") % {"n": totals.failed})

    def _targets(self, options: dict[str, Any]) -> list[str]:
        if options["intent_ids"]:
            return list(dict.fromkeys(options["intent_ids"]))
        return Intent.objects.open().remote().order_by("pk").remote_ids()

    def _sync_intents(self, client: Any, options: dict[str, Any], totals: SyncTotals) -> None:
        targets = self._targets(options)
        verbosity = int(options["verbosity"])
        show_bar = (
            not options["no_progress"] and verbosity >= 1 and len(targets) >= PROGRESS_THRESHOLD
        )
        cursors = (
            dict(Intent.objects.by_remote_id(targets).values_list("intent_id", "last_seq"))
            if options["from_cursor"]
            else {}
        )
        iterator: Iterable[str] = self._with_progress(targets) if show_bar else targets
        chunk: list[str] = []
        for intent_id in iterator:
            chunk.append(intent_id)
            if len(chunk) >= SYNC_BATCH:
                self._sync_chunk(client, chunk, cursors, verbosity, totals)
                chunk = []
        if chunk:
            self._sync_chunk(client, chunk, cursors, verbosity, totals)

    def _sync_chunk(
        self,
        client: Any,
        chunk: list[str],
        cursors: dict[Any, int],
        verbosity: int,
        totals: SyncTotals,
    ) -> None:
        """Refresh ``chunk``: snapshots and events per intent, the events written in one batch
        (:func:`services.refresh.refresh_intents`)."""
        existed = set(Intent.objects.by_remote_id(chunk).remote_ids())
        since = {i: int(cursors.get(i) or 0) for i in chunk}
        for intent_id, outcome in refresh_intents(client, chunk, since=since).items():
            if isinstance(outcome, AxmeError):
                totals.failed += 1
                if intent_id in existed and not outcome.retryable:
                    record_error_quietly(intent_id, error_record(outcome, operation="sync"))
                if getattr(outcome, "status_code", None) == 404:
                    self.stderr.write(_("%(id)s: not found on the gateway") % {"id": intent_id})
                else:
                    self.stderr.write(_("%(id)s: %(error)s") % {"id": intent_id, "error": outcome})
                continue
            if isinstance(outcome, Exception):
                raise outcome
            totals.intents += 1
            totals.created += 0 if intent_id in existed else 1
            totals.events += outcome.stored
            totals.transitions += outcome.transitions
            if verbosity >= 2:
                self.stdout.write(
                    f"{intent_id}: {outcome.stored} new event(s), "
                    f"{outcome.transitions} transition(s)"
                )

    def _with_progress(self, targets: list[str]) -> Iterable[str]:
        """``targets`` with progress on stderr: a tqdm bar when tqdm is installed (the
        ``progress`` extra), else a plain ``axme_sync: i/n intents`` line every
        ``PLAIN_PROGRESS_PERCENT`` percent and at the end. Same items, same order."""
        try:
            from tqdm import tqdm
        except ModuleNotFoundError:
            return self._plain_progress(targets)
        return tqdm(targets, desc="axme_sync", unit="intent", file=self.stderr._out)

    def _plain_progress(self, targets: list[str]) -> Iterable[str]:
        total = len(targets)
        step = max(1, total * PLAIN_PROGRESS_PERCENT // 100)
        for done, intent_id in enumerate(targets, start=1):
            yield intent_id
            if done % step == 0 or done == total:
                self.stderr.write(f"axme_sync: {done}/{total} intents")

    def _sync_inbox(self, client: Any, options: dict[str, Any], totals: SyncTotals) -> None:
        owners = options["owner_agent"] or inbox_owners()
        if not owners:
            raise CommandError(
                _(
                    "No inbox owner: set AXME['INBOX_OWNER_AGENTS'] (or DEFAULT_OWNER_AGENT) "
                    "or pass --owner-agent."
                )
            )
        for owner in owners:
            try:
                done = sync_inbox(client, [owner])
            except AxmeError as exc:
                totals.failed += 1
                self.stderr.write(_("inbox %(owner)s: %(error)s") % {"owner": owner, "error": exc})
                continue
            totals.approvals += done.approval_count
