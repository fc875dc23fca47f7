"""Benchmark: N open intents observed by ONE Celery worker process, against the emulator.

Run from the repository root::

    .venv/bin/python benchmarks/observe.py --intents 1000 \
        --broker-url redis://127.0.0.1:6379/7 \
        --database-url postgres://postgres@127.0.0.1:5432/axme_bench

What it does, in one run:

1. starts the emulator's HTTP server in this process and creates N intents (plus N more for
   the baseline), mirrors them, and starts ONE worker process
   (``celery -A testproject worker -P threads``) that observes all N with ``observe_many``
   (one reader thread per stream, one writer);
2. warm-up/burst: moves every intent to DELIVERED at once and measures how fast the worker
   ingests the N events (events/s, from the first emit to the last signal);
3. paced phase: gives each intent IN_PROGRESS, WAITING, IN_PROGRESS, COMPLETED at random
   times within ``--spread`` seconds and measures, for each event, the latency from the
   emulator emitting it to ``intent_status_changed`` firing in the worker (p50/p99/max),
   while sampling the worker's RSS;
4. baseline: the official SDK (``axme``) ``wait_for`` with one thread per intent, in a
   separate process, over the same paced schedule on the other N intents (terminal-event
   latency, since ``wait_for`` only returns the terminal event; RSS of that process);
5. prints the figures and the ratios.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import random
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
AGENT = "agent://bench/idle"


# -- helpers ---------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


class RssSampler(threading.Thread):
    def __init__(self, pid: int, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.peak = pid, every, 0.0
        self.samples: list[float] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            value = rss_mb(self.pid)
            if value:
                self.samples.append(value)
                self.peak = max(self.peak, value)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100.0 * (len(ordered) - 1))))
    return ordered[index]


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def fresh_state(broker_url: str) -> None:
    """Start a run from nothing: an emptied (PostgreSQL) or new (SQLite) database, migrated,
    and an emptied Redis broker database. Django must be set up."""
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor == "postgresql":
        call_command("flush", interactive=False, verbosity=0)
    call_command("migrate", verbosity=0)
    if broker_url.startswith("redis://"):
        import redis

        redis.Redis.from_url(broker_url).flushdb()


# -- baseline child (the official SDK, one thread per intent) --------------------------------


def baseline_child(url: str, ids_file: str, out_file: str) -> None:
    import httpx
    from axme import AxmeClient, AxmeClientConfig

    ids = json.loads(Path(ids_file).read_text())
    client = AxmeClient(AxmeClientConfig(base_url=url, api_key=API_KEY))
    # Give the SDK's httpx pool one connection per intent so the baseline is not starved.
    old = client._http
    client._http = httpx.Client(
        base_url=url,
        timeout=old.timeout,
        headers=old.headers,
        limits=httpx.Limits(max_connections=len(ids) + 10, max_keepalive_connections=len(ids) + 10),
    )
    old.close()
    lock = threading.Lock()
    results: list[tuple[float, str, int, str]] = []

    def wait(intent_id: str) -> None:
        try:
            event = client.wait_for(intent_id, wait_seconds=15, timeout_seconds=600)
            with lock:
                results.append((time.time(), intent_id, int(event["seq"]), event["status"]))
        except Exception as exc:  # pragma: no cover - reported by the parent
            print(f"baseline wait_for({intent_id}) failed: {exc}", file=sys.stderr, flush=True)

    threads = [threading.Thread(target=wait, args=(i,), daemon=True) for i in ids]
    for t in threads:
        t.start()
    print("READY", flush=True)
    for t in threads:
        t.join()
    Path(out_file).write_text(json.dumps(results))


# -- the run ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--intents", type=int, default=1000, help="open intents (default 1000)")
    parser.add_argument(
        "--spread",
        type=float,
        default=120.0,
        help="paced phase length in seconds (4 events per intent; default 120)",
    )
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument(
        "--broker-url",
        default=os.environ.get("CELERY_BROKER_URL", "filesystem://"),
        help="Celery broker (default: the no-server filesystem broker)",
    )
    parser.add_argument("--window", type=int, default=25, help="OBSERVE_WINDOW_SECONDS")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_child:
        baseline_child(*args.baseline_child)
        return
    if args.intents < 1:
        parser.error("--intents must be at least 1")
    random.seed(args.seed)

    work = Path(tempfile.mkdtemp(prefix="axme-bench-"))
    signals_path = work / "signals.txt"
    db_url = args.database_url or f"sqlite:///{work / 'bench.sqlite3'}"
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "benchmarks.bench_settings",
            "TESTPROJECT_VAR_DIR": str(work),
            "DATABASE_URL": db_url,
            "CELERY_BROKER_URL": args.broker_url,
            "AXME_API_KEY": API_KEY,
        }
    )
    # OBSERVER_BATCH_SIZE is capped at 2,000 intents per observe_many task: more intents are
    # several tasks, each one worker thread (see the worker's -c below).
    batch_size = min(args.intents, 2000)
    axme_overrides = {
        "OBSERVER_BATCH_SIZE": batch_size,
        "OBSERVE_WINDOW_SECONDS": args.window,
        "OBSERVER_LEASE_SECONDS": max(90, 3 * args.window),
    }
    os.environ["AXME_BENCH_AXME"] = json.dumps(axme_overrides)
    sys.path[:0] = [str(REPO), str(TESTPROJECT)]

    import django

    django.setup()
    from django.db import connection

    from django_axme import sync
    from django_axme.emulator import Emulator, EmulatorServer
    from django_axme.tasks import observe_many

    fresh_state(args.broker_url)

    emulator = Emulator(api_key=API_KEY)
    server = EmulatorServer(emulator).start()
    os.environ["AXME_BASE_URL"] = server.url
    gateway = emulator.gateway
    emitted: dict[tuple[str, int], float] = {}

    def on_event(kind: str, data: dict[str, Any]) -> None:
        if kind == "intent.event":
            emitted[(data["intent_id"], int(data["event"]["seq"]))] = time.time()

    gateway.add_listener(on_event)

    def create(n: int) -> list[str]:
        ids = []
        for i in range(n):
            answer = emulator.create_intent(
                {"intent_type": "intent.bench.observe.v1", "to_agent": AGENT, "payload": {"i": i}}
            )
            ids.append(answer["intent_id"])
        return ids

    print(f"benchmark dir {work}; database {connection.vendor}; broker {args.broker_url}")
    extra = "" if args.skip_baseline else f" (+{args.intents} for the baseline)"
    print(f"creating {args.intents} intents{extra} ...", flush=True)
    ours = create(args.intents)
    theirs = [] if args.skip_baseline else create(args.intents)
    for intent_id in ours:  # mirrored without events: the worker catches up from seq 0
        sync.ingest_intent(gateway.get_intent(intent_id))
    connection.close()

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTPROJECT)]),
        "AXME_BENCH_SIGNALS": str(signals_path),
        "AXME_LOG_LEVEL": "WARNING",
    }
    log = open(work / "worker.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "testproject", "worker",
            "-P", "threads", "-c", str(max(4, -(-args.intents // 2000) + 1)),
            "--loglevel", "WARNING",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ],
        cwd=TESTPROJECT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    sampler = RssSampler(worker.pid)
    sampler.start()
    try:
        time.sleep(3)
        observe_many.apply_async(args=(ours,))
        results = run_ours(args, gateway, emulator, ours, emitted, signals_path, worker)
        results["rss_peak"] = sampler.peak
        results["rss_idle"] = sampler.samples[0] if sampler.samples else 0.0
    finally:
        sampler.stopped.set()
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
    base = (
        None if args.skip_baseline else run_baseline(args, server, emulator, theirs, emitted, work)
    )
    server.stop()
    emulator.close()
    report(args, results, base)


def drive(emulator: Any, schedule: list[tuple[float, str, int]]) -> None:
    """Emit the scheduled transitions at their times (step 0..3 = IN_PROGRESS, WAITING,
    IN_PROGRESS, COMPLETED)."""
    heapq.heapify(schedule)
    start = time.monotonic()
    while schedule:
        at, intent_id, step = heapq.heappop(schedule)
        delay = start + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if step == 0 or step == 2:
            emulator.transition(intent_id, "IN_PROGRESS")
        elif step == 1:
            emulator.transition(intent_id, "WAITING", waiting_reason="WAITING_FOR_TOOL")
        else:
            emulator.resolve(intent_id, "COMPLETED", result={"ok": True})


def paced_schedule(ids: list[str], spread: float) -> list[tuple[float, str, int]]:
    schedule = []
    for intent_id in ids:
        times = sorted(random.uniform(0.0, spread) for _ in range(4))
        schedule.extend((t, intent_id, step) for step, t in enumerate(times))
    return schedule


def read_signals(path: Path) -> dict[tuple[str, int], float]:
    out: dict[tuple[str, int], float] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            t, intent_id, seq, _status = line.split()
            out.setdefault((intent_id, int(seq)), float(t))
    return out


def wait_signals(path: Path, keys: set[tuple[str, int]], timeout: float, worker: Any) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = read_signals(path)
        if keys <= seen.keys():
            return max(seen[k] for k in keys)
        if worker.poll() is not None:
            raise SystemExit(f"worker exited with {worker.returncode}")
        time.sleep(0.25)
    missing = len(keys - read_signals(path).keys())
    raise SystemExit(f"{missing} of {len(keys)} signals missing after {timeout} s")


def run_ours(
    args: Any,
    gateway: Any,
    emulator: Any,
    ids: list[str],
    emitted: dict[tuple[str, int], float],
    signals_path: Path,
    worker: Any,
) -> dict[str, Any]:
    from django_axme.models import Intent

    n = len(ids)
    started = time.time()
    deadline = time.monotonic() + 300
    while Intent.objects.filter(intent_id__in=ids, last_seq__lt=2).exists():
        if time.monotonic() > deadline or worker.poll() is not None:
            raise SystemExit("worker did not catch up with the initial events (see worker.log)")
        time.sleep(0.5)
    catch_up = time.time() - started
    print(f"catch-up: {2 * n} initial events mirrored in {catch_up:.1f} s", flush=True)
    print(f"burst: {n} events at once ...", flush=True)
    first = time.time()
    for intent_id in ids:
        emulator.transition(intent_id, "DELIVERED")
    burst_keys = {(i, int(gateway.events(i)[-1]["seq"])) for i in ids}
    last = wait_signals(signals_path, burst_keys, 120, worker)
    burst_rate = n / max(1e-6, last - first)
    print(f"paced: {4 * n} events over {args.spread:.0f} s ...", flush=True)
    before = set(emitted)
    drive(emulator, paced_schedule(ids, args.spread))
    paced_keys = set(emitted) - before
    wait_signals(signals_path, paced_keys, 120 + args.spread, worker)
    seen = read_signals(signals_path)
    latencies = [seen[k] - emitted[k] for k in paced_keys]
    series = sorted((emitted[k], seen[k] - emitted[k]) for k in paced_keys)
    (signals_path.parent / "latency-series.json").write_text(json.dumps(series))
    terminal = {(i, int(gateway.events(i)[-1]["seq"])) for i in ids}
    terminal_lat = [seen[k] - emitted[k] for k in terminal]
    return {
        "catch_up": catch_up,
        "burst_rate": burst_rate,
        "burst_seconds": last - first,
        "paced_rate": len(paced_keys) / args.spread,
        "lat": latencies,
        "terminal_lat": terminal_lat,
    }


def run_baseline(
    args: Any,
    server: Any,
    emulator: Any,
    ids: list[str],
    emitted: dict[tuple[str, int], float],
    work: Path,
) -> dict[str, Any]:
    ids_file, out_file = work / "baseline-ids.json", work / "baseline-out.json"
    ids_file.write_text(json.dumps(ids))
    for intent_id in ids:
        emulator.transition(intent_id, "DELIVERED")
    print(f"baseline: SDK wait_for, {len(ids)} threads ...", flush=True)
    child = subprocess.Popen(
        [sys.executable, __file__, "--baseline-child", server.url, str(ids_file), str(out_file)],
        stdout=subprocess.PIPE,
        text=True,
    )
    sampler = RssSampler(child.pid)
    sampler.start()
    assert child.stdout is not None
    child.stdout.readline()  # READY
    time.sleep(min(10.0, 2.0 + len(ids) / 250))
    drive(emulator, paced_schedule(ids, args.spread))
    child.wait(180)
    sampler.stopped.set()
    results = json.loads(out_file.read_text())
    terminal_lat = [t - emitted[(i, seq)] for t, i, seq, _status in results]
    return {"terminal_lat": terminal_lat, "rss_peak": sampler.peak, "returned": len(results)}


def report(args: Any, ours: dict[str, Any], base: dict[str, Any] | None) -> None:
    n = args.intents
    lat, term = ours["lat"], ours["terminal_lat"]
    print()
    print(f"=== django-axme observe_many: {n} open intents, ONE worker process (-P threads) ===")
    print(f"burst ingest        : {ours['burst_rate']:8.1f} events/s ({n} events in "
          f"{ours['burst_seconds']:.2f} s)")  # fmt: skip
    print(f"paced load          : {ours['paced_rate']:8.1f} events/s offered, all ingested")
    print(f"latency, all events : p50 {fmt_ms(pct(lat, 50))}  p99 {fmt_ms(pct(lat, 99))}  "
          f"max {fmt_ms(max(lat))}  (n={len(lat)})")  # fmt: skip
    print(f"latency, terminal   : p50 {fmt_ms(pct(term, 50))}  p99 {fmt_ms(pct(term, 99))}")
    print(f"worker RSS          : peak {ours['rss_peak']:.0f} MiB (first sample "
          f"{ours['rss_idle']:.0f} MiB)")  # fmt: skip
    target = pct(lat, 99) < 1.0 and ours["rss_peak"] < 300
    print(f"target (p99 < 1 s, RSS < 300 MiB): {'MET' if target else 'NOT MET'}")
    if base is None:
        return
    bt = base["terminal_lat"]
    print()
    print(f"=== baseline: official SDK wait_for, one thread per intent ({n} threads) ===")
    print(f"returned            : {base['returned']}/{n}")
    print(f"latency, terminal   : p50 {fmt_ms(pct(bt, 50))}  p99 {fmt_ms(pct(bt, 99))}")
    print(f"process RSS         : peak {base['rss_peak']:.0f} MiB")
    print()
    print("=== ratios (django-axme / baseline) ===")
    print(f"terminal latency p50: {pct(term, 50) / max(1e-9, pct(bt, 50)):.2f}x   "
          f"p99: {pct(term, 99) / max(1e-9, pct(bt, 99)):.2f}x")  # fmt: skip
    print(f"RSS                 : {ours['rss_peak'] / max(1e-9, base['rss_peak']):.2f}x "
          "(ours also carries Django, Celery and the database writer)")  # fmt: skip


if __name__ == "__main__":
    main()
