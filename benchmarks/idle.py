"""Benchmark: N intents all waiting for a human, followed by ONE worker for M minutes.

Run from the repository root::

    .venv/bin/python benchmarks/idle.py --intents 10000 --minutes 10 \
        --broker-url redis://127.0.0.1:6379/11 \
        --database-url postgres://postgres@127.0.0.1:5432/axme_idle

What it does, in one run:

1. starts the emulator in this process with an approval script (every intent goes WAITING for
   a human, with an inbox thread for the approver), behind two HTTP servers: a *counted* one
   that only the worker talks to, and an uncounted one for the benchmark's own set-up calls;
2. creates N intents, mirrors them (events and approval threads) and lets them stay quiet for
   ``OBSERVER_IDLE_AFTER_SECONDS``, as after a restart with N pending approvals;
3. starts ONE worker process (``-P threads``, embedded beat with django-axme's default
   schedule: reconcile every 60 s, inbox sync every 30 s, idle poll every 10 s) and hands all
   N intents to ``start_observing``; then for M minutes counts every request the worker makes
   and samples its open connections, while an approval is given "elsewhere" (on the gateway,
   not through the worker) every minute and the time to its ``intent_status_changed`` signal
   in the worker is measured;
4. baseline, same run, same emulator: the official SDK's ``wait_for`` with one thread per
   intent on ``--baseline-intents`` waiting intents for ``--baseline-seconds`` (its requests
   and connections, per intent and scaled to N);
5. prints the figures and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from benchmarks.observe import API_KEY, TESTPROJECT, fresh_state, pct, read_signals  # noqa: E402

OWNER = "agent://bench/approvers"
APPROVER = "agent://bench/approver"
#: The baseline's intents wait in another inbox, one the worker does not synchronise.
OTHER_APPROVER, OTHER_OWNER = "agent://bench/other-approver", "agent://bench/others"


class CountingTarget:
    """The emulator's front door, counting each request by kind (``GET /v1/intents/*/events``
    ...) and by minute."""

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self.faults = emulator.faults
        self.lock = threading.Lock()
        self.kinds: Counter[str] = Counter()
        self.times: list[float] = []

    def handle(self, req: Any) -> Any:
        parts = req.path.strip("/").split("/")
        kind = "/".join(p if n < 2 or len(p) < 30 else "*" for n, p in enumerate(parts[:4]))
        with self.lock:
            self.kinds[f"{req.method} /{kind}"] += 1
            self.times.append(time.time())
        return self.emulator.handle(req)

    def reset(self) -> None:
        with self.lock:
            self.kinds.clear()
            self.times.clear()


def wait_all_waiting(gateway: Any, ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with gateway.lock:
            left = sum(1 for i in ids if gateway.intents[i]["status"] != "WAITING")
        if not left:
            return
        time.sleep(0.5)
    raise SystemExit(f"{left} intents did not reach WAITING within {timeout:.0f} s")


def mirror(client: Any, ids: list[str]) -> None:
    """Events and approval threads into the mirror, through the same services the worker uses."""
    from django_axme.services.inbox import sync_inbox
    from django_axme.services.refresh import refresh_intents

    for start in range(0, len(ids), 200):
        refresh_intents(client, ids[start : start + 200])
    for _ in range(len(ids) // 1000 + 2):  # 2,000 threads at most per call
        if not sync_inbox(client, owner_agents=[OWNER]).threads.get(OWNER):
            break


def sample_connections(server: Any, stop: threading.Event, out: list[int]) -> None:
    while not stop.wait(1.0):
        with server._httpd.connections_lock:
            out.append(len(server._httpd.connections))


def run_ours(args: Any, emulator: Any, counted: Any, target: CountingTarget, ids: list[str],
             setup_client: Any, work: Path) -> dict[str, Any]:  # fmt: skip
    from django.db import connection

    from django_axme.models import Intent
    from django_axme.tasks import start_observing

    signals_path = work / "signals.txt"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTPROJECT)]),
        "AXME_BENCH_SIGNALS": str(signals_path),
        "AXME_BASE_URL": counted.url,
        "AXME_LOG_LEVEL": "WARNING",
    }
    log = open(work / "worker.log", "wb")  # noqa: SIM115
    target.reset()
    worker = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "testproject", "worker", "-B",
            "-s", str(work / "beat-schedule"), "-P", "threads", "-c", "4",
            "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=TESTPROJECT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    stop = threading.Event()
    conns: list[int] = []
    sampler = threading.Thread(target=sample_connections, args=(counted, stop, conns), daemon=True)
    sampler.start()
    approvals: dict[str, float] = {}
    try:
        time.sleep(3)
        started = time.time()
        start_observing(ids)
        connection.close()
        minute = 0
        end = started + args.minutes * 60
        while time.time() < end:
            time.sleep(min(5.0, max(0.0, end - time.time())))
            if time.time() - started >= 30 + 60 * minute and minute < args.minutes - 1:
                intent_id = ids[minute]
                setup_client.approve_inbox_thread(intent_id, {"comment": "ok"}, owner_agent=OWNER)
                approvals[intent_id] = time.time()
                minute += 1
        idle_count = Intent.objects.idle().count()
        connection.close()
    finally:
        stop.set()
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
    duration = time.time() - started
    with target.lock:
        times = list(target.times)
        kinds = dict(target.kinds)
    signals = read_signals(signals_path)
    latencies = []
    for intent_id, at in approvals.items():
        seen = [t for (i, _seq), t in signals.items() if i == intent_id and t >= at]
        latencies.append(min(seen) - at if seen else float("inf"))
    per_minute = [
        sum(1 for t in times if started + 60 * m <= t < started + 60 * (m + 1))
        for m in range(int(args.minutes))
    ]
    return {
        "requests": len(times),
        "duration": duration,
        "per_minute": per_minute,
        "kinds": kinds,
        "connections_peak": max(conns, default=0),
        "connections_median": pct(conns, 50) if conns else 0,
        "approval_latencies": latencies,
        "idle_at_end": idle_count,
    }


def run_baseline(args: Any, counted: Any, target: CountingTarget, ids: list[str],
                 work: Path) -> dict[str, Any]:  # fmt: skip
    ids_file = work / "baseline-ids.json"
    ids_file.write_text(json.dumps(ids))
    target.reset()
    stop = threading.Event()
    conns: list[int] = []
    sampler = threading.Thread(target=sample_connections, args=(counted, stop, conns), daemon=True)
    sampler.start()
    child = subprocess.Popen(
        [sys.executable, str(REPO / "benchmarks" / "observe.py"), "--baseline-child",
         counted.url, str(ids_file), str(work / "baseline-out.json")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None
    child.stdout.readline()  # READY
    started = time.time()
    time.sleep(args.baseline_seconds)
    child.kill()
    child.wait()
    stop.set()
    duration = time.time() - started
    with target.lock:
        requests = sum(1 for t in target.times if t >= started)
    return {
        "requests": requests,
        "duration": duration,
        "connections_peak": max(conns, default=0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--intents", type=int, default=10000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--quiet", type=float, default=60.0, help="OBSERVER_IDLE_AFTER_SECONDS")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--baseline-intents", type=int, default=1000)
    parser.add_argument("--baseline-seconds", type=float, default=60.0)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="axme-idle-"))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "benchmarks.idle_settings",
            "TESTPROJECT_VAR_DIR": str(work),
            "DATABASE_URL": args.database_url or f"sqlite:///{work / 'bench.sqlite3'}",
            "CELERY_BROKER_URL": args.broker_url,
            "AXME_API_KEY": API_KEY,
            "AXME_BENCH_AXME": json.dumps(
                {
                    "OBSERVER_BATCH_SIZE": 2000,
                    "OBSERVER_IDLE_AFTER_SECONDS": args.quiet,
                    "INBOX_OWNER_AGENTS": [OWNER],
                }
            ),
        }
    )
    sys.path[:0] = [str(TESTPROJECT)]
    import django

    django.setup()
    from django.db import connection

    from django_axme.client import AxmeClient, AxmeClientConfig
    from django_axme.emulator import ApprovalScript, Emulator, EmulatorServer

    fresh_state(args.broker_url)

    emulator = Emulator(
        api_key=API_KEY,
        agents={
            APPROVER: ApprovalScript(owner_agent=OWNER),
            OTHER_APPROVER: ApprovalScript(owner_agent=OTHER_OWNER),
        },
        webhooks=False,
    )
    target = CountingTarget(emulator)
    counted = EmulatorServer(target).start()
    setup = EmulatorServer(emulator).start()
    setup_client = AxmeClient(AxmeClientConfig(base_url=setup.url, api_key=API_KEY))

    def create(n: int, to_agent: str) -> list[str]:
        return [
            emulator.create_intent(
                {"intent_type": "intent.bench.idle.v1", "to_agent": to_agent, "payload": {"i": i}}
            )["intent_id"]
            for i in range(n)
        ]

    print(f"benchmark dir {work}; database {connection.vendor}; broker {args.broker_url}")
    t0 = time.time()
    ours = create(args.intents, APPROVER)
    theirs = create(args.baseline_intents, OTHER_APPROVER)
    wait_all_waiting(emulator.gateway, ours + theirs, timeout=600)
    print(f"{len(ours) + len(theirs)} intents WAITING for a human in {time.time() - t0:.0f} s")
    t0 = time.time()
    mirror(setup_client, ours)
    connection.close()
    print(f"mirrored {len(ours)} intents and their approvals in {time.time() - t0:.0f} s")
    time.sleep(max(0.0, args.quiet + 1 - (time.time() - t0)))

    print(f"ours: ONE worker follows {len(ours)} waiting intents for {args.minutes:g} min ...")
    result = run_ours(args, emulator, counted, target, ours, setup_client, work)
    base = None
    if theirs:
        print(f"baseline: SDK wait_for, {len(theirs)} threads, {args.baseline_seconds:g} s ...")
        base = run_baseline(args, counted, target, theirs, work)
    counted.stop()
    setup.stop()
    emulator.close()
    report(args, result, base)


def report(args: Any, ours: dict[str, Any], base: dict[str, Any] | None) -> None:
    n = args.intents
    rate = ours["requests"] / (ours["duration"] / 60.0)
    lat = ours["approval_latencies"]
    print()
    print(f"=== django-axme: {n} intents waiting for a human, ONE worker, "
          f"{ours['duration'] / 60:.1f} min ===")  # fmt: skip
    print(f"idle (off the live stream) at the end : {ours['idle_at_end']} of {n}")
    print(f"requests per minute, average          : {rate:8.1f}   (target <= 100)")
    print(f"requests per minute, each minute      : {ours['per_minute']}")
    print(f"gateway connections, peak / median    : {ours['connections_peak']} / "
          f"{ours['connections_median']}   (target <= 50)")  # fmt: skip
    print("requests by kind                      :")
    for kind, count in sorted(ours["kinds"].items(), key=lambda kv: -kv[1]):
        print(f"    {count:8d}  {kind}")
    if lat:
        print(f"approval given elsewhere -> signal    : {len(lat)} approvals, p50 "
              f"{pct(lat, 50):.1f} s, max {max(lat):.1f} s (inbox sync every 30 s)")  # fmt: skip
    if base:
        b_rate = base["requests"] / (base["duration"] / 60.0)
        per_intent = b_rate / args.baseline_intents
        print(f"--- baseline: official SDK wait_for, {args.baseline_intents} threads, "
              f"{base['duration']:.0f} s ---")  # fmt: skip
        print(
            f"requests per minute                   : {b_rate:8.1f} "
            f"({per_intent:.2f} per intent; {per_intent * n:,.0f} scaled to {n})"
        )
        print(
            f"gateway connections, peak             : {base['connections_peak']} "
            f"(scaled to {n}: {base['connections_peak'] * n / args.baseline_intents:,.0f})"
        )
        if rate:
            print(f"ratio, requests per minute (SDK scaled / ours): {per_intent * n / rate:8.1f}x")


if __name__ == "__main__":
    main()
