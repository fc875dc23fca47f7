"""``manage.py axme_emulator``: run the local AXME gateway emulator (same options as
``python -m django_axme.emulator``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _


class Command(BaseCommand):
    # A plain string: argparse formats help with ``re``, which a lazy translation proxy
    # crashes (commands are imported after ``django.setup()``, so ``gettext`` is safe here).
    help = _(
        "Run a local AXME gateway emulator over HTTP (with SSE streams, simulated agents and "
        "fault injection) until interrupted."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        from django_axme.emulator.cli import add_arguments

        add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        from argparse import Namespace

        from django_axme.emulator.cli import serve

        try:
            serve(Namespace(**options), out=self.stdout)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            raise CommandError(
                _("cannot listen on %(host)s:%(port)s: %(error)s")
                % {"host": options["host"], "port": options["port"], "error": exc}
            ) from exc
