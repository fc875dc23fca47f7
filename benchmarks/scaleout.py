"""Benchmark: 1, 2 and 4 Celery worker PROCESSES sharing the same open intents.

Run from the repository root (PostgreSQL and Redis; the lock keeps benchmarks apart)::

    flock /tmp/axme-bench.lock .venv/bin/python benchmarks/scaleout.py --intents 2000 \\
        --workers 1,2,4 --kill \\
        --broker-url redis://127.0.0.1:6379/9 \\
        --database-url postgres://postgres@127.0.0.1:5432/axme_bench

For each worker count K (in one run, ``--repeats`` times, counts interleaved):

1. the emulator (in a process of its own by default, ``--emulator inproc`` to keep it here)
   creates N fresh intents; they are mirrored (the database is emptied first);
2. K worker processes start (``celery -A testproject worker -P threads -c M``, one reserved
   message per slot), then K*M ``observe_many`` tasks of N/(K*M) intents each are enqueued:
   the Celery queue hands M to each process, and the leases keep one observer per intent;
3. once the workers have caught up with the intents' first events, the burst: every intent
   moves to DELIVERED at once; the rate is N events over the time from the first emit to the
   last ``intent_status_changed`` in a worker (the emulator's own emitting time included). The
   CPU time each process spent in the burst (workers, emulator, this process, the PostgreSQL
   backends of the run's database) is printed with it, and the rate the burst would reach if
   that CPU were spread perfectly over the machine's cores: on a small machine that ceiling,
   not the workers, is what bounds the ratios. ``--py-spy PATH`` samples each worker during
   the burst (raw stacks in the run's directory).

``--kill`` adds a run with ``--kill-workers`` processes and a beat process (reconcile sweep
every ``--reconcile`` s): half the intents move to IN_PROGRESS, one worker is SIGKILLed once a
fifth of those are signalled, the other half moves, then all complete. It reports the
takeover time (from the kill until every open intent the dead worker followed is leased by a
live observer again) beside ``OBSERVER_LEASE_SECONDS`` and checks that every event is mirrored
and every transition signalled exactly once (signals counted by a receiver that writes in the
delivery transaction).
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
import time
import uuid
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]

from benchmarks.observe import API_KEY, REPO, TESTPROJECT, read_signals  # noqa: E402
from benchmarks.scaleout_checks import KillRun  # noqa: E402
from benchmarks.scaleout_emulator import EmulatorProcess, emulator_child  # noqa: E402

SIGNALS_TABLE = "axme_bench_signals"


class Workers:
    """K ``celery worker`` processes (each in its own process group) and an optional beat."""

    def __init__(self, work: Path, env: dict[str, str], tag: str) -> None:
        self.work, self.env, self.tag = work, env, tag
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self, count: int, concurrency: int, *, beat: bool = False) -> Workers:
        for n in range(count):
            log = self.work / f"worker-{self.tag}-{n}.log"
            self.logs.append(log)
            cmd = [
                sys.executable, "-m", "celery", "-A", "testproject", "worker",
                "-P", "threads", "-c", str(concurrency), "-n", f"so{self.tag}-{n}@%h",
                "--loglevel", "INFO", "--without-gossip", "--without-mingle",
                "--without-heartbeat",
            ]  # fmt: skip
            self.procs.append(self._spawn(cmd, log))
        if beat:
            cmd = [sys.executable, "-m", "celery", "-A", "testproject", "beat", "--loglevel",
                   "WARNING", "-s", str(self.work / f"beat-{self.tag}")]  # fmt: skip
            self.beat = self._spawn(cmd, self.work / f"beat-{self.tag}.log")
        deadline = time.monotonic() + 90
        for proc, log in zip(self.procs, self.logs, strict=True):
            while b" ready." not in log.read_bytes():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"worker did not start, see {log}")
                time.sleep(0.2)
        return self

    def _spawn(self, cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "wb") as out:
            return subprocess.Popen(
                cmd, cwd=TESTPROJECT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        os.killpg(proc.pid, 9)
        proc.wait(10)

    def stop(self) -> None:
        """Cold stop: the run's state is discarded (an observer slice would keep a warm
        shutdown waiting for its end)."""
        procs = [*self.procs, *([self.beat] if hasattr(self, "beat") else [])]
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
        for proc in procs:
            proc.wait(10)


def reset_stores(broker_url: str) -> None:
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor == "postgresql":
        call_command("flush", interactive=False, verbosity=0)
    if broker_url.startswith("redis://"):
        import redis

        redis.Redis.from_url(broker_url).flushdb()


def mirror(intents: list[dict[str, Any]]) -> None:
    """Mirror the intents without their events (the workers catch up from seq 0)."""
    from django.db import connection

    from django_axme import sync

    for snapshot in intents:
        sync.ingest_intent(snapshot)
    connection.close()


def enqueue(ids: list[str], tasks: int, slice_seconds: float | None) -> list[str]:
    """``tasks`` observe_many messages over ``ids`` (lease tokens chosen here, for the report)."""
    from django_axme.tasks import observe_many

    size = -(-len(ids) // tasks)
    tokens = []
    for start in range(0, len(ids), size):
        token = uuid.uuid4().hex
        tokens.append(token)
        kwargs = {"lease_token": token, "slice_seconds": slice_seconds}
        observe_many.apply_async(args=(ids[start : start + size],), kwargs=kwargs)
    return tokens


def wait_caught_up(ids: list[str], workers: Workers, timeout: float) -> float:
    from django_axme.models import Intent

    started = time.time()
    deadline = time.monotonic() + timeout
    while Intent.objects.filter(intent_id__in=ids, last_seq__lt=2).exists():
        if time.monotonic() > deadline or any(p.poll() is not None for p in workers.procs):
            behind = Intent.objects.filter(intent_id__in=ids, last_seq__lt=2).count()
            raise SystemExit(
                f"{behind} of {len(ids)} intents not caught up after {timeout:.0f} s "
                f"(see {workers.logs[0]})"
            )
        time.sleep(0.25)
    return time.time() - started


def wait_file_signals(path: Path, keys: set[tuple[str, int]], timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = read_signals(path)
        if keys <= seen.keys():
            return max(seen[k] for k in keys)
        time.sleep(0.1)
    missing = len(keys - read_signals(path).keys())
    raise SystemExit(f"{missing} of {len(keys)} signals missing after {timeout:.0f} s")


def task_spread(path: Path) -> dict[int, int]:
    """Intents per worker pid, from the probe's task log (each token's latest slice)."""
    latest: dict[str, tuple[int, int]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            _t, pid, token, count = line.split()
            latest[token] = (int(pid), int(count))
    spread: dict[int, int] = {}
    for pid, count in latest.values():
        spread[pid] = spread.get(pid, 0) + count
    return spread


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def postgres_cpu(database: str) -> float:
    """CPU seconds so far of the PostgreSQL backends connected to ``database``."""
    backends = 0.0
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"postgres: ") and f" {database} ".encode() in cmdline:
                backends += cpu_seconds(int(proc.name))
    return backends


def cpu_snapshot(workers: Workers, emu: EmulatorProcess, database: str) -> dict[str, float]:
    """CPU seconds so far: the worker processes, the emulator process, this process, and the
    PostgreSQL backends connected to the benchmark's database."""
    backends = postgres_cpu(database)
    return {
        "workers": sum(cpu_seconds(p.pid) for p in workers.procs),
        "emulator": cpu_seconds(emu.pid) if emu.pid else 0.0,
        "benchmark": cpu_seconds(os.getpid()),
        "postgres": backends,
    }


