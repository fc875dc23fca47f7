"""Benchmark of the agent side (issue 17): intents received and resolved per second by ONE
Celery worker with a no-op handler, against the official SDK's ``listen()`` +
``resolve_intent`` loop, in the same run, on the same emulator.

Run from the repository root::

    .venv/bin/python benchmarks/agent.py --intents 500 --rate 100 --seconds 10 --repeat 3 \
        --broker-url redis://127.0.0.1:6379/8 \
        --database-url postgres://postgres@127.0.0.1:5432/axme_agent

(the database's agent tables and inbound intents are emptied first, and the Redis database is
flushed: use ones of their own).

What it does, in one run:

1. starts the emulator's HTTP server in this process, serving two addresses (ours and the
   SDK loop's; no simulated scripts), migrates the database and empties the agent tables;
2. **ours, burst**: starts ONE worker process (``celery -A testproject worker -P threads``)
   that runs the listener (``AGENT_LISTEN_IN_WORKER``) and the handler tasks, creates N
   intents at once and times until all N are resolved (intents/s);
3. **SDK loop, burst**: a separate process runs the official SDK's ``listen()`` and calls
   ``resolve_intent`` for each new intent (no database, no durability); same N, same timing;
   2. and 3. alternate ``--repeat`` times; the medians and their ratio are reported;
4. **ours, paced**: creates intents at ``--rate`` per second for ``--seconds`` and measures,
   for each, the time from its creation to its terminal event in the emulator (p50/p99/max;
   this includes the stream delivery, so it bounds receive-to-resolve from above);
5. prints the figures, the ratio (ours / SDK loop), whether the targets hold (ratio >= 1.0;
   p99 under 1 s at the asked rate) and the load average, as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TESTPROJECT = REPO / "testproject"
API_KEY = "axme_sa_bench_local-key"
OURS = "agent://bench/ws/django-agent"
SDK_ADDRESS = "agent://bench/ws/sdk-loop"
TERMINAL = ("COMPLETED", "FAILED", "CANCELED", "TIMED_OUT")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100.0 * (len(ordered) - 1)))]


class Clock:
    """Creation and terminal times of every intent, from the emulator's own notifications."""

    def __init__(self) -> None:
        self.created: dict[str, float] = {}
        self.done: dict[str, float] = {}
        self.cond = threading.Condition()

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        now = time.monotonic()
        with self.cond:
            if kind == "intent.created":
                self.created.setdefault(str(data["intent"]["intent_id"]), now)
            elif kind == "intent.event" and data["event"].get("status") in TERMINAL:
                self.done.setdefault(str(data["intent_id"]), now)
                self.cond.notify_all()

    def wait_done(self, ids: list[str], timeout: float) -> float:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not all(i in self.done for i in ids):
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = sum(1 for i in ids if i not in self.done)
                    raise SystemExit(f"timed out: {missing} of {len(ids)} intents not resolved")
                self.cond.wait(min(left, 0.5))
            return max(self.done[i] for i in ids)


def sdk_loop(url: str, address: str, n: int) -> None:
    """Child process: the official SDK's listen + resolve loop until n intents are resolved."""
    import axme_sdk

    client = axme_sdk.AxmeClient(axme_sdk.AxmeClientConfig(base_url=url, api_key=API_KEY))
    resolved: set[str] = set()
    print("ready", flush=True)
    for event in client.listen(address, wait_seconds=5):
        intent_id = event.get("intent_id")
        if not intent_id or intent_id in resolved:
            continue
        client.resolve_intent(intent_id, {"status": "COMPLETED", "result": {}})
        resolved.add(intent_id)
        if len(resolved) >= n:
            break
    client.close()


def cpu_of(group: int, database: str) -> dict[str, float]:
    """CPU seconds so far of the processes of process group ``group`` (a worker and its pool
    children), this process (the emulator's server threads and the clock) and the PostgreSQL
    backends of ``database``."""
    from benchmarks.scaleout import cpu_seconds, postgres_cpu

    return {
        "worker": sum(group_cpu(group).values()),
        "emulator": cpu_seconds(os.getpid()),
        "postgres": postgres_cpu(database),
    }


def group_cpu(group: int) -> dict[int, float]:
    """CPU seconds so far of each process of process group ``group``, by pid."""
    from benchmarks.scaleout import cpu_seconds

    out = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                pgrp = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2])
            except (OSError, IndexError, ValueError):
                continue
            if pgrp == group:
                out[int(proc.name)] = cpu_seconds(int(proc.name))
    return out


