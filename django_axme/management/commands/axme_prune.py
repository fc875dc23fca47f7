"""``manage.py axme_prune``: delete old mirror rows and expired ledger rows, in batches."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from django_axme.sync.prune import prune


class Command(BaseCommand):
    help = _(
        "Delete closed intents and events older than RETENTION_DAYS, and expired idempotency "
        "ledger rows, in batches of PRUNE_BATCH_SIZE (each batch its own transaction)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, help=_("override RETENTION_DAYS"))
        parser.add_argument("--batch-size", type=int, help=_("override PRUNE_BATCH_SIZE"))
        parser.add_argument(
            "--dry-run", action="store_true", help=_("only count what would be deleted")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = int(options["verbosity"])

        def progress(label: str, n: int) -> None:
            if verbosity >= 2:
                self.stdout.write(f"  {label}: {n}")

        try:
            counts = prune(
                retention_days=options["days"],
                batch_size=options["batch_size"],
                dry_run=options["dry_run"],
                progress=progress,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        template = (
            _("Would delete %(intents)d intent(s), %(events)d event(s), %(ledger)d ledger row(s).")
            if options["dry_run"]
            else _(
                "Deleted %(intents)d intent(s), %(events)d event(s), %(ledger)d ledger row(s) "
                "in %(batches)d batch(es)."
            )
        )
        self.stdout.write(template % counts.__dict__)
        if counts.webhooks:
            self.stdout.write(
                _("Webhook deliveries past retention: %(webhooks)d.") % counts.__dict__
            )
