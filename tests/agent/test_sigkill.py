"""Crash target of issue 17: SIGKILL the Celery worker (twice) while 50 handlers run, on
PostgreSQL + Redis. Every intent is resolved exactly once, and no handler's keyed effect is
applied twice, though some handlers run again after their lease expired.

The worker runs the listener itself (``AGENT_LISTEN_IN_WORKER``), so each kill also kills the
listener: the restarted worker's ``agent_listen`` slice takes the address over once the dead
listener's lease expires, and its sweep hands the killed runs to a worker again.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from django_axme.models import AgentJob
from tests.tasks import harness
from tests.tasks.conftest import (
    API_KEY,
    FAST_AXME,
    WorkerFactory,
    redis_available,
    requires_postgres,
)

from .worker_handlers import KILL_TYPE

pytestmark = [
    pytest.mark.worker,
    pytest.mark.postgres,
    requires_postgres,
    pytest.mark.django_db(transaction=True),
]

ADDRESS = "agent://tests/ws/killrun"
N = 50

AGENT_AXME = {
    **FAST_AXME,
    "AGENT_ADDRESSES": [ADDRESS],
    "AGENT_LISTEN_IN_WORKER": True,
    "AGENT_WINDOW_SECONDS": 2,
    "AGENT_LEASE_SECONDS": 4,
    "AGENT_JOB_LEASE_SECONDS": 6,
    "AGENT_HEARTBEAT_SECONDS": 2,
    "AGENT_LISTEN_SLICE_SECONDS": 60,
}


@pytest.fixture
def effects_table() -> Any:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS agent_kill_effects "
            "(key text PRIMARY KEY, intent_id text NOT NULL)"
        )
        cursor.execute("DELETE FROM agent_kill_effects")
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS agent_kill_effects")


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_fifty_handlers_survive_two_sigkills(tmp_path: Path, effects_table: Any) -> None:
    if not redis_available():
        pytest.skip(f"Redis is not reachable at {harness.redis_url()}")
    from django_axme.emulator import Emulator, EmulatorServer

    emulator = Emulator(api_key=API_KEY)
    emulator.serve_agent(ADDRESS)
    server = EmulatorServer(emulator).start()
    calls = tmp_path / "calls.txt"
    url = harness.redis_url()
    harness.flush_redis(url)
    factory = WorkerFactory(tmp_path, Path(settings.VAR_DIR))
    worker = factory(
        axme_url=server.url,
        broker_url=url,
        name="agentkill",
        concurrency=16,
        axme_settings=AGENT_AXME,
        extra_env={
            "DJANGO_SETTINGS_MODULE": "tests.agent.worker_settings",
            "AXME_AGENT_CALLS": str(calls),
        },
    )
    try:
        worker.start()
        ids = [
            emulator.create_intent(
                {"intent_type": KILL_TYPE, "to_agent": ADDRESS, "payload": {"n": n}}
            )["intent_id"]
            for n in range(N)
        ]
        for threshold in (8, 25):
            harness.wait_until(
                lambda t=threshold: len(_lines(calls)) >= t,
                90,
                what=f"{threshold} handler calls ({worker.log_path})",
            )
            worker.kill()
            worker.start()

        def all_resolved() -> bool:
            return AgentJob.objects.filter(state="resolved").count() == N

        harness.wait_until(all_resolved, 150, interval=0.5, what="50 jobs resolved")
        terminal = {
            intent_id: [
                e["status"]
                for e in emulator.events(intent_id)
                if e["status"] in ("COMPLETED", "FAILED", "CANCELED")
            ]
            for intent_id in ids
        }
    finally:
        factory.stop_all()
        server.stop()
        emulator.close()

    assert terminal == {intent_id: ["COMPLETED"] for intent_id in ids}  # resolved once each
    with connection.cursor() as cursor:
        cursor.execute("SELECT intent_id FROM agent_kill_effects")
        effects = collections.Counter(row[0] for row in cursor.fetchall())
    assert effects == dict.fromkeys(ids, 1)  # one keyed effect per intent, runs or not
    runs = collections.Counter(line.split()[0] for line in _lines(calls))
    assert set(runs) == set(ids)
    rerun = sum(1 for n in runs.values() if n > 1)
    print(
        json.dumps({"intents": N, "handler_calls": sum(runs.values()), "intents_run_again": rerun})
    )
    assert rerun >= 1  # the kills did land while handlers ran
    assert not AgentJob.objects.exclude(resolve_conflict=False).exists()
