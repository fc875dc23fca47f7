"""A worker's warm shutdown (SIGTERM) ends the listener slice it runs after the current stream
window and gives the address's lease up, instead of waiting out the slice (minutes) or being
SIGKILLed with the lease held (PostgreSQL + Redis, a real worker)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from django_axme.models import AgentListener
from tests.tasks import harness
from tests.tasks.conftest import API_KEY, WorkerFactory, redis_available, requires_postgres

pytestmark = [
    pytest.mark.worker,
    pytest.mark.postgres,
    requires_postgres,
    pytest.mark.django_db(transaction=True),
]

ADDRESS = "agent://tests/ws/shutdown"


def test_warm_shutdown_ends_the_listener_slice_and_releases_the_lease(tmp_path: Path) -> None:
    if not redis_available():
        pytest.skip(f"Redis is not reachable at {harness.redis_url()}")
    from django_axme.emulator import Emulator, EmulatorServer

    emulator = Emulator(api_key=API_KEY)
    emulator.serve_agent(ADDRESS)
    server = EmulatorServer(emulator).start()
    url = harness.redis_url()
    harness.flush_redis(url)
    factory = WorkerFactory(tmp_path, Path(settings.VAR_DIR))
    worker = factory(
        axme_url=server.url,
        broker_url=url,
        name="agentstop",
        beat=False,
        axme_settings={
            "AGENT_ADDRESSES": [ADDRESS],
            "AGENT_LISTEN_IN_WORKER": True,
            "AGENT_WINDOW_SECONDS": 2,
            "AGENT_LEASE_SECONDS": 60,
            "AGENT_HEARTBEAT_SECONDS": 0,
            "AGENT_LISTEN_SLICE_SECONDS": 300,
        },
        extra_env={"DJANGO_SETTINGS_MODULE": "tests.agent.worker_settings"},
    )
    took: Any = None
    try:
        worker.start()

        def held() -> bool:
            return AgentListener.objects.filter(address=ADDRESS).exclude(lease_token="").exists()

        harness.wait_until(held, 60, what=f"the listener lease ({worker.log_path})")
        assert worker.proc is not None
        started = time.monotonic()
        worker.proc.send_signal(signal.SIGTERM)
        try:
            worker.proc.wait(30)
            took = time.monotonic() - started
        except Exception:
            took = None
    finally:
        factory.stop_all()
        server.stop()
        emulator.close()
    assert took is not None, "the worker was still waiting for its listener slice after 30 s"
    assert took < 15  # one 2 s window and the shutdown, not the 300 s slice
    row = AgentListener.objects.get(address=ADDRESS)
    assert (row.lease_token, row.lease_until) == ("", None)  # released: no wait for a takeover