def burst(
    emulator: Any, clock: Clock, address: str, group: int, database: str, args: Any, label: str
) -> tuple[float, dict[str, float]]:
    """Create ``args.intents`` intents for ``address`` at once and wait until all are resolved;
    returns intents/s and the CPU seconds spent meanwhile (:func:`cpu_of`, ``group`` being the
    side's process group). With ``--timeline``, prints when each share of the intents was
    resolved and the CPU per intent of each process of ``group``."""
    from benchmarks.agent_handlers import NOOP_TYPE

    before = cpu_of(group, database)
    each = group_cpu(group)
    start = time.monotonic()
    ids = create(emulator, address, args.intents, NOOP_TYPE)
    created = time.monotonic() - start
    end = clock.wait_done(ids, 300)
    after = cpu_of(group, database)
    if args.timeline:
        now = group_cpu(group)
        spent = {p: 1e3 * (now[p] - each.get(p, 0.0)) / args.intents for p in now}
        print(
            f"{label}: CPU ms/intent by process:",
            ", ".join(f"{p} {v:.2f}" for p, v in sorted(spent.items())),
            file=sys.stderr,
        )
        done = sorted(clock.done[i] - start for i in ids)
        print(
            f"{label}: created in {created:.3f}s; done at",
            [round(pct(done, q), 3) for q in (0, 10, 25, 50, 75, 90, 100)],
            file=sys.stderr,
        )
    return args.intents / (end - start), {k: after[k] - before[k] for k in after}


