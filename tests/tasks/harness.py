"""Real Celery worker processes for the task tests: start, stop, SIGKILL, restart.

A :class:`Worker` runs ``celery -A testproject worker`` from ``testproject/`` in its own
process group (so a SIGKILL takes its pool children and embedded beat with it), with the
environment the test gives it: the test database (``DATABASE_URL``), the broker, the
emulator's URL and key, and ``tests.tasks.worker_settings`` (recorder + AXME overrides).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.db import connection

REPO = Path(__file__).resolve().parents[2]
TESTPROJECT = REPO / "testproject"


def database_url() -> str:
    """The URL of the database the tests use right now (pytest-django's test database)."""
    s = connection.settings_dict
    engine = s["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{Path(s['NAME']).resolve()}"
    if "postgres" in engine:
        user = s.get("USER") or "postgres"
        password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
        host = s.get("HOST") or "127.0.0.1"
        port = s.get("PORT") or 5432
        return f"postgres://{user}{password}@{host}:{port}/{s['NAME']}"
    raise RuntimeError(f"no worker database URL for engine {engine}")


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def redis_url() -> str:
    """Redis broker URL for the tests: CELERY_BROKER_URL when it is Redis, else db 6."""
    url = os.environ.get("CELERY_BROKER_URL", "")
    if url.startswith("redis://"):
        return url
    return os.environ.get("AXME_TEST_REDIS_URL", "redis://127.0.0.1:6379/6")


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def filesystem_broker(var_dir: Path) -> tuple[str, dict[str, Any]]:
    """The no-server broker in ``var_dir/broker`` (as testproject.settings builds it), emptied."""
    folder = var_dir / "broker"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "processed").mkdir(parents=True, exist_ok=True)
    return "filesystem://", {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "processed_folder": str(folder / "processed"),
        # Exchange tables (fanout, remote control); kombu's default is ./control in the cwd.
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }


def amqp_url() -> str:
    return os.environ.get("AXME_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


@contextlib.contextmanager
def use_broker(
    url: str, transport_options: dict[str, Any] | None = None, *, queue: str = "celery"
) -> Iterator[None]:
    """Point this (test) process's Celery app at ``url`` (and default ``queue``) for the
    block, then restore."""
    from celery import current_app

    app = current_app._get_current_object()
    old = (app.conf.broker_url, app.conf.broker_transport_options, app.conf.broker_transport)
    old_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue

    def reset() -> None:
        # Forget the app's pools (kombu keeps its own per-URL pools, which stay usable).
        app._pool = None
        with contextlib.suppress(AttributeError, KeyError):
            app.__dict__["amqp"]._producer_pool = None

    app.conf.broker_url = url
    app.conf.broker_transport_options = transport_options or {}
    if url.startswith("filesystem://"):
        from django_axme.celery import FILESYSTEM_TRANSPORT

        app.conf.broker_transport = FILESYSTEM_TRANSPORT
    else:
        app.conf.broker_transport = None
    reset()
    try:
        yield
    finally:
        reset()
        app.conf.broker_url, app.conf.broker_transport_options, app.conf.broker_transport = old
        app.conf.task_default_queue = old_queue


def wait_until(
    predicate: Callable[[], Any], timeout: float, *, interval: float = 0.2, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)


class Worker:
    """One ``celery worker`` process (its own process group), restartable."""

    def __init__(
        self,
        *,
        name: str,
        log_dir: Path,
        database_url: str,
        broker_url: str,
        axme_url: str,
        api_key: str,
        var_dir: Path,
        signal_log: Path,
        axme_settings: dict[str, Any] | None = None,
        pool: str = "threads",
        concurrency: int = 8,
        beat: bool = True,
        queues: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.log_dir = log_dir
        self.pool = pool
        self.concurrency = concurrency
        self.beat = beat
        self.queues = queues
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.var_dir = var_dir
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.tasks.worker_settings",
            "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTPROJECT)]),
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker_url,
            "AXME_BASE_URL": axme_url,
            "AXME_API_KEY": api_key,
            "TESTPROJECT_VAR_DIR": str(var_dir),
            "AXME_SIGNAL_LOG": str(signal_log),
            "AXME_TEST_SETTINGS": json.dumps(axme_settings or {}),
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"worker-{self.name}-{self.starts}.log"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, *, ready_timeout: float = 60.0) -> Worker:
        """Start the worker and wait until it logs that it is ready."""
        assert self.proc is None or self.proc.poll() is not None, "worker already running"
        self.starts += 1
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "testproject",
            "worker",
            "-P",
            self.pool,
            "-c",
            str(self.concurrency),
            "-n",
            f"{self.name}-{self.starts}@%h",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        if self.queues:
            cmd += ["-Q", self.queues]
        if self.beat:
            cmd += ["-B", "-s", str(self.var_dir / f"beat-{self.name}")]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")  # noqa: SIM115 - owned by the child's lifetime
        self.proc = subprocess.Popen(
            cmd,
            cwd=TESTPROJECT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_until(self._ready, ready_timeout, what=f"worker {self.name} ready ({self.log_path})")
        return self

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(
                f"worker {self.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
            )
        return b" ready." in self.log_path.read_bytes()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def logs(self) -> str:
        """Every log this worker wrote, all starts."""
        out = []
        for n in range(1, self.starts + 1):
            path = self.log_dir / f"worker-{self.name}-{n}.log"
            if path.exists():
                out.append(path.read_text(errors="replace"))
        return "\n".join(out)

    def kill(self) -> None:
        """SIGKILL the worker and everything in its process group (no clean-up runs)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 20.0) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL whatever is left after ``timeout``."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