def slots_for(n: int, k: int) -> int:
    """observe_many tasks per worker process: OBSERVER_BATCH_SIZE caps a task at 2,000."""
    return max(1, -(-n // (k * 2000)))


def burst_phase(
    args: Any, emu: EmulatorProcess, base_env: dict[str, str], k: int, rep: int
) -> dict[str, Any]:
    tag = f"k{k}r{rep}"
    work = Path(base_env["TESTPROJECT_VAR_DIR"])
    reset_stores(args.broker_url)
    intents = emu.create(args.intents)
    ids = [i["intent_id"] for i in intents]
    mirror(intents)
    signals = work / f"signals-{tag}.txt"
    tasks_log = work / f"tasks-{tag}.txt"
    env = {**base_env, "AXME_BENCH_SIGNALS": str(signals), "AXME_BENCH_TASKS": str(tasks_log)}
    m = slots_for(args.intents, k)
    workers = Workers(work, env, tag).start(k, m)
    try:
        enqueue(ids, k * m, args.slice)
        catch_up = wait_caught_up(ids, workers, args.catch_up_timeout)
        database = args.database_url.rsplit("/", 1)[-1]
        spies = [
            subprocess.Popen(
                [
                    args.py_spy,
                    "record",
                    "-p",
                    str(p.pid),
                    "--nonblocking",
                    "-r",
                    "200",
                    "-d",
                    "4",
                    "--format",
                    "raw",
                    "-o",
                    str(work / f"profile-{tag}-{n}.txt"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for n, p in enumerate(workers.procs if args.py_spy else [])
        ]
        time.sleep(0.5 if spies else 0)
        cpu_before = cpu_snapshot(workers, emu, database)
        first, emitted, seqs = emu.move(ids, "DELIVERED")
        last = wait_file_signals(signals, {(i, s) for i, s in seqs.items()}, 300)
        cpu = cpu_snapshot(workers, emu, database)
        spread = task_spread(tasks_log)
        for spy in spies:  # py-spy may lag behind a process with thousands of threads
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait(5)
    finally:
        workers.stop()
    rate = len(ids) / max(1e-6, last - first)
    cpu = {name: cpu[name] - cpu_before[name] for name in cpu}
    print(f"  K={k} rep {rep}: catch-up {catch_up:5.1f} s, burst {rate:8.1f} events/s "
          f"({len(ids)} in {last - first:.2f} s, emitted in {emitted - first:.2f} s); "
          f"intents per process {sorted(spread.values(), reverse=True)}; CPU s in the burst: "
          + ", ".join(f"{name} {value:.2f}" for name, value in cpu.items()),
          flush=True)  # fmt: skip
    return {"k": k, "rate": rate, "catch_up": catch_up, "spread": spread, "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--intents", type=int, default=2000)
    parser.add_argument("--workers", default="1,2,4", help="worker counts (default 1,2,4)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--broker-url", default=os.environ.get("CELERY_BROKER_URL"))
    parser.add_argument("--emulator", choices=("process", "inproc"), default="process")
    parser.add_argument("--window", type=int, default=25, help="OBSERVE_WINDOW_SECONDS")
    parser.add_argument("--lease", type=float, default=30.0, help="OBSERVER_LEASE_SECONDS")
    parser.add_argument("--slice", type=float, default=600.0, help="slice of the burst runs, s")
    parser.add_argument("--catch-up-timeout", type=float, default=300.0)
    parser.add_argument("--kill", action="store_true", help="add the SIGKILL run")
    parser.add_argument("--kill-workers", type=int, default=2)
    parser.add_argument("--reconcile", type=float, default=5.0, help="beat reconcile period, s")
    parser.add_argument(
        "--py-spy", metavar="PATH", help="py-spy binary: profile each worker during the burst"
    )
    parser.add_argument("--skip-bursts", action="store_true", help="only the --kill run")
    parser.add_argument("--emulator-child", nargs=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.emulator_child:
        emulator_child(args.emulator_child[0])
        return
    if not (args.database_url or "").startswith(("postgres://", "postgresql://")):
        parser.error("--database-url must point at PostgreSQL (several processes write)")
    if not (args.broker_url or "").startswith("redis://"):
        parser.error("--broker-url must be a Redis URL")
    counts = [int(c) for c in args.workers.split(",") if c]
    # A timeout's SIGTERM unwinds like an exception, so the worker processes are stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    work = Path(tempfile.mkdtemp(prefix="axme-scaleout-"))
    axme = {
        "OBSERVER_BATCH_SIZE": 2000,
        "OBSERVE_WINDOW_SECONDS": args.window,
        "OBSERVER_LEASE_SECONDS": args.lease,
        "RECONCILE_AFTER_SECONDS": 3600,
    }
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "benchmarks.scaleout_settings",
            "TESTPROJECT_VAR_DIR": str(work),
            "DATABASE_URL": args.database_url,
            "CELERY_BROKER_URL": args.broker_url,
            "AXME_API_KEY": API_KEY,
            "AXME_BENCH_AXME": json.dumps(axme),
            "AXME_BENCH_RECONCILE_SECONDS": str(args.reconcile),
        }
    )
    sys.path[:0] = [str(TESTPROJECT)]
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    emu = EmulatorProcess(API_KEY, inproc=args.emulator == "inproc", work=work)
    os.environ["AXME_BASE_URL"] = emu.url
    base_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTPROJECT)]),
        "AXME_LOG_LEVEL": "WARNING",
    }
    print(f"benchmark dir {work}; {args.intents} intents; emulator {args.emulator} at {emu.url}")
    results: list[dict[str, Any]] = []
    kill: dict[str, Any] | None = None
    try:
        if not args.skip_bursts:
            for rep in range(args.repeats):
                order = counts if rep % 2 == 0 else counts[::-1]
                for k in order:
                    try:
                        results.append(burst_phase(args, emu, base_env, k, rep))
                    except SystemExit as exc:  # reported, and the other counts still run
                        print(f"  K={k} rep {rep}: FAILED: {exc}", flush=True)
                        results.append({"k": k, "error": str(exc)})
        if args.kill:
            reset_stores(args.broker_url)
            kill = KillRun(args, emu, base_env, Workers, mirror, enqueue, SIGNALS_TABLE).run()
    finally:
        emu.close()
    report(args, counts, results, kill)


