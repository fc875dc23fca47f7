"""Benchmark: approvals by webhook push against the inbox-sync path, and the view's throughput.

Run from the repository root (the database's django_axme tables are emptied first; use a
database of its own)::

    .venv/bin/python benchmarks/webhooks.py \
        --database-url postgres://postgres@127.0.0.1:5432/axme_bench \
        --broker-url redis://127.0.0.1:6379/7

What it does, in one run, all over real HTTP:

1. starts the emulator's HTTP server and a Django WSGI server (a pool of threads, persistent
   database connections) for the test project in this process;
2. **push**: subscribes the webhook view (``manage.py axme_webhooks sync``; processing in one
   Celery worker process, the default setting, or ``--processing inline``), creates
   ``--approvals`` intents (each opens a thread in its addressee's inbox, so one delivery
   each, all at once) and waits until those deliveries are delivered and processed (unless
   ``--no-settle``); then opens their human tasks at random times within ``--spread``
   seconds; for each, the latency from the emulator opening the task to
   ``approval_requested`` firing (p50/p99/max), and per hop (``benchmarks/webhook_hops.py``:
   emulator queue, POST, view, row, broker, worker, signal). No inbox sync runs;
3. **inbox sync**: revokes the subscription and does the same with ``sync_inbox`` run every
   ``--inbox-seconds`` (30 s, the default beat period), the path django-axme had before;
4. **throughput**: ``--deliveries`` signed deliveries POSTed by ``--clients`` connections
   from a separate process to ``--web-processes`` forked server processes (one per core, as
   a pre-fork server like gunicorn runs), processing deferred
   (``WEBHOOK_PROCESSING = "celery"``: the view records the row and sends the task to the
   broker; no worker consumes, the queue is purged afterwards): deliveries/s and the view's
   p50/p99;
5. prints the figures and the ratios (targets: push p99 under 1 s; 500 deliveries/s).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]  # run as ``python benchmarks/webhooks.py`` from the repository root

from benchmarks.webhook_hops import Hops, read_worker_stamps, wrap_wsgi  # noqa: E402

TESTPROJECT = REPO / "testproject"
API_KEY = "axme_sa_bench_webhooks-key"
SECRET = "bench-webhook-secret-0123456789"
OWNER = "agent://bench/approvers"


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(value: float) -> str:
    return f"{value * 1000:.0f} ms"


# -- the load generator (a separate process, so that it does not share the server's GIL) -----


def load(url: str, count: int, clients: int) -> None:
    import hashlib
    import hmac

    import requests

    bodies = []
    for n in range(count):
        body = json.dumps(
            {
                "delivery_id": str(uuid.uuid4()),
                "event_id": str(uuid.uuid4()),
                "event_type": "inbox.thread_updated",
                "owner_agent": OWNER,
                "sent_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "payload": {"thread_id": f"bench-{n}", "owner_agent": OWNER},
            }
        ).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        bodies.append((body, signature))
    local = threading.local()
    durations: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def post(item: tuple[bytes, str]) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        started = time.perf_counter()
        response = session.post(
            url,
            data=item[0],
            headers={"Content-Type": "application/json", "X-AXME-Signature": item[1]},
            timeout=30,
        )
        took = time.perf_counter() - started
        with lock:
            durations.append(took)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(post, bodies))
    elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {
                "elapsed": elapsed,
                "statuses": statuses,
                "p50": pct(durations, 50),
                "p99": pct(durations, 99),
            }
        )
    )


# -- the Django side --------------------------------------------------------------------------


#: The per-hop stamps of the push phase running now (``None`` outside it).
HOPS: list[Hops | None] = [None]


def web_server(threads: int) -> Any:
    """A WSGI server for the test project whose requests run on a fixed pool of threads
    (created when it starts serving, so after a fork), so each thread keeps its database
    connection (``CONN_MAX_AGE``)."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

    from django.core.wsgi import get_wsgi_application

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    class PoolServer(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        # gunicorn's default listen backlog; socketserver's 5 drops connections in a burst
        # and the client's SYN is retried after 1 s, which is the server's doing, not ours.
        request_queue_size = 2048
        pool: ThreadPoolExecutor | None = None

        def process_request(self, request: Any, client_address: Any) -> None:
            if self.pool is None:
                self.pool = ThreadPoolExecutor(threads, thread_name_prefix="web")
            self.pool.submit(self.process_request_thread, request, client_address)

    server = PoolServer(("127.0.0.1", 0), Quiet)
    server.set_app(wrap_wsgi(get_wsgi_application(), lambda: HOPS[0]))
    return server


def start_web_server(threads: int) -> tuple[Any, str]:
    """One server in this process, serving on a thread."""
    server = web_server(threads)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def fork_web_servers(processes: int, threads: int) -> tuple[list[int], str]:
    """``processes`` forked children serving one listening socket (as a pre-fork server such
    as gunicorn does); database connections are closed before forking."""
    from django.db import connections

    server = web_server(threads)
    connections.close_all()
    pids = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child serves until it is killed
            try:
                server.serve_forever()
            finally:
                os._exit(0)
        pids.append(pid)
    server.socket.close()
    return pids, f"http://127.0.0.1:{server.server_address[1]}"


class Arrivals:
    """``approval_requested`` times by thread id (the signal fires in this process)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.wall: dict[str, float] = {}  # the same, wall-clock (for the per-hop figures)
        self.lock = threading.Lock()

    def __call__(self, sender: Any, approval: Any, **kwargs: Any) -> None:
        with self.lock:
            self.at.setdefault(approval.thread_id, time.monotonic())
            self.wall.setdefault(approval.thread_id, time.time())

    def count(self, ids: list[str]) -> int:
        self.read_probe()
        with self.lock:
            return sum(1 for i in ids if i in self.at)

    #: The worker's probe file (``benchmarks/webhook_probe.py``), when processing in Celery;
    #: its times are wall-clock, converted to this process's monotonic clock.
    probe: Path | None = None

    def read_probe(self) -> None:
        if self.probe is None or not self.probe.exists():
            return
        offset = time.monotonic() - time.time()
        with self.lock:
            for line in self.probe.read_text().splitlines():
                stamp, thread_id = line.split()
                self.at.setdefault(thread_id, float(stamp) + offset)
                self.wall.setdefault(thread_id, float(stamp))


def create_intents(emulator: Any, n: int) -> list[str]:
    """Create ``n`` intents (not mirrored), each ``IN_PROGRESS``; returns their ids. Each
    opens a thread in its addressee's inbox (``inbox.thread_created``, a webhook delivery
    when a subscription exists)."""
    ids = []
    for i in range(n):
        created = emulator.create_intent(
            {
                "intent_type": "bench.purchase.v1",
                "to_agent": "agent://bench/buyer",
                "from_agent": "agent://bench/shop",
                "payload": {"n": i},
            }
        )
        emulator.transition(created["intent_id"], "IN_PROGRESS")
        ids.append(created["intent_id"])
    return ids


def settle(emulator: Any, timeout: float = 120.0) -> float:
    """Wait until the emulator has no delivery queued or in flight and every recorded
    delivery is processed; returns the seconds it took. Run between :func:`create_intents`
    and :func:`open_tasks`, so that the burst of the setup's deliveries (one per intent, all
    at once) is not still queued in the emulator, the server or the worker when the measured
    approvals are opened."""
    from django_axme.models import WebhookDelivery, WebhookOutcome

    started = time.monotonic()
    deadline = started + timeout
    emulator.webhooks.wait_idle(timeout)
    due = WebhookDelivery.objects.filter(
        outcome__in=(WebhookOutcome.RECEIVED, WebhookOutcome.FAILED), processed_at__isnull=True
    )
    while due.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return time.monotonic() - started


def open_tasks(
    emulator: Any, ids: list[str], spread: float, seed: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Open the human tasks of intents ``ids`` at random times within ``spread`` seconds,
    on a thread; returns the opening times (monotonic, and wall-clock for comparing with
    database timestamps)."""
    rng = random.Random(seed)
    schedule = sorted((rng.uniform(0, spread), intent_id) for intent_id in ids)
    opened: dict[str, float] = {}
    opened_wall: dict[str, float] = {}

    def run() -> None:
        start = time.monotonic()
        for offset, intent_id in schedule:
            delay = start + offset - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            opened[intent_id] = time.monotonic()
            opened_wall[intent_id] = time.time()
            emulator.gateway.open_human_task(
                intent_id, owner_agent=OWNER, title="Approve the purchase?"
            )

    threading.Thread(target=run, daemon=True).start()
    return opened, opened_wall


