"""Fixtures of the task tests: a live emulator, real worker processes, a shared database."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command

from tests.tasks import harness

API_KEY = "axme_sa_tasks_test-key"
OWNER = "agent://test/approvers"
WORKER_AGENT = "agent://test/worker"
APPROVER_AGENT = "agent://test/approver"
FAILING_AGENT = "agent://test/failing"

#: AXME settings of the worker processes: short windows and leases so kills heal quickly.
FAST_AXME = {
    "OBSERVE_WINDOW_SECONDS": 3,
    "OBSERVER_LEASE_SECONDS": 6,
    "RECONCILE_AFTER_SECONDS": 5,
    "TASK_MAX_RETRIES": 6,
    "TASK_RETRY_BACKOFF_MAX_SECONDS": 2,
    "INBOX_OWNER_AGENTS": [OWNER],
    "DEFAULT_OWNER_AGENT": OWNER,
    "MAX_RETRIES": 0,
}


@pytest.fixture(scope="session")
def var_dir() -> Path:
    path = Path(settings.VAR_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _start_emulator() -> SimpleNamespace:
    from django_axme.emulator import (
        ApprovalScript,
        Emulator,
        EmulatorServer,
        FailingScript,
        WorkerScript,
    )

    emulator = Emulator(
        api_key=API_KEY,
        agents={
            WORKER_AGENT: WorkerScript(delay=0.2),
            APPROVER_AGENT: ApprovalScript(owner_agent=OWNER, title="Approve it", delivered=0.1),
            FAILING_AGENT: FailingScript(),
        },
    )
    server = EmulatorServer(emulator).start()
    return SimpleNamespace(emulator=emulator, server=server, url=server.url, api_key=API_KEY)


def _stop_emulator(ns: SimpleNamespace) -> None:
    ns.server.stop()
    ns.emulator.close()


@pytest.fixture
def live_emulator() -> Iterator[SimpleNamespace]:
    ns = _start_emulator()
    yield ns
    _stop_emulator(ns)


@pytest.fixture(scope="module")
def module_emulator() -> Iterator[SimpleNamespace]:
    ns = _start_emulator()
    yield ns
    _stop_emulator(ns)


def make_client(url: str) -> Any:
    from django_axme.client import AxmeClient, AxmeClientConfig

    return AxmeClient(AxmeClientConfig(base_url=url, api_key=API_KEY, max_retries=2))


@pytest.fixture
def point_settings_at(settings: Any) -> Callable[[str], None]:
    """Point this process's ``settings.AXME`` at an emulator URL (for in-process calls)."""

    def point(url: str) -> None:
        settings.AXME = {**settings.AXME, **FAST_AXME, "BASE_URL": url, "API_KEY": API_KEY}

    return point


class WorkerFactory:
    def __init__(self, tmp: Path, var_dir: Path) -> None:
        self.tmp = tmp
        self.var_dir = var_dir
        self.workers: list[harness.Worker] = []

    def __call__(
        self,
        *,
        axme_url: str,
        broker_url: str,
        name: str = "w",
        axme_settings: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> harness.Worker:
        worker = harness.Worker(
            name=name,
            log_dir=self.tmp / "logs",
            database_url=harness.database_url(),
            broker_url=broker_url,
            axme_url=axme_url,
            api_key=API_KEY,
            var_dir=self.var_dir,
            signal_log=self.tmp / "signals.jsonl",
            axme_settings={**FAST_AXME, **(axme_settings or {})},
            **kwargs,
        )
        self.workers.append(worker)
        return worker

    @property
    def signal_log(self) -> Path:
        return self.tmp / "signals.jsonl"

    def stop_all(self) -> None:
        for worker in self.workers:
            worker.stop()


@pytest.fixture
def workers(tmp_path: Path, var_dir: Path) -> Iterator[WorkerFactory]:
    factory = WorkerFactory(tmp_path, var_dir)
    yield factory
    factory.stop_all()


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tasks")


@pytest.fixture(scope="module")
def fs_worker(
    django_db_setup: Any,
    django_db_blocker: Any,
    module_emulator: SimpleNamespace,
    module_tmp: Path,
    var_dir: Path,
) -> Iterator[SimpleNamespace]:
    """One worker on the no-server filesystem broker for a whole module of behaviour tests."""
    url, options = harness.filesystem_broker(var_dir)
    factory = WorkerFactory(module_tmp, var_dir)
    worker = factory(axme_url=module_emulator.url, broker_url=url, name="fs", concurrency=8)
    worker.start()
    try:
        with harness.use_broker(url, options):
            yield SimpleNamespace(
                worker=worker, signal_log=factory.signal_log, emulator=module_emulator
            )
    finally:
        factory.stop_all()
        shutil.rmtree(var_dir / "broker", ignore_errors=True)
        # The worker kept writing (beat's sync_inbox and reconcile, observer slices) after the
        # module's last test flushed the database; empty it again now that the worker is
        # gone, so the next module starts from an empty mirror.
        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0)


def redis_available() -> bool:
    try:
        import redis

        redis.Redis.from_url(harness.redis_url(), socket_connect_timeout=1).ping()
        return True
    except Exception:
        return False


requires_postgres = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
    reason="needs DATABASE_URL pointing at PostgreSQL (CI runs tests/tasks with PostgreSQL)",
)