def report(
    args: Any, counts: list[int], results: list[dict[str, Any]], kill: dict[str, Any] | None
) -> None:
    print()
    if results:
        print(f"=== burst ingest, {args.intents} intents shared by K worker processes "
              f"(-P threads), medians of {args.repeats} ===")  # fmt: skip
        cores = os.cpu_count() or 1
        medians: dict[int, float] = {}
        for k in counts:
            runs = [r for r in results if r["k"] == k and "rate" in r]
            if not runs:
                print(f"K={k}: no run completed ({results[-1].get('error', '')})")
                continue
            medians[k] = statistics.median(r["rate"] for r in runs)
            cpu = {n: statistics.median(r["cpu"][n] for r in runs) for n in runs[0]["cpu"]}
            total = sum(cpu.values())
            ceiling = args.intents / (total / cores)
            one = medians.get(1)
            ratio = f", {medians[k] / one:4.2f}x one process" if one else ""
            print(f"K={k}: {medians[k]:7.1f} events/s{ratio} (runs: "
                  + ", ".join(f"{r['rate']:.0f}" for r in runs) + ")")  # fmt: skip
            print(f"     CPU per event: workers {1e3 * cpu['workers'] / args.intents:.2f} ms, "
                  f"all processes {1e3 * total / args.intents:.2f} ms; if the burst's CPU "
                  f"were spread perfectly over the {cores} cores: {ceiling:.0f} events/s "
                  f"(reached {medians[k] / ceiling:.0%})")  # fmt: skip
        one = medians.get(1)
        if one and 2 in medians:
            met = medians[2] / one >= 1.6
            print(f"target (2 processes >= 1.6x one): {'MET' if met else 'NOT MET'} "
                  f"({medians[2] / one:.2f}x)")  # fmt: skip
    if kill:
        print()
        print(f"=== SIGKILL run: {kill['intents']} intents, {kill['workers']} worker processes ===")
        for line in kill["lines"]:
            print(line)


if __name__ == "__main__":
    main()
