"""Benchmark: the one writer's throughput (events/s), against a raw insert of the same rows.

Run from the repository root (PostgreSQL is the database the targets are about)::

    .venv/bin/python benchmarks/ingest.py \
        --database-url postgres://postgres@127.0.0.1:5432/axme_bench

Modes, each measured ``--rounds`` times on fresh intents (medians printed), same run:

- ``raw``: ``IntentEvent.objects.bulk_create`` of the rows the writer would store for
  ``--events`` events across ``--intents`` mirrored intents (the rows are built before the
  clock starts; no status update, no signal): the baseline, 100%;
- ``batch``: ``sync.ingest_batch`` over the same shape of events, one call;
- ``per-intent``: ``sync.ingest_events`` once per intent with its events;
- ``per-event``: ``sync.ingest_events`` once per event, as a stream delivers them
  (``--per-event-events`` events, fewer because it is slow).

Every event is a status transition (IN_PROGRESS and WAITING alternate), so each writer mode
also records its signals in the outbox and delivers them after commit. By default no receiver
is connected (the writer's own cost: the test project's receivers are disconnected);
``--with-receivers`` keeps the test project's receivers (one query each per status change,
in its own savepoint), which is the application's cost on top. Targets (issue 14):
``batch`` >= 30% of ``raw``; ``per-event`` >= 2x the rate measured on the code before the
batched writer (run this script's ``--modes raw,per-intent,per-event`` on a checkout of it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MODES = ("raw", "batch", "per-intent", "per-event")


def _history(intent_id: str, n: int) -> list[dict[str, Any]]:
    out = []
    for seq in range(1, n + 1):
        waiting = seq % 2 == 0
        out.append(
            {
                "intent_id": intent_id,
                "seq": seq,
                "event_type": "intent.waiting" if waiting else "intent.in_progress",
                "status": "WAITING" if waiting else "IN_PROGRESS",
                "waiting_reason": "WAITING_FOR_TOOL" if waiting else None,
                "actor": "agent://bench/worker",
                "at": "2026-01-01T00:00:00Z",
                "details": {"step": seq},
            }
        )
    return out


def _intents(count: int) -> list[str]:
    """``count`` mirrored intents (created through the writer, as an observer finds them)."""
    from django_axme import sync

    ids = [str(uuid.uuid4()) for _ in range(count)]
    for intent_id in ids:
        sync.ingest_intent(
            {"intent_id": intent_id, "intent_type": "bench.v1", "to_agent": "agent://b/x"}
        )
    return ids


def _work(intents: int, events: int) -> list[tuple[str, list[dict[str, Any]]]]:
    per = max(events // intents, 1)
    return [(i, _history(i, per)) for i in _intents(intents)]


def run_mode(mode: str, intents: int, events: int) -> float:
    """One measurement of ``mode``: events per second."""
    from django_axme import sync
    from django_axme.models import Intent, IntentEvent
    from django_axme.sync import events as writer

    # (the names before the batched writer, so the script also runs on older checkouts)
    event_row = getattr(writer, "event_row", None) or writer._event_row  # type: ignore[attr-defined]
    parse_batch = getattr(writer, "parse_batch", None) or writer._parse_batch  # type: ignore[attr-defined]

    work = _work(intents, events)
    total = sum(len(e) for _, e in work)
    if mode == "raw":
        rows = []
        by_id = Intent.objects.in_bulk([i for i, _ in work], field_name="intent_id")
        for intent_id, history in work:
            parsed, _, _ = parse_batch(history, intent_id)
            rows.extend(event_row(by_id[intent_id], e) for e in parsed)
        started = time.perf_counter()
        IntentEvent.objects.bulk_create(rows)
    elif mode == "batch":
        started = time.perf_counter()
        sync.ingest_batch(work)
    elif mode == "per-intent":
        started = time.perf_counter()
        for intent_id, history in work:
            sync.ingest_events(intent_id, history)
    else:
        started = time.perf_counter()
        for intent_id, history in work:
            for one in history:
                sync.ingest_events(intent_id, [one])
    return total / (time.perf_counter() - started)


def setup_testproject(var_dir: str) -> None:
    """Set Django up in this process with the test project's settings (unless
    ``DJANGO_SETTINGS_MODULE`` names others), django-axme logging at WARNING, and the
    database (``DATABASE_URL``) migrated."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")
    os.environ.setdefault("TESTPROJECT_VAR_DIR", var_dir)
    sys.path[:0] = [str(REPO), str(REPO / "testproject")]
    import logging

    import django
    from django.core.management import call_command

    django.setup()
    logging.getLogger("django_axme").setLevel(logging.WARNING)
    call_command("migrate", verbosity=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--intents", type=int, default=1_000)
    parser.add_argument("--per-event-events", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--with-receivers", action="store_true")
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown mode(s): {', '.join(sorted(unknown))}")
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    setup_testproject("/tmp/axme-bench-ingest")
    from django.db import connection

    if not args.with_receivers:
        from django_axme import signals

        for name in signals.__all__:
            signal = getattr(signals, name)
            signal.receivers = []
            signal.sender_receivers_cache.clear()
    receivers = "test project's" if args.with_receivers else "none"
    print(f"database: {connection.vendor}; code: {REPO}; receivers: {receivers}")
    rates: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(args.rounds):
        for mode in modes:  # interleaved, so every mode sees the same machine noise
            events = args.per_event_events if mode == "per-event" else args.events
            intents = args.intents if mode != "per-event" else max(events // 10, 1)
            rates[mode].append(run_mode(mode, intents, events))
    medians = {m: statistics.median(r) for m, r in rates.items()}
    raw = medians.get("raw")
    print(f"{'mode':<11} {'events/s':>10} {'of raw':>8}   rounds")
    for mode in modes:
        share = f"{medians[mode] / raw:8.1%}" if raw else f"{'-':>8}"
        rounds = ", ".join(f"{r:,.0f}" for r in rates[mode])
        print(f"{mode:<11} {medians[mode]:>10,.0f} {share}   {rounds}")
    if "batch" in medians and raw:
        verdict = "met" if medians["batch"] >= 0.3 * raw else "MISSED"
        print(f"target batch >= 30% of raw: {medians['batch'] / raw:.1%} ({verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
