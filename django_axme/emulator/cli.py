"""Command line of the emulator, shared by ``python -m django_axme.emulator`` and
``manage.py axme_emulator``."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any, Protocol

from django_axme.emulator.agents import parse_agent_spec
from django_axme.emulator.emulator import DEFAULT_API_KEY, Emulator
from django_axme.emulator.server import EmulatorServer

__all__ = ["add_arguments", "build_emulator", "main", "serve"]

AGENT_HELP = (
    "attach a simulated agent: MATCH=KIND[:option=value...], MATCH being a to_agent address or "
    "an intent type, KIND one of worker, approval, failing, deadline "
    "(e.g. 'agent://billing=worker:delay=0.5' or 'agent://buyer=approval:owner=agent://boss'). "
    "Repeatable."
)
FAULTS_HELP = (
    "inject faults: a JSON list of fault specs, e.g. "
    '\'[{"fault": "error_sequence", "method": "POST", "path": "/v1/intents", "statuses": [503]}]\''
)


class Writer(Protocol):
    """Where the CLI prints (``sys.stdout`` or a management command's ``self.stdout``)."""

    def write(self, text: str, /) -> Any: ...

    def flush(self) -> Any: ...


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator options to ``parser`` (used by both entry points)."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8765, help="port (default 8765; 0 = any free port)"
    )
    parser.add_argument(
        "--api-key",
        default=DEFAULT_API_KEY,
        help=f"API key the emulator accepts (default {DEFAULT_API_KEY})",
    )
    parser.add_argument(
        "--any-key", action="store_true", help="accept any non-empty API key instead of --api-key"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the fault injection (default 0)"
    )
    parser.add_argument("--agent", action="append", default=[], metavar="SPEC", help=AGENT_HELP)
    parser.add_argument("--faults", default=None, metavar="JSON", help=FAULTS_HELP)
    parser.add_argument(
        "--serve",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="an agent:// address served by a real agent listening on its stream: no simulated "
        "script runs for intents addressed to it (repeatable)",
    )
    parser.add_argument(
        "--keepalive-seconds",
        type=float,
        default=10.0,
        help="seconds between keep-alive comments on idle streams (default 10)",
    )
    parser.add_argument("--log-requests", action="store_true", help="log every request to stderr")
    parser.add_argument(
        "--webhook-intent-events",
        action="store_true",
        help="emulator option: also deliver every intent event as 'intent.lifecycle' webhooks",
    )


def build_emulator(options: Any) -> Emulator:
    """Build the emulator an option namespace describes; ``ValueError`` names a bad option."""
    for spec in options.agent:
        parse_agent_spec(spec)  # fail early with a message naming the spec
    faults = None
    if options.faults:
        try:
            faults = json.loads(options.faults)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--faults is not valid JSON: {exc}") from None
    emulator = Emulator(
        seed=options.seed,
        api_key=None if options.any_key else options.api_key,
        agents=list(options.agent),
        faults=faults,
        keepalive_seconds=options.keepalive_seconds,
        webhooks={"deliver_intent_events": bool(getattr(options, "webhook_intent_events", False))},
    )
    for address in getattr(options, "serve", None) or ():
        emulator.serve_agent(address)
    return emulator


def serve(options: Any, out: Writer = sys.stdout, stop_event: threading.Event | None = None) -> int:
    """Run the server until SIGINT/SIGTERM (or ``stop_event``); returns the exit status."""
    if options.log_requests:
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(message)s")
    emulator = build_emulator(options)
    server = EmulatorServer(emulator, host=options.host, port=options.port)
    stop = stop_event or threading.Event()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        server.start()
        key = "any non-empty key" if options.any_key else emulator.api_key
        out.write(f"AXME emulator listening on {server.url} (API key: {key})\n")
        for match, script in emulator.agents.attached().items():
            out.write(f"  agent {match}: {script!r}\n")
        out.flush()
        while not stop.wait(0.5):
            pass
        out.write("AXME emulator stopping\n")
        out.flush()
    finally:
        server.stop()
        emulator.close()
        for number, handler in previous.items():
            signal.signal(number, handler)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m django_axme.emulator``."""
    parser = argparse.ArgumentParser(
        prog="python -m django_axme.emulator",
        description="Run a local AXME gateway emulator over HTTP (with SSE streams).",
    )
    add_arguments(parser)
    options = parser.parse_args(argv)
    try:
        return serve(options)
    except ValueError as exc:
        parser.error(str(exc))
    except OSError as exc:
        parser.exit(1, f"cannot listen on {options.host}:{options.port}: {exc}\n")
    return 2
