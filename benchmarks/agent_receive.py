"""The agent listener's durable receive, alone: what one served address can mirror per second
before any handler runs or any resolve is sent (issue 17).

Run from the repository root (PostgreSQL; the inbound intents, agent jobs and listeners of
that database are deleted first)::

    .venv/bin/python benchmarks/agent_receive.py --intents 1000 --rounds 3 \
        --database-url postgres://postgres@127.0.0.1:5432/axme_agent_receive

The stream items are the emulator's own (three per intent: CREATED, SUBMITTED, DELIVERED,
each carrying the intent snapshot, as ``GET /v1/agents/.../intents/stream`` sends them),
built before the clock starts. Two modes, interleaved round by round:

- ``raw``: the least a durable mirror writes, in one transaction per batch: the intent rows
  (``Intent.objects.bulk_create`` of rows built from the snapshots before the clock), their
  events and one job each (``bulk_create`` too); no cursor, no lease, no signal: the baseline;
- ``receive``: :func:`django_axme.sync.agent_receive.receive_batch` on the same items, in
  batches of ``--batch`` items, as the listener calls it (cursor and lease checked, intents
  and events mirrored, jobs created, ``intent_created``, the status signals and
  ``intent_received`` recorded and delivered after commit, to the test project's receivers).

Prints, per mode, the median wall time and this process's CPU time per intent, the share of
raw, and the listener's ceiling (intents per second with the machine to itself); compare it
with the SDK loop's whole rate in ``benchmarks/agent.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ADDRESS = "agent://bench/ws/django-agent"
MODES = ("raw", "receive")


def stream_items(intents: int) -> list[dict[str, Any]]:
    """The agent stream items of ``intents`` new intents, as the emulator sends them."""
    from benchmarks.agent_handlers import NOOP_TYPE
    from django_axme.emulator import Emulator, routes_agents, routes_intents

    emulator = Emulator(api_key="bench")
    try:
        emulator.serve_agent(ADDRESS)
        for _ in range(intents):
            emulator.create_intent({"intent_type": NOOP_TYPE, "to_agent": ADDRESS, "payload": {}})
        gw = emulator.gateway
        for intent_id in list(gw.intents):
            routes_agents.mark_delivered(gw, intent_id, ADDRESS)  # what a listener's read does
        items = []
        for entry in gw.agent_feeds[ADDRESS]:
            item = dict(entry)
            item["intent"] = routes_intents.intent_view(gw, gw.intents[entry["intent_id"]])
            items.append(item)
        return items
    finally:
        emulator.close()


def _empty() -> None:
    from django_axme.models import AgentJob, AgentListener, Intent, PendingSignal

    AgentJob.objects.all().delete()
    AgentListener.objects.all().delete()
    PendingSignal.objects.all().delete()
    Intent.objects.filter(direction="inbound").delete()


def run_raw(items: list[dict[str, Any]], batch: int) -> tuple[float, float]:
    """Wall and CPU seconds of the baseline (module docstring)."""
    from django.db import transaction

    from django_axme.models import AgentJob, Intent, IntentEvent
    from django_axme.sync.agent import _intent_event
    from django_axme.sync.events import event_row, parse_batch
    from django_axme.sync.intents import _raw_of, _snapshot_fields

    chunks = [items[i : i + batch] for i in range(0, len(items), batch)]
    prepared = []
    seen: set[str] = set()
    for chunk in chunks:
        rows: dict[str, Intent] = {}
        events: dict[str, list[dict[str, Any]]] = {}
        for item in chunk:
            intent_id = item["intent_id"]
            if intent_id not in seen:
                seen.add(intent_id)
                row = Intent(intent_id=intent_id, direction="inbound")
                for name, value in _snapshot_fields(item["intent"], intent_id).items():
                    setattr(row, name, value)
                row.raw = _raw_of(item["intent"], intent_id)
                rows[intent_id] = row
            events.setdefault(intent_id, []).append(_intent_event(item))
        prepared.append((rows, events))
    wall, cpu = time.perf_counter(), time.process_time()
    known: dict[str, Intent] = {}
    for rows, events in prepared:
        with transaction.atomic():
            Intent.objects.bulk_create(list(rows.values()))
            known.update(rows)
            stored = []
            for intent_id, history in events.items():
                parsed, _, _ = parse_batch(history, intent_id)
                stored.extend(event_row(known[intent_id], e) for e in parsed)
            IntentEvent.objects.bulk_create(stored)
            AgentJob.objects.bulk_create(
                [AgentJob(intent=r, address=ADDRESS, handler="noop") for r in rows.values()]
            )
    return time.perf_counter() - wall, time.process_time() - cpu


def run_receive(items: list[dict[str, Any]], batch: int) -> tuple[float, float]:
    """Wall and CPU seconds of the listener's writer over ``items``."""
    from django_axme.sync import agent as writer
    from django_axme.sync.agent_receive import receive_batch

    if not writer.claim_listener(ADDRESS, "bench-token", "bench", 600):
        raise SystemExit("the benchmark address is held by a live listener")
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(items), batch):
        receive_batch(
            items[i : i + batch], address=ADDRESS, token="bench-token", handler_of=lambda t: "noop"
        )
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--intents", type=int, default=1_000)
    parser.add_argument("--batch", type=int, default=500, help="items per receive transaction")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if not args.database_url.startswith("postgres"):
        raise SystemExit("--database-url must point at PostgreSQL")
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    sys.path[:0] = [str(REPO)]
    from benchmarks.ingest import setup_testproject

    setup_testproject("/tmp/axme-bench-agent-receive")
    items = stream_items(args.intents)
    print(f"{args.intents} intents, {len(items)} stream items, {args.batch} items per batch")
    runs: dict[str, list[tuple[float, float]]] = {m: [] for m in MODES}
    for _ in range(args.rounds):
        for mode in MODES:  # interleaved: both see the same machine noise
            _empty()
            runner = run_raw if mode == "raw" else run_receive
            runs[mode].append(runner(items, args.batch))
    _empty()
    per = {
        m: (
            1e3 * statistics.median(w for w, _ in r) / args.intents,
            1e3 * statistics.median(c for _, c in r) / args.intents,
        )
        for m, r in runs.items()
    }
    raw_wall = per["raw"][0]
    print(
        f"{'mode':<8} {'wall ms/intent':>15} {'CPU ms/intent':>14} {'of raw':>7} {'ceiling/s':>10}"
    )
    for mode, (wall, cpu) in per.items():
        print(f"{mode:<8} {wall:>15.3f} {cpu:>14.3f} {raw_wall / wall:>7.0%} {1e3 / wall:>10,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
