"""The SIGKILL run of ``benchmarks/scaleout.py``: K worker processes and a beat share the
intents, one worker is SIGKILLed mid-burst; measures the takeover and checks the outcome.

Checks, from the database and the emulator once the run is over:

- every intent's events are mirrored (the mirror's seqs equal the emulator's);
- every status transition the mirror's event log implies was signalled exactly once (the
  probe inserts a row per ``intent_status_changed`` inside the delivery transaction, so a
  kill can neither repeat nor lose one), and nothing else was signalled;
- takeover: from the kill until every open intent whose lease the dead worker held is leased
  again by a live observer (a lease claimed or renewed after the kill ends later than
  ``kill + OBSERVER_LEASE_SECONDS``). A dead worker's lease must expire before another
  observer may claim it, so the takeover takes the lease's remainder plus at most one reconcile
  period plus the new slice's start; both figures are printed.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _status_transitions(events: list[list[Any]]) -> list[tuple[int, str]]:
    """(seq, status) of each status change in an event log, as the mirror signals them."""
    previous, out = "CREATED", []
    for seq, status in events:
        if previous in {"COMPLETED", "FAILED", "CANCELED", "TIMED_OUT"}:
            break
        if status and status != previous:
            out.append((int(seq), status))
            previous = status
    return out


class KillRun:
    def __init__(
        self,
        args: Any,
        emu: Any,
        base_env: dict[str, str],
        workers_cls: Any,
        mirror: Any,
        enqueue: Any,
        table: str,
    ) -> None:
        self.args, self.emu, self.base_env = args, emu, base_env
        self.workers_cls, self.mirror, self.enqueue, self.table = (
            workers_cls,
            mirror,
            enqueue,
            table,
        )

    def _signals(self) -> list[tuple[float, str, int, str]]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(f"SELECT t, intent_id, seq, status FROM {self.table}")
            return [(float(t), i, int(s), st) for t, i, s, st in cursor.fetchall()]

    def _wait_signals(self, keys: set[tuple[str, int]], timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while True:
            seen = {(i, s): t for t, i, s, _st in self._signals()}
            if keys <= seen.keys():
                return max(seen[k] for k in keys)
            if time.monotonic() > deadline:
                raise SystemExit(f"{len(keys - seen.keys())} of {len(keys)} signals missing")
            time.sleep(0.2)

    def run(self) -> dict[str, Any]:
        from django.db import connection

        from django_axme.models import Intent

        args, emu = self.args, self.emu
        k, n, lease = args.kill_workers, args.intents, float(args.lease)
        work = Path(self.base_env["TESTPROJECT_VAR_DIR"])
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")
            cursor.execute(
                f"CREATE TABLE {self.table} (t double precision, intent_id text, seq int, "
                "status text, pid int)"
            )
        intents = emu.create(n)
        ids = [i["intent_id"] for i in intents]
        self.mirror(intents)
        tasks_log = work / "tasks-kill.txt"
        env = {
            **self.base_env,
            "AXME_BENCH_SIGNALS_TABLE": self.table,
            "AXME_BENCH_TASKS": str(tasks_log),
        }
        slots = max(1, -(-n // (k * 2000)))
        # Two spare slots per process: the reconcile sweep and the takeover slices.
        workers = self.workers_cls(work, env, "kill").start(k, slots + 2, beat=True)
        lines: list[str] = []
        try:
            self.enqueue(ids, k * slots, None)  # slices of one window: they move between workers
            deadline = time.monotonic() + args.catch_up_timeout
            while Intent.objects.filter(intent_id__in=ids, last_seq__lt=2).exists():
                if time.monotonic() > deadline:
                    raise SystemExit("kill run: the workers did not catch up")
                time.sleep(0.25)
            half = n // 2
            _f, _l, seqs = emu.move(ids[:half], "IN_PROGRESS")
            target = {(i, s) for i, s in seqs.items()}
            while len({(i, s) for _t, i, s, _st in self._signals()} & target) < half // 5:
                time.sleep(0.05)
            victim, held = self._victim(workers, tasks_log, ids)
            killed_at = time.time()
            workers.kill(victim)
            _f, _l, more = emu.move(ids[half:], "IN_PROGRESS")
            takeover, remainder = self._takeover(held, killed_at, lease)
            self._wait_signals(target | {(i, s) for i, s in more.items()}, 120 + 2 * lease)
            _f, _l, done = emu.move(ids, "COMPLETED")
            self._wait_signals({(i, s) for i, s in done.items()}, 120 + 2 * lease)
            lines += [
                f"killed pid {victim.pid} (of {k}) holding {len(held)} of {n} open intents, "
                f"mid-burst (a fifth of the first {half} transitions signalled)",
                f"lease remainder at the kill: {remainder:.1f} s "
                f"(OBSERVER_LEASE_SECONDS {lease:.0f}, reconcile every {args.reconcile:.0f} s)",
                f"takeover (all its intents leased by a live observer): {takeover:.1f} s "
                f"after the kill, {takeover - remainder:.1f} s after its lease ended "
                f"({'within' if takeover <= lease else 'OVER'} the lease time; "
                "the sweep schedules the successor at the lease's end)",
            ]
            lines += self._verify(ids)
            lines.append(self._hops(tasks_log))
        finally:
            workers.stop()
        return {"intents": n, "workers": k, "lines": lines}

    def _hops(self, tasks_log: Path) -> str:
        """How often a token's next slice ran in another process than its previous one (its
        streams then reconnect there)."""
        pids: dict[str, list[int]] = {}
        for line in tasks_log.read_text().splitlines():
            _t, pid, token, _count = line.split()
            if token != "-":
                pids.setdefault(token, []).append(int(pid))
        slices = sum(len(p) for p in pids.values())
        hops = sum(a != b for p in pids.values() for a, b in itertools.pairwise(p))
        return f"observer slices: {slices}, of which {hops} moved to another process"

    def _victim(self, workers: Any, tasks_log: Path, ids: list[str]) -> tuple[Any, set[str]]:
        """The worker process whose observers hold the most leases right now, and those."""
        from django_axme.models import Intent

        owner: dict[str, int] = {}
        for line in tasks_log.read_text().splitlines():
            _t, pid, token, _count = line.split()
            owner[token] = int(pid)  # the latest slice of each token
        rows = Intent.objects.filter(intent_id__in=ids).exclude(observer_token="")
        by_pid: dict[int, set[str]] = {}
        for intent_id, token in rows.values_list("intent_id", "observer_token"):
            if token in owner:
                by_pid.setdefault(owner[token], set()).add(intent_id)
        live = {p.pid: p for p in workers.procs if p.poll() is None}
        pid = max((p for p in by_pid if p in live), key=lambda p: len(by_pid[p]))
        return live[pid], by_pid[pid]

    def _takeover(self, held: set[str], killed_at: float, lease: float) -> tuple[float, float]:
        """Seconds from the kill until every still-open intent of ``held`` has a lease claimed
        or renewed after the kill; and the longest lease remainder those intents had."""
        from django_axme.models import TERMINAL_STATUSES, Intent

        killed = datetime.fromtimestamp(killed_at, UTC)
        rows = Intent.objects.filter(intent_id__in=list(held))
        untils = rows.values_list("observer_lease_until", flat=True)
        remainder = max(((u - killed).total_seconds() for u in untils if u), default=0.0)
        after = datetime.fromtimestamp(killed_at + lease + 0.05, UTC)
        deadline = time.monotonic() + 3 * lease + 120
        while time.monotonic() < deadline:
            waiting = (
                rows.exclude(status__in=TERMINAL_STATUSES)
                .exclude(observer_lease_until__gt=after)
                .count()
            )
            if not waiting:
                return time.time() - killed_at, remainder
            time.sleep(0.1)
        raise SystemExit("kill run: the dead worker's intents were not taken over")

    def _verify(self, ids: list[str]) -> list[str]:
        from django_axme.models import IntentEvent

        remote = self.emu.events(ids)
        mirrored: dict[str, list[int]] = {}
        for intent_id, seq in IntentEvent.objects.filter(intent__intent_id__in=ids).values_list(
            "intent__intent_id", "seq"
        ):
            mirrored.setdefault(intent_id, []).append(seq)
        lost = [i for i in ids if sorted(mirrored.get(i, [])) != [e[0] for e in remote[i]]]
        signals = Counter((i, s, st) for _t, i, s, st in self._signals())
        twice = {key: c for key, c in signals.items() if c > 1}
        expected = {(i, s, st) for i in ids for s, st in _status_transitions(remote[i])}
        missing = expected - set(signals)
        unexpected = set(signals) - expected
        ok = not (lost or twice or missing or unexpected)
        return [
            f"events mirrored: {len(ids) - len(lost)}/{len(ids)} intents complete",
            f"transitions signalled: {len(expected) - len(missing)}/{len(expected)}, "
            f"twice: {len(twice)}, unexpected: {len(unexpected)}",
            f"checks: {'PASSED' if ok else 'FAILED'}",
        ]
