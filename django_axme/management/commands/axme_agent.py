"""``manage.py axme_agent``: run this project as an AXME agent (issue 17).

``--list`` prints the registered handlers (discovered from ``axme_handlers.py`` of installed
apps) and the served addresses. Otherwise one durable listener per address
(``--address``, repeatable; default ``AXME["AGENT_ADDRESSES"]``) runs in its own thread until
interrupted (or for ``--seconds``), handing each new inbound intent to the Celery task
``django_axme.tasks.run_agent_handler`` (``--inline`` runs the handlers in this process
instead, for development).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_axme.conf import get_setting


class Command(BaseCommand):
    help = (
        "Run this project as an AXME agent: follow the agent intent stream of each served "
        "address and run the registered handlers. --list shows the handlers."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--list", action="store_true", help="list the registered handlers and exit"
        )
        parser.add_argument(
            "--address",
            action="append",
            default=[],
            help='an agent:// address to serve (repeatable; default AXME["AGENT_ADDRESSES"])',
        )
        parser.add_argument(
            "--seconds", type=float, default=None, help="stop after this many seconds"
        )
        parser.add_argument(
            "--inline",
            action="store_true",
            help="run the handlers in this process instead of Celery workers",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from django_axme.agent import autodiscover, registry

        autodiscover()
        addresses = list(options["address"]) or list(get_setting("AGENT_ADDRESSES"))
        if options["list"]:
            handlers = registry.all()
            if not handlers:
                self.stdout.write("No handlers registered (add axme_handlers.py to an app).")
            for h in handlers:
                scope = ", ".join(sorted(h.addresses)) if h.addresses else "every address"
                self.stdout.write(f"{h.intent_type}  {h.name}  [{scope}]")
            self.stdout.write(f"Addresses: {', '.join(addresses) or '(none configured)'}")
            return
        if not addresses:
            raise CommandError('no address to serve: set AXME["AGENT_ADDRESSES"] or --address')
        self._serve(addresses, options["seconds"], options["inline"])

    def _serve(self, addresses: list[str], seconds: float | None, inline: bool) -> None:
        from django.db import connections

        from django_axme.agent.listener import Listener

        enqueue = None
        if inline:
            from django_axme.agent.runner import RetryLater, run_job

            def enqueue(pk: int) -> None:
                try:
                    run_job(pk, token=f"inline-{pk}")
                except RetryLater as exc:
                    self.stderr.write(f"agent job {pk}: {exc} (the sweep retries it)")

        stop = threading.Event()
        until = None if seconds is None else time.monotonic() + seconds
        listeners = [Listener(a, enqueue=enqueue) for a in addresses]

        def serve(listener: Listener) -> None:
            try:
                listener.run(stop=stop, until=until)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=serve, args=(lst,), daemon=True) for lst in listeners]
        for t in threads:
            t.start()
        self.stdout.write(f"Listening on {', '.join(addresses)}")
        try:
            while any(t.is_alive() for t in threads):
                for t in threads:
                    t.join(timeout=0.5)
        except KeyboardInterrupt:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        received = sum(lst.received for lst in listeners)
        self.stdout.write(f"Stopped; {received} stream item(s) received")
