"""Scale-out: TWO worker processes share 200 open intents through the Celery queue (Redis) and
the observer leases (PostgreSQL); one is SIGKILLed in the middle of a burst.

- no intent is ever leased by two observers at once: a trigger logs every change of an
  intent's lease token, and a token only ever replaces another one once that lease expired;
- nothing is lost: the mirror holds every event the emulator emitted;
- every transition is signalled exactly once (the recorder writes in the delivery
  transaction), nothing else is signalled;
- the dead worker's intents are taken over within the lease time (plus a slice's start): the
  reconcile sweep (on the surviving worker's beat, every 2 s) sees their leases go unrenewed
  and schedules a successor at the lease's end, not at the first sweep after it.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection

from django_axme import sync
from django_axme.models import TERMINAL_STATUSES, Intent, IntentEvent, PendingSignal
from django_axme.sync.leases import new_token
from django_axme.tasks import observe_many
from tests.tasks import harness, recorder
from tests.tasks.conftest import FAST_AXME, WorkerFactory, redis_available, requires_postgres

pytestmark = [
    pytest.mark.worker,
    pytest.mark.postgres,
    requires_postgres,
    pytest.mark.django_db(transaction=True),
]

N = 200
AGENT = "agent://test/scaleout"  # no simulated agent: the test moves the intents itself
LEASE = float(FAST_AXME["OBSERVER_LEASE_SECONDS"])
SCALEOUT_AXME = {"OBSERVER_BATCH_SIZE": 25}


@pytest.fixture
def lease_log() -> Any:
    """A trigger logging each change of an intent's observer token (PostgreSQL)."""
    table = Intent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE axme_test_lease_changes (intent_id text, old_token text, "
            "new_token text, old_until timestamptz, at timestamptz)"
        )
        cursor.execute(
            """CREATE FUNCTION axme_test_lease_change() RETURNS trigger AS $$
            BEGIN
              IF NEW.observer_token IS DISTINCT FROM OLD.observer_token THEN
                INSERT INTO axme_test_lease_changes VALUES (NEW.intent_id, OLD.observer_token,
                  NEW.observer_token, OLD.observer_lease_until, clock_timestamp());
              END IF;
              RETURN NEW;
            END $$ LANGUAGE plpgsql"""
        )
        cursor.execute(
            f"CREATE TRIGGER axme_test_lease_change AFTER UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION axme_test_lease_change()"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER IF EXISTS axme_test_lease_change ON {table}")
        cursor.execute("DROP FUNCTION IF EXISTS axme_test_lease_change()")
        cursor.execute("DROP TABLE IF EXISTS axme_test_lease_changes")


def _status_changes(path: str) -> list[dict[str, Any]]:
    return [r for r in recorder.read(path) if r["signal"] == "intent_status_changed"]


def _wait_signalled(path: str, keys: set[tuple[str, int]], timeout: float, what: str) -> None:
    harness.wait_until(
        lambda: keys <= {(r["intent_id"], r["seq"]) for r in _status_changes(path)},
        timeout,
        what=what,
    )


def _expected(events: list[dict[str, Any]]) -> set[tuple[int, str]]:
    previous, out = "CREATED", set()
    for event in events:
        status = event.get("status")
        if previous in TERMINAL_STATUSES:
            break
        if status and status != previous:
            out.add((int(event["seq"]), status))
            previous = status
    return out


def _held_by(pid: int, path: str, before: float) -> set[str]:
    """Open intents whose latest signal before ``before`` was delivered by process ``pid``
    (the process whose observer ingests them)."""
    latest: dict[str, int] = {}
    for r in _status_changes(path):  # in time order
        if r["t"] < before:
            latest[r["intent_id"]] = r["pid"]
    mine = [i for i, p in latest.items() if p == pid]
    return set(Intent.objects.open().filter(intent_id__in=mine).values_list("intent_id", flat=True))


def test_two_workers_share_intents_and_one_is_killed(
    workers: WorkerFactory, live_emulator: SimpleNamespace, settings: Any, lease_log: Any
) -> None:
    if not redis_available():
        pytest.skip(f"Redis is not reachable at {harness.redis_url()}")
    url = harness.redis_url()
    harness.flush_redis(url)
    settings.AXME = {**settings.AXME, **FAST_AXME, **SCALEOUT_AXME}
    emulator = live_emulator.emulator
    ids = [
        emulator.create_intent(
            {"intent_type": "intent.test.scale.v1", "to_agent": AGENT, "payload": {}}
        )["intent_id"]
        for _ in range(N)
    ]
    for intent_id in ids:
        sync.ingest_intent(emulator.get_intent(intent_id))
    log = str(workers.signal_log)
    common = {
        "axme_url": live_emulator.url,
        "broker_url": url,
        "axme_settings": SCALEOUT_AXME,
        "concurrency": 8,
    }
    victim = workers(name="victim", beat=False, **common).start()
    survivor = workers(name="survivor", beat=True, **common).start()
    with harness.use_broker(url):
        # Every slice asked for twice, with two lease tokens (as two sweeps racing, or a
        # redelivered message), while the survivor's reconcile sweep starts observers for
        # the same orphans: the leases decide which one observes each intent.
        chunks = [ids[n : n + 25] for n in range(0, N, 25)]
        for n, chunk in enumerate(chunks):
            for twin in (chunk, chunks[-1 - n]):
                observe_many.apply_async(args=(twin,), kwargs={"lease_token": new_token()})
        harness.wait_until(
            lambda: not Intent.objects.filter(intent_id__in=ids, last_seq__lt=2).exists(),
            45,
            what="both workers caught up with the first events",
        )
        first, second = ids[: N // 2], ids[N // 2 :]
        moved = {(i, int(emulator.transition(i, "IN_PROGRESS")["seq"])) for i in first}
        harness.wait_until(
            lambda: (
                len({(r["intent_id"], r["seq"]) for r in _status_changes(log)} & moved) >= N // 10
            ),
            30,
            what="the burst under way",
        )
        killed_at = time.time()
        held = _held_by(victim.pid or 0, log, killed_at)
        others = _held_by(survivor.pid or 0, log, killed_at)
        assert held and others, "both processes observe a share of the intents"
        victim.kill()
        moved |= {(i, int(emulator.transition(i, "IN_PROGRESS")["seq"])) for i in second}

        # Takeover: every intent the dead process followed is leased again by a live observer
        # (claimed or renewed after the kill: its lease ends after kill + LEASE).
        after = datetime.fromtimestamp(killed_at + LEASE + 0.05, UTC)
        rows = Intent.objects.filter(intent_id__in=held).exclude(status__in=TERMINAL_STATUSES)
        harness.wait_until(
            lambda: not rows.exclude(observer_lease_until__gt=after).exists(),
            LEASE + 30,
            interval=0.1,
            what="the dead worker's intents taken over",
        )
        takeover = time.time() - killed_at
        print(f"victim held {len(held)} intents; taken over {takeover:.1f} s after the kill")
        assert takeover <= LEASE + 2, f"takeover took {takeover:.1f} s"

        _wait_signalled(log, moved, 40, "every IN_PROGRESS signalled")
        done = set()
        for intent_id in ids:
            emulator.resolve(intent_id, "COMPLETED", result={"ok": True})
            done.add((intent_id, int(emulator.events(intent_id)[-1]["seq"])))
        _wait_signalled(log, done, 40, "every COMPLETED signalled")
        harness.wait_until(lambda: not PendingSignal.objects.exists(), 20, what="no signal left")
    survivor.stop()

    # Nothing lost: the mirror holds exactly the emulator's events.
    mirrored = Counter(
        IntentEvent.objects.filter(intent__intent_id__in=ids).values_list(
            "intent__intent_id", "seq"
        )
    )
    assert set(mirrored.values()) == {1}
    for intent_id in ids:
        seqs = sorted(s for (i, s) in mirrored if i == intent_id)
        assert seqs == [int(e["seq"]) for e in emulator.events(intent_id)], intent_id
    assert set(Intent.objects.filter(intent_id__in=ids).values_list("status", flat=True)) == {
        "COMPLETED"
    }

    # Each transition signalled exactly once, nothing else.
    signalled = Counter((r["intent_id"], r["seq"], r["status"]) for r in _status_changes(log))
    twice = {k: c for k, c in signalled.items() if c > 1}
    assert not twice, f"signalled more than once: {twice}"
    expected = {(i, s, st) for i in ids for s, st in _expected(emulator.events(i))}
    assert set(signalled) == expected

    # Never two observers at once: a token replaced another only after that lease expired.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT intent_id, old_token, new_token, old_until, at FROM axme_test_lease_changes"
        )
        changes = cursor.fetchall()
    handovers = [c for c in changes if c[1] and c[2]]
    overlaps = [c for c in handovers if c[3] is not None and c[4] < c[3]]
    assert not overlaps, f"a lease taken while live: {overlaps[:5]}"
    # The dead worker's running slices were lost with it: their intents changed hands this way.
    assert {c[0] for c in handovers} & held