def wait_all(arrivals: Arrivals, ids: list[str], timeout: float, tick: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while arrivals.count(ids) < len(ids) and time.monotonic() < deadline:
        if tick is not None:
            tick()
        time.sleep(0.05)


def latencies(arrivals: Arrivals, ids: list[str], opened: dict[str, float]) -> list[float]:
    return [arrivals.at[i] - opened[i] for i in ids if i in arrivals.at and i in opened]


def start_worker(options: Any) -> tuple[subprocess.Popen[bytes], Path]:
    """One Celery worker (threads pool) processing the deliveries, with the approval probe;
    the inbox sync is off in it (no beat, no owners)."""
    import tempfile

    probe = Path(tempfile.mkdtemp(prefix="axme-bench-")) / "approvals.txt"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.webhook_bench_settings",
        "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTPROJECT)]),
        "AXME_BENCH_SIGNALS": str(probe),
        "AXME_BENCH_HOPS": str(probe.with_name("hops.txt")),
        "AXME_BENCH_AXME": json.dumps({"INBOX_OWNER_AGENTS": [], "DEFAULT_OWNER_AGENT": OWNER}),
        "AXME_BASE_URL": options.emulator_url,
        "AXME_API_KEY": API_KEY,
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "testproject",
            "worker",
            "-P",
            "threads",
            "-c",
            "8",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
        ],
        cwd=TESTPROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert worker.stdout is not None
    for raw in worker.stdout:
        if b" ready." in raw:
            break
    else:
        raise RuntimeError("the benchmark worker did not start")
    threading.Thread(target=lambda: [None for _ in worker.stdout], daemon=True).start()
    return worker, probe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--broker-url", required=True)
    parser.add_argument("--approvals", type=int, default=200)
    parser.add_argument("--spread", type=float, default=60.0)
    parser.add_argument("--inbox-seconds", type=float, default=30.0)
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--web-threads", type=int, default=8)
    parser.add_argument(
        "--web-processes", type=int, default=2, help="server processes of the throughput phase"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--processing",
        choices=("celery", "inline"),
        default="celery",
        help="push phase: process in a Celery worker (the default setting) or in the view",
    )
    parser.add_argument(
        "--no-settle",
        action="store_true",
        help="push phase: open the approvals while the deliveries of creating their intents "
        "are still queued (how the benchmark measured before; a burst's backlog, see the docs)",
    )
    parser.add_argument(
        "--load", nargs=3, metavar=("URL", "COUNT", "CLIENTS"), help=argparse.SUPPRESS
    )
    options = parser.parse_args(argv)
    if options.load:
        load(options.load[0], int(options.load[1]), int(options.load[2]))
        return 0

    os.environ.update(
        DJANGO_SETTINGS_MODULE="testproject.settings",
        DATABASE_URL=options.database_url,
        CELERY_BROKER_URL=options.broker_url,
        CONN_MAX_AGE="600",
        AXME_LOG_LEVEL="ERROR",
    )
    sys.path[:0] = [str(TESTPROJECT), str(REPO)]
    import django

    django.setup()
    from io import StringIO

    from django.conf import settings
    from django.core.management import call_command

    from django_axme import signals, tasks
    from django_axme.conf import reset_client
    from django_axme.emulator import Emulator, EmulatorServer
    from django_axme.models import Approval, Intent, SyncCursor, WebhookDelivery

    call_command("migrate", interactive=False, verbosity=0)
    for model in (WebhookDelivery, Approval, Intent, SyncCursor):
        model.objects.all().delete()

    emulator = Emulator(api_key=API_KEY, webhooks={"workers": 8})
    emulator_server = EmulatorServer(emulator).start()
    options.emulator_url = emulator_server.url
    web, web_url = start_web_server(options.web_threads)
    settings.AXME = {
        **settings.AXME,
        "BASE_URL": emulator_server.url,
        "API_KEY": API_KEY,
        "DEFAULT_OWNER_AGENT": OWNER,
        "INBOX_OWNER_AGENTS": [OWNER],
        "WEBHOOK_SECRETS": [SECRET],
        "WEBHOOK_PROCESSING": "inline",
        "WEBHOOK_URL": web_url + "/axme/webhook/",
    }
    reset_client()
    arrivals = Arrivals()
    signals.approval_requested.connect(arrivals, weak=False)
    n, spread = options.approvals, options.spread
    print(
        f"webhooks benchmark: {n} approvals over {spread:.0f} s per path; emulator "
        f"{emulator_server.url}, Django {web_url}; {os.cpu_count()} CPUs"
    )

    # 2. push
    worker = None
    worker_hops: Path | None = None
    if options.processing == "celery":
        worker, probe = start_worker(options)
        arrivals.probe = probe
        worker_hops = probe.with_name("hops.txt")
        settings.AXME = {**settings.AXME, "WEBHOOK_PROCESSING": "celery"}
    call_command("axme_webhooks", "sync", stdout=StringIO())
    hops = HOPS[0] = Hops(OWNER)
    hops.watch_emulator(emulator.webhooks)
    ids = create_intents(emulator, n)
    settled = float("nan") if options.no_settle else settle(emulator)
    setup_deliveries = WebhookDelivery.objects.count()
    opened, opened_wall = open_tasks(emulator, ids, spread, options.seed)
    wait_all(arrivals, ids, spread + 30)
    push = latencies(arrivals, ids, opened)
    emulator.webhooks.wait_idle(30)
    HOPS[0] = None
    deliveries = WebhookDelivery.objects.count()
    attempts = list(emulator.webhooks.attempts)
    stages = WebhookDelivery.objects.filter(
        thread_id__in=ids, owner_agent=OWNER, event_type="inbox.thread_created"
    ).values_list("thread_id", "delivery_id", "pk", "received_at", "processed_at")
    to_view = [r.timestamp() - opened_wall[t] for t, _d, _k, r, _p in stages if t in opened_wall]
    processing = [p.timestamp() - r.timestamp() for *_rest, r, p in stages if p]
    refused = sum(1 for *_rest, status in attempts if not status.startswith("2"))
    arrivals.read_probe()
    hop_lines = hops.report(
        opened_wall,
        [(t, d, k, r.timestamp(), p.timestamp() if p else None) for t, d, k, r, p in stages],
        dict(arrivals.wall),
        read_worker_stamps(worker_hops) if worker_hops is not None else {},
    )
    if worker is not None:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        arrivals.probe = None
    settings.AXME = {**settings.AXME, "WEBHOOK_PROCESSING": "inline"}

    # 3. inbox sync only
    for sub in emulator.gateway.table("webhook_subscriptions").values():
        call_command("axme_webhooks", "delete", sub["subscription_id"], stdout=StringIO())
    tasks.sync_inbox.run(owner_agents=[OWNER])  # cursor at "now", as a running beat would be
    ids_b = create_intents(emulator, n)
    opened_b, _wall = open_tasks(emulator, ids_b, spread, options.seed + 1)
    next_sync = [time.monotonic() + options.inbox_seconds]

    def tick() -> None:
        if time.monotonic() >= next_sync[0]:
            tasks.sync_inbox.run(owner_agents=[OWNER])
            next_sync[0] += options.inbox_seconds

    wait_all(arrivals, ids_b, spread + 3 * options.inbox_seconds, tick)
    pulled = latencies(arrivals, ids_b, opened_b)

    # 4. throughput, processing deferred to a (absent) worker
    settings.AXME = {**settings.AXME, "WEBHOOK_PROCESSING": "celery"}
    before = WebhookDelivery.objects.count()
    pids, load_url = fork_web_servers(options.web_processes, options.web_threads)
    result = subprocess.run(
        [
            sys.executable,
            __file__,
            "--database-url",
            options.database_url,
            "--broker-url",
            options.broker_url,
            "--load",
            load_url + "/axme/webhook/",
            str(options.deliveries),
            str(options.clients),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
    recorded = WebhookDelivery.objects.count() - before
    from celery import current_app

    purged = current_app.control.purge()
    web.shutdown()
    emulator_server.stop()
    emulator.close()

    rate = options.deliveries / loaded["elapsed"]
    print()
    print(
        f"push (webhooks, {options.processing} processing, no inbox sync): "
        f"{len(push)}/{n} approvals"
    )
    print(
        f"  approval opened -> approval_requested: p50 {ms(pct(push, 50))}, "
        f"p99 {ms(pct(push, 99))}, max {ms(max(push, default=float('nan')))}; "
        f"{deliveries} deliveries recorded, {len(attempts)} POSTs, {refused} not 2xx"
    )
    if options.no_settle:
        print(f"  (--no-settle: the approvals met the backlog of the {n} intents' deliveries)")
    else:
        print(
            f"  (before the clock started: the {setup_deliveries} deliveries of creating the "
            f"{n} intents, all at once, were delivered and processed in {settled:.2f} s)"
        )
    print(
        f"  of which emulator -> view recorded: p50 {ms(pct(to_view, 50))}, "
        f"p99 {ms(pct(to_view, 99))}; recorded -> processed: p50 {ms(pct(processing, 50))}, "
        f"p99 {ms(pct(processing, 99))}"
    )
    print("  per hop (wall clock; the approver's inbox.thread_created delivery):")
    print("\n".join(hop_lines))
    print(
        f"inbox sync every {options.inbox_seconds:.0f} s (no webhooks): {len(pulled)}/{n} approvals"
    )
    print(
        f"  approval opened -> approval_requested: p50 {ms(pct(pulled, 50))}, "
        f"p99 {ms(pct(pulled, 99))}, max {ms(max(pulled, default=float('nan')))}"
    )
    if push and pulled:
        print(
            f"  ratio inbox sync / push: p50 x{pct(pulled, 50) / pct(push, 50):.0f}, "
            f"p99 x{pct(pulled, 99) / pct(push, 99):.0f}"
        )
    print(
        f"view throughput, processing deferred ({options.clients} clients, "
        f"{options.web_processes} server processes x {options.web_threads} threads): "
        f"{options.deliveries} deliveries in "
        f"{loaded['elapsed']:.2f} s = {rate:.0f}/s (target 500/s, x{rate / 500:.2f}); "
        f"per delivery p50 {ms(loaded['p50'])}, p99 {ms(loaded['p99'])}; "
        f"statuses {loaded['statuses']}; {recorded} rows recorded; {purged} tasks purged"
    )
    ok = len(push) == n and pct(push, 99) < 1.0 and rate >= 500
    print("targets:", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
