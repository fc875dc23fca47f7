"""The one-command demo of django-axme: ``scripts/demo`` (interactive) and ``--headless``.

It runs the test project the way a real deployment runs: a local AXME gateway (the emulator,
with a human-approval agent for large purchases; the fulfilment agent is this project itself,
``purchases/axme_handlers.py``), a Celery worker (with beat, and the agent listener) on a broker
that needs no server, and the Django web server; it submits a
few purchase requests through the outbox and then either waits for you to approve in the
admin, or (``--headless``) approves and rejects through the admin over HTTP itself, prints the
transcript of transitions and signals, and exits 0 only if everything happened.

Every child runs in its own process group; Ctrl-C (or SIGTERM) stops them all.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from purchases.demo.processes import ManagedProcess, ProcessGroup, signals_raise_keyboard_interrupt

PROJECT_DIR = Path(__file__).resolve().parents[2]  # testproject/
DEFAULT_VAR_DIR = PROJECT_DIR / "var" / "demo"
DEFAULT_WEB_PORT = 8000
DEFAULT_EMULATOR_PORT = 8765
API_KEY = "axme_sa_demo_local-emulator-key"
APPROVER_INBOX = "agent://demo/approvers"


class DemoFailure(RuntimeError):
    """Something the demo promised did not happen; the message says what."""


@dataclass(frozen=True)
class DemoRequest:
    item: str
    amount: str
    requester: str
    #: What the headless demo decides in the admin (None: no human involved).
    decision: str | None = None


DECISION_NOTES = {
    "approve": "Approved by the headless demo",
    "reject": "Rejected by the headless demo: over budget",
}

DEMO_REQUESTS: tuple[DemoRequest, ...] = (
    DemoRequest("USB-C cable", "19.90", "bob"),
    DemoRequest("Standing desk", "450.00", "carol"),
    DemoRequest("Laptop for a new hire", "2400.00", "alice", decision="approve"),
    DemoRequest("Espresso machine for the office", "1800.00", "dave", decision="reject"),
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/demo",
        description="Run the django-axme demo: emulator, Celery worker, web server, purchases.",
    )
    parser.add_argument(
        "--headless",
        action="store_true",
        help="approve/reject through the admin over HTTP, print the transcript, exit 0 on success",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface for every server")
    parser.add_argument(
        "--port",
        type=_port,
        default=None,
        help=f"web server port (default {DEFAULT_WEB_PORT}, or a free one if taken; 0 = any)",
    )
    parser.add_argument(
        "--emulator-port",
        type=_port,
        default=None,
        help=f"emulator port (default {DEFAULT_EMULATOR_PORT}, or a free one if taken; 0 = any)",
    )
    parser.add_argument(
        "--var-dir",
        type=Path,
        default=DEFAULT_VAR_DIR,
        help="where the SQLite database, broker queue and logs go (wiped at start)",
    )
    parser.add_argument(
        "--use-env",
        action="store_true",
        help="use DATABASE_URL and CELERY_BROKER_URL from the environment (PostgreSQL, Redis, "
        "RabbitMQ) instead of the embedded SQLite file and filesystem broker",
    )
    parser.add_argument("--username", default="admin", help="demo admin user name")
    parser.add_argument(
        "--password", default=None, help="demo admin password (default: a new random one)"
    )
    parser.add_argument(
        "--timeout",
        type=_seconds(10),
        default=120.0,
        help="headless: seconds for the whole run before it gives up (default 120)",
    )
    parser.add_argument(
        "--worker-delay",
        type=_seconds(0),
        default=1.0,
        help="seconds the simulated agents take for each step (default 1)",
    )
    return parser.parse_args(argv)


def _redacted(url: str | None) -> str:
    """``url`` without its password (for the console), or "" when unset."""
    if not url:
        return ""
    return re.sub(r"(//[^:/@]*):[^@/]*@", r"\1:***@", url)


def pick_port(host: str, wanted: int | None, default: int) -> int:
    """``wanted`` if given (0 = any free port), else ``default`` if free, else any free port."""
    candidates = [wanted] if wanted is not None else [default, 0]
    for port in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise DemoFailure(f"port {wanted} on {host} is in use; pick another with a flag")


VAR_DIR_MARKER = ".django-axme-demo"


def reset_var_dir(path: Path) -> None:
    """Empty ``path`` for a fresh run; refuse if it holds files the demo did not create.

    The demo's var dir carries a marker file; any other non-empty directory (a mistyped
    ``--var-dir``) is left alone and reported.
    """
    if path.exists():
        if not path.is_dir():
            raise DemoFailure(f"--var-dir {path} is not a directory")
        if any(path.iterdir()) and not (path / VAR_DIR_MARKER).exists():
            raise DemoFailure(
                f"--var-dir {path} is not empty and was not created by the demo; "
                "refusing to wipe it (pick an empty or new directory)"
            )
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / VAR_DIR_MARKER).write_text("created by scripts/demo; wiped at each start\n")


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535 (0 = any free port), got {value}")
    return value


def _seconds(minimum: float) -> Any:
    def parse(text: str) -> float:
        value = float(text)
        if not value >= minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum:g} seconds, got {text}")
        return value

    return parse


class Console:
    """Serialised printing (children's output arrives on reader threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.monotonic()
        #: Set while stopping: the children's complaints about each other going away are noise.
        self.quiet = False

    def say(self, text: str = "") -> None:
        with self._lock:
            print(text, flush=True)

    def child_line(self, name: str, line: str) -> None:
        """Echo the lines worth seeing: the example app's receivers, warnings and errors."""
        if self.quiet:
            return
        interesting = (
            " purchases: " in line
            or " WARNING " in line
            or " ERROR " in line
            or " CRITICAL " in line
            or line.startswith("Traceback")
        )
        if interesting:
            self.say(f"  {name:>8} | {line}")


class Demo:
    """One run of the demo. :meth:`stop` is safe to call at any time, more than once."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.console = Console()
        self.var_dir: Path = options.var_dir.resolve()
        self.group = ProcessGroup(self.var_dir / "logs", sink=self.console.child_line)
        self.deadline = time.monotonic() + options.timeout
        self.password = options.password or secrets.token_urlsafe(9)
        self.web_url = ""
        self.emulator_url = ""
        self.purchases: dict[str, Any] = {}
        self.env: dict[str, str] = {}
        self.broker_name = ""

    # -- set-up ---------------------------------------------------------------------------

    def prepare(self) -> None:
        """Fresh var dir, environment for every process, Django, migrations, the admin user."""
        say = self.console.say
        reset_var_dir(self.var_dir)
        host = self.options.host
        web_port = pick_port(host, self.options.port, DEFAULT_WEB_PORT)
        emulator_port = pick_port(host, self.options.emulator_port, DEFAULT_EMULATOR_PORT)
        self.web_url = f"http://{host}:{web_port}"
        self.emulator_url = f"http://{host}:{emulator_port}"
        env = dict(os.environ)
        if not self.options.use_env:
            # Embedded defaults: the demo's own SQLite file and filesystem broker.
            for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
                env.pop(name, None)
        env.update(
            DJANGO_SETTINGS_MODULE="testproject.settings",
            TESTPROJECT_VAR_DIR=str(self.var_dir),
            AXME_BASE_URL=self.emulator_url,
            AXME_API_KEY=API_KEY,
            AXME_OWNER_AGENT=APPROVER_INBOX,
            # Approvals arrive by webhook push; the inbox sync is the safety net (docs/webhooks).
            AXME_WEBHOOK_URL=f"{self.web_url}/axme/webhook/",
            AXME_WEBHOOK_SECRET=secrets.token_urlsafe(24),
            AXME_INBOX_SYNC_SECONDS="30",
            AXME_RECONCILE_SECONDS="10",
            # The worker also runs this project's agent listener (the fulfilment agent).
            AXME_AGENT_LISTEN_IN_WORKER="1",
            CELERY_TASK_ALWAYS_EAGER="0",
            PYTHONUNBUFFERED="1",
            PYTHONPATH=os.pathsep.join(
                p for p in (str(PROJECT_DIR), env.get("PYTHONPATH", "")) if p
            ),
        )
        self.env = env
        os.environ.clear()
        os.environ.update(env)
        database = _redacted(env.get("DATABASE_URL")) or "the SQLite file in it"
        broker = _redacted(env.get("CELERY_BROKER_URL")) or "the filesystem queue in it"
        self.broker_name = broker
        say(f"==> var dir {self.var_dir} (logs); database: {database}; broker: {broker}")

        import logging

        import django

        django.setup()
        # This process's own receivers stay quiet: the demo prints its own summary lines.
        logging.getLogger("purchases").setLevel(logging.WARNING)
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        say("==> migrating the database")
        call_command("migrate", interactive=False, verbosity=0)
        if self.options.use_env:
            from purchases.models import PurchaseRequest

            if PurchaseRequest.objects.exists():
                raise DemoFailure(
                    "DATABASE_URL points at a database that already holds purchase requests; "
                    "the demo needs an empty one (for example: createdb axme_demo)"
                )
        user_model = get_user_model()
        user = user_model.objects.filter(username=self.options.username).first()
        if user is None:
            user = user_model.objects.create_superuser(
                self.options.username, f"{self.options.username}@example.com", self.password
            )
        else:
            user.set_password(self.password)
            user.save()
        say(f"==> demo admin user: {self.options.username} / {self.password}")

    def start_processes(self) -> None:
        say = self.console.say
        python = sys.executable
        delay = str(self.options.worker_delay)
        from purchases.conf import purchases_setting

        approval_agent = purchases_setting("APPROVAL_AGENT")
        fulfilment_agent = purchases_setting("FULFILMENT_AGENT")
        port = self.emulator_url.rsplit(":", 1)[1]
        say(f"==> starting the AXME emulator on {self.emulator_url}")
        emulator = self.group.start(
            "emulator",
            [
                python,
                "-m",
                "django_axme.emulator",
                "--host",
                self.options.host,
                "--port",
                port,
                "--api-key",
                API_KEY,
                # This project is the fulfilment agent (purchases/axme_handlers.py): the
                # emulator leaves that address to its listener, no simulated script.
                "--serve",
                fulfilment_agent,
                "--agent",
                f"{approval_agent}=approval:owner={APPROVER_INBOX}"
                f":title=Approve a purchase request:delivered={delay}:in_progress={delay}"
                f":ask={delay}:completed={delay}",
            ],
            cwd=PROJECT_DIR,
            env=self.env,
        )
        emulator.wait_for_line("listening on", timeout=self._remaining(30))
        say(f"==> starting the Celery worker (with beat) on {self.broker_name}")
        worker = self.group.start(
            "worker",
            [
                python,
                "-m",
                "celery",
                "-A",
                "testproject",
                "worker",
                "--beat",
                "--schedule",
                str(self.var_dir / "celerybeat-schedule"),
                "--loglevel",
                "INFO",
                "--pool",
                "threads",
                "--concurrency",
                "8",
                "--hostname",
                "demo@%h",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=PROJECT_DIR,
            env=self.env,
        )
        say(f"==> starting the web server on {self.web_url}")
        web = self.group.start(
            "web",
            [
                python,
                "manage.py",
                "runserver",
                self.web_url.removeprefix("http://"),
                "--noreload",
            ],
            cwd=PROJECT_DIR,
            env=self.env,
        )
        worker.wait_for_line(" ready.", timeout=self._remaining(60))
        self._wait_http(web, self.web_url + "/admin/login/", timeout=self._remaining(60))
        self.subscribe_webhooks()

    def subscribe_webhooks(self) -> None:
        """Subscribe the web server's axme:webhook view at the emulator
        (``manage.py axme_webhooks sync``): approvals then arrive by push."""
        from io import StringIO

        from django.core.management import call_command

        call_command("axme_webhooks", "sync", stdout=StringIO())
        self.console.say(
            f"==> subscribed {self.web_url}/axme/webhook/ to the emulator's inbox events: "
            "approvals arrive by push (the inbox sync, every 30 s, is the safety net)"
        )

    def _wait_http(self, process: ManagedProcess, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                raise DemoFailure(
                    f"{process.name} exited with code {process.popen.returncode}:\n"
                    + process.tail()
                )
            try:
                if requests.get(url, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise DemoFailure(f"{url} did not answer within {timeout:.0f} s:\n" + process.tail())

    def _remaining(self, at_most: float) -> float:
        if not self.options.headless:
            return at_most
        return max(1.0, min(at_most, self.deadline - time.monotonic()))

    # -- the purchases --------------------------------------------------------------------

    def submit_requests(self) -> None:
        from purchases import services

        self.console.say("==> submitting purchase requests (outbox: sent after each commit)")
        for spec in DEMO_REQUESTS:
            purchase = services.create_purchase_request(
                item=spec.item, amount=spec.amount, requester=spec.requester
            )
            self.purchases[spec.item] = purchase
            route = "needs a human approval" if purchase.needs_approval else "placed directly"
            self.console.say(f"    #{purchase.pk} {spec.item}, {spec.amount} EUR: {route}")

    def approvals(self) -> dict[str, Any]:
        """Pending approvals of the demo's requests, by item."""
        from django_axme.models import Approval

        found = {}
        for item, purchase in self.purchases.items():
            approval = Approval.objects.filter(intent_id=purchase.intent_id).order_by("-id").first()
            if approval is not None:
                found[item] = approval
        return found

    def wait_for_approvals(self, timeout: float) -> dict[str, Any]:
        wanted = {s.item for s in DEMO_REQUESTS if s.decision}
        self.console.say(f"==> waiting for the {len(wanted)} approval requests to reach the admin")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.approvals()
            if wanted <= set(found):
                self._say_how_approvals_came(found)
                return found
            self._check_children()
            time.sleep(0.5)
        found = self.approvals()
        missing = sorted(wanted - set(found))
        raise DemoFailure(
            f"no approval mirrored for {', '.join(missing)} within {timeout:.0f} s "
            "(the Celery worker's sync_inbox/observer should have fetched it; see the worker log)"
        )

    def _say_how_approvals_came(self, found: dict[str, Any]) -> None:
        from django_axme.models import WebhookDelivery

        threads = [a.thread_id for a in found.values()]
        pushed = set(
            WebhookDelivery.objects.filter(thread_id__in=threads, outcome="processed").values_list(
                "thread_id", flat=True
            )
        )
        self.console.say(
            f"    {len(found)} approval(s) in the admin, {len(pushed & set(threads))} "
            "brought by a webhook delivery"
        )

    def _check_children(self) -> None:
        for process in self.group.processes:
            if process.popen.poll() is not None:
                raise DemoFailure(
                    f"{process.name} stopped unexpectedly (exit code {process.popen.returncode}); "
                    f"last output:\n{process.tail()}"
                )

    def decide_in_admin(self, approvals: dict[str, Any]) -> None:
        """Log into the admin and approve/reject through its pages, as a person would."""
        from django.urls import reverse

        from purchases.demo.admin_http import AdminSession, page_messages

        session = AdminSession(self.web_url)
        session.login(reverse("admin:login"), self.options.username, self.password)
        self.console.say(f"==> logged into {self.web_url}/admin/ as {self.options.username}")
        for spec in DEMO_REQUESTS:
            if not spec.decision:
                continue
            approval = approvals[spec.item]
            page = reverse("admin:django_axme_approval_change", args=[approval.pk])
            action = reverse("admin:django_axme_approval_decide", args=[approval.pk])
            html = session.post_form(
                page,
                action,
                {"decision": spec.decision, "note": DECISION_NOTES[spec.decision]},
            )
            shown = "; ".join(text for _, text in page_messages(html)) or "(no message shown)"
            self.console.say(f"    {spec.decision} '{spec.item}' in the admin: {shown}")
            errors = [text for level, text in page_messages(html) if level == "error"]
            if errors:
                raise DemoFailure(f"the admin refused to {spec.decision} {spec.item}: {errors}")

    def wait_until_final(self, timeout: float) -> None:
        from django.db.models import Q

        from django_axme.models import Intent
        from purchases.models import PurchaseRequest

        self.console.say("==> waiting until every intent is terminal and every request final")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            purchases = list(PurchaseRequest.objects.filter(pk__in=self._pks()))
            intents = Intent.objects.filter(
                Q(purchase_request__in=purchases) | Q(fulfilment_of__in=purchases)
            )
            if all(p.is_final for p in purchases) and all(i.is_terminal for i in intents):
                return
            self._check_children()
            time.sleep(0.5)

    def _pks(self) -> list[int]:
        return [p.pk for p in self.purchases.values()]

    # -- transcript and verdict -----------------------------------------------------------

    def print_transcript(self) -> None:
        from purchases.demo.transcript import render_transcript

        self.console.say("")
        self.console.say(render_transcript(self._pks()))

    def verify(self) -> list[str]:
        from purchases.demo.transcript import check_outcome

        expected = {
            self.purchases[s.item].pk: ("rejected" if s.decision == "reject" else "fulfilled")
            for s in DEMO_REQUESTS
        }
        decided = {self.purchases[s.item].pk: s.decision for s in DEMO_REQUESTS if s.decision}
        return check_outcome(expected, decided, username=self.options.username)

    # -- modes ----------------------------------------------------------------------------

    def run(self) -> int:
        started = time.monotonic()
        self.prepare()
        self.start_processes()
        self.submit_requests()
        if self.options.headless:
            approvals = self.wait_for_approvals(self._remaining(60))
            self.decide_in_admin(approvals)
            self.wait_until_final(self._remaining(90))
            self.print_transcript()
            problems = self.verify()
            took = time.monotonic() - started
            if problems:
                self.console.say(f"HEADLESS DEMO FAILED after {took:.0f} s:")
                for problem in problems:
                    self.console.say(f"  - {problem}")
                self.console.say(f"Logs: {self.var_dir / 'logs'}")
                return 1
            self.console.say(
                f"HEADLESS DEMO PASSED in {took:.0f} s: every intent is terminal, "
                "the approved request was fulfilled by this project acting as the AXME agent, "
                "the rejected one rejected, and the receivers saw every signal once."
            )
            return 0
        try:
            self.wait_for_approvals(60)
        except DemoFailure as exc:  # interactive: say so, keep running
            self.console.say(f"WARNING: {exc}; press 'Refresh from AXME' on the approvals page.")
        self.print_banner()
        return self.follow()

    def print_banner(self) -> None:
        say = self.console.say
        admin = f"{self.web_url}/admin/"
        approvals = f"{self.web_url}/admin/django_axme/approval/"
        purchases = f"{self.web_url}/admin/purchases/purchaserequest/"
        line = "=" * 78
        say("")
        say(line)
        say("  django-axme demo is running")
        say(f"  Admin:      {admin}")
        say(f"  Login:      {self.options.username}")
        say(f"  Password:   {self.password}")
        say("")
        say("  What to do:")
        say(f"  1. Open {approvals}")
        say("     Two purchase requests wait for a human: open one, press Approve (or Reject).")
        say(f"  2. Watch {purchases}")
        say("     The example app's receivers move each request (approved -> fulfilled, or")
        say("     rejected) and their log lines appear below. This project itself places")
        say("     the orders, as the AXME agent agent://demo/purchasing (purchases/")
        say("     axme_handlers.py): small requests at once, large ones once approved.")
        say("  3. Create your own in the admin (Purchases > Add): 1000 EUR or more needs approval.")
        say("")
        say(f"  Emulator:   {self.emulator_url} (API key {API_KEY})")
        say(f"  Logs:       {self.var_dir / 'logs'}")
        say("  Press Ctrl-C to stop everything.")
        say(line)

    def follow(self) -> int:
        """Keep running until Ctrl-C; say when every request has reached a final status."""
        from purchases.models import PurchaseRequest

        announced = False
        while True:
            self._check_children()
            pks = list(PurchaseRequest.objects.values_list("pk", flat=True))
            all_final = bool(pks) and all(
                p.is_final for p in PurchaseRequest.objects.filter(pk__in=pks)
            )
            if all_final and not announced:
                self.console.say("==> every purchase request is final. Ctrl-C stops the demo.")
                announced = True
            elif not all_final:
                announced = False
            time.sleep(1.0)

    def stop(self) -> None:
        if self.group.processes:
            self.console.say("==> stopping the web server, the worker and the emulator")
        self.console.quiet = True
        # Celery's warm shutdown waits for running observer slices; the observers resume
        # from the database cursor anyway, so do not wait long before SIGKILL.
        self.group.stop_all(timeout=5.0)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    demo = Demo(options)
    try:
        with signals_raise_keyboard_interrupt():
            return demo.run()
    except KeyboardInterrupt:
        demo.console.say("")
        demo.console.say("==> interrupted")
        return 130
    except (DemoFailure, RuntimeError) as exc:  # RuntimeError: a child failed to start
        demo.console.say(f"DEMO FAILED: {exc}")
        if (demo.var_dir / "logs").is_dir():
            demo.console.say(f"Logs: {demo.var_dir / 'logs'}")
        return 1
    finally:
        demo.stop()
        demo.console.say("==> all demo processes stopped")