def create(emulator: Any, address: str, n: int, intent_type: str) -> list[str]:
    return [
        str(
            emulator.create_intent(
                {"intent_type": intent_type, "to_agent": address, "payload": {}}
            )["intent_id"]
        )
        for _ in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--intents", type=int, default=500)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--timeline",
        action="store_true",
        help="print, per burst, when 0/10/25/50/75/90/100%% of the intents were resolved",
    )
    parser.add_argument(
        "--pool", default="threads", help="the worker's Celery pool (threads, prefork, ...)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="bursts of each side, alternating (medians)"
    )
    parser.add_argument("--broker-url", default=os.environ.get("CELERY_BROKER_URL", ""))
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument(
        "--sdk-loop", nargs=3, metavar=("URL", "ADDRESS", "N"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.sdk_loop:
        sdk_loop(args.sdk_loop[0], args.sdk_loop[1], int(args.sdk_loop[2]))
        return
    if not args.broker_url or not args.database_url:
        raise SystemExit("--broker-url and --database-url (PostgreSQL + Redis) are required")

    sys.path[:0] = [str(REPO), str(TESTPROJECT)]
    from benchmarks.agent_handlers import NOOP_TYPE
    from django_axme.emulator import Emulator, EmulatorServer

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.agent_settings",
        "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTPROJECT)]),
        "DATABASE_URL": args.database_url,
        "CELERY_BROKER_URL": args.broker_url,
        "AXME_API_KEY": API_KEY,
        "TESTPROJECT_VAR_DIR": tempfile.mkdtemp(prefix="axme-agent-bench-"),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "PYTHONUNBUFFERED": "1",
        # A production worker: no query log (DEBUG), connections kept across tasks.
        "DJANGO_DEBUG": "0",
        "CONN_MAX_AGE": "600",
    }
    emulator = Emulator(api_key=API_KEY)
    emulator.serve_agent(OURS)
    emulator.serve_agent(SDK_ADDRESS)
    clock = Clock()
    emulator.gateway.add_listener(clock)
    server = EmulatorServer(emulator).start()
    env["AXME_BASE_URL"] = server.url
    env["AXME_BENCH_AXME"] = json.dumps(
        {
            "AGENT_ADDRESSES": [OURS],
            "AGENT_LISTEN_IN_WORKER": True,
            "AGENT_WINDOW_SECONDS": 5,
            "AGENT_LEASE_SECONDS": 20,
            "AGENT_HEARTBEAT_SECONDS": 5,
            "AGENT_LISTEN_SLICE_SECONDS": 3600,
        }
    )
    manage = [sys.executable, str(TESTPROJECT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=TESTPROJECT)
    cleanup = (
        "from django_axme.models import AgentJob, AgentListener, Intent;"
        "AgentJob.objects.all().delete(); AgentListener.objects.all().delete();"
        "Intent.objects.filter(direction='inbound').delete()"
    )
    subprocess.run([*manage, "shell", "-c", cleanup], env=env, check=True, cwd=TESTPROJECT)
    import redis

    redis.Redis.from_url(args.broker_url).flushdb()

    log = Path(env["TESTPROJECT_VAR_DIR"]) / "worker.log"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "testproject",
            "worker",
            "-P",
            args.pool,
            "-c",
            str(args.concurrency),
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=TESTPROJECT,
        env=env,
        stdout=open(log, "wb"),  # noqa: SIM115 - the child owns it
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    figures: dict[str, Any] = {
        "intents": args.intents,
        "worker_pool": args.pool,
        "worker_concurrency": args.concurrency,
    }
    child: subprocess.Popen[str] | None = None
    # A SIGTERM to the benchmark runs the teardown below too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        # warm-up: the listener is up when a first intent comes back resolved
        warm = create(emulator, OURS, 5, NOOP_TYPE)
        clock.wait_done(warm, 120)

        # 2. and 3., alternating --repeat times: ours, burst; the SDK loop, burst. Each side is
        # one long-lived process (our worker; the SDK loop's own process, started once).
        # Medians of each, and the ratio of the medians.
        child = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--sdk-loop",
                server.url,
                SDK_ADDRESS,
                str(args.intents * args.repeat),
            ],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group, for the CPU accounting
        )
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # its first window is open
        ours: list[float] = []
        sdk: list[float] = []
        ours_cpu: list[dict[str, float]] = []
        sdk_cpu: list[dict[str, float]] = []
        database = args.database_url.rsplit("/", 1)[-1]
        for _ in range(args.repeat):
            rate, cpu = burst(emulator, clock, OURS, worker.pid, database, args, "ours")
            ours.append(rate)
            ours_cpu.append(cpu)
            rate, cpu = burst(emulator, clock, SDK_ADDRESS, child.pid, database, args, "SDK loop")
            sdk.append(rate)
            sdk_cpu.append(cpu)
        child.wait(30)
        figures["ours_burst_per_s_runs"] = [round(v, 1) for v in ours]
        figures["sdk_loop_burst_per_s_runs"] = [round(v, 1) for v in sdk]
        figures["ours_burst_per_s"] = round(statistics.median(ours), 1)
        figures["sdk_loop_burst_per_s"] = round(statistics.median(sdk), 1)
        # CPU per intent during the bursts (medians): where a core goes, per process.
        figures["cpu_ms_per_intent"] = {
            "ours": {
                k: round(1e3 * statistics.median(c[k] for c in ours_cpu) / args.intents, 3)
                for k in ours_cpu[0]
            },
            "sdk_loop": {
                ("sdk_loop" if k == "worker" else k): round(
                    1e3 * statistics.median(c[k] for c in sdk_cpu) / args.intents, 3
                )
                for k in sdk_cpu[0]
                if k != "postgres"
            },
        }
        figures["ratio_ours_vs_sdk"] = round(
            figures["ours_burst_per_s"] / figures["sdk_loop_burst_per_s"], 2
        )

        # 4. ours, paced
        paced: list[str] = []
        total = int(args.rate * args.seconds)
        t0 = time.monotonic()
        for k in range(total):
            delay = t0 + k / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            paced.extend(create(emulator, OURS, 1, NOOP_TYPE))
        achieved = total / (time.monotonic() - t0)
        clock.wait_done(paced, 300)
        lat = [clock.done[i] - clock.created[i] for i in paced]
        figures.update(
            paced_rate_per_s=round(achieved, 1),
            paced_intents=total,
            latency_p50_s=round(pct(lat, 50), 3),
            latency_p99_s=round(pct(lat, 99), 3),
            latency_max_s=round(max(lat), 3),
        )
        figures["targets"] = {
            "ratio_at_least_1.0": figures["ratio_ours_vs_sdk"] >= 1.0,
            "p99_under_1s_at_rate": figures["latency_p99_s"] < 1.0 and achieved >= 0.95 * args.rate,
        }
        figures["load_average"] = [round(v, 2) for v in os.getloadavg()]
        # Printed before the teardown, so a slow worker shutdown cannot lose them.
        print(json.dumps(figures, indent=2), flush=True)
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait(10)
        # SIGTERM is a warm shutdown, which waits for the running listener slice: give it a
        # few seconds, then SIGKILL the worker's process group.
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(15)
        server.stop()
        emulator.close()


if __name__ == "__main__":
    main()
