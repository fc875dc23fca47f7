"""The quickstart, followed literally: a new ``startproject`` project built from the snippets of
``docs/quickstart.rst`` sends an intent to the emulator; a real worker sends and observes it,
and the receivers connected as documented fire in the worker (the approval reaches the mirror
at the first inbox sync, about 30 s after the worker started with ``--beat``).

The snippets are read from the .rst by their ``:name:``, so this test breaks when the docs
drift from the code. Only the emulator's port changes (a free one, through ``AXME_BASE_URL``,
which the documented settings read).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tasks.harness import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.worker]

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "docs" / "quickstart.rst"
BIN = Path(sys.executable).parent


def snippets(path: Path = QUICKSTART) -> dict[str, tuple[str, str]]:
    """``{name: (language, code)}`` of every ``code-block`` with a ``:name:`` option."""
    found: dict[str, tuple[str, str]] = {}
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"(\s*)\.\. code-block:: (\w+)\s*$", line)
        if not m:
            continue
        indent = len(m.group(1)) + 3
        j, name = i + 1, None
        while j < len(lines) and re.match(r"\s*:\w+:", lines[j]):
            opt = re.match(r"\s*:name:\s*(\S+)", lines[j])
            name = opt.group(1) if opt else name
            j += 1
        body: list[str] = []
        for text in lines[j:]:
            if text.strip() and len(text) - len(text.lstrip()) < indent:
                break
            body.append(text)
        if name:
            found[name] = (m.group(2), textwrap.dedent("\n".join(body)).strip("\n") + "\n")
    return found


def commands(code: str) -> list[str]:
    return [line[2:] for line in code.splitlines() if line.startswith("$ ")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Project:
    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.path = path
        self.env = env
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def sh(self, command: str, timeout: float = 120, *, check: bool = True) -> str:
        """Run a documented console command (``python``, ``django-admin`` and ``celery`` are
        this test's virtualenv's)."""
        proc = subprocess.run(
            command,
            shell=True,
            cwd=self.path,
            env=self.env,
            timeout=timeout,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        failed = f"{command} exited {proc.returncode}:\n{proc.stdout}"
        assert proc.returncode == 0 or not check, failed
        return proc.stdout

    def start(self, command: str, name: str) -> Path:
        """Start a long-running documented command in its own process group (``exec``: the
        command replaces the shell, so the process we hold is the command itself)."""
        log = self.path / f"{name}.log"
        proc = subprocess.Popen(
            f"exec {command}",
            shell=True,
            cwd=self.path,
            env=self.env,
            start_new_session=True,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.procs.append((proc, log))
        return log

    def stop_all(self) -> None:
        """Ctrl-C as a person would (SIGINT to each group), then SIGKILL whatever is left of
        each process group (a worker's pool children, beat)."""
        for proc, _log in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
        for proc, _log in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "AXME_", "CELERY_", "DATABASE_", "TESTPROJECT_"))
        and k != "PYTHONPATH"
    }
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", PYTHONUNBUFFERED="1")
    path = tmp_path / "site"
    path.mkdir()
    p = Project(path, env)
    try:
        yield p
    finally:
        p.stop_all()


def test_the_snippets_are_found() -> None:
    assert set(snippets()) >= {
        "qs-startproject",
        "qs-settings",
        "qs-celery",
        "qs-init",
        "qs-receivers",
        "qs-apps",
        "qs-migrate",
        "qs-emulator",
        "qs-worker",
        "qs-send",
    }


def test_quickstart_from_startproject_to_an_approval(project: Project) -> None:
    qs = snippets()
    for command in commands(qs["qs-startproject"][1]):
        project.sh(command)
    settings = project.path / "mysite" / "settings.py"
    # Django's own startproject settings, with the app added: SQLite without the options.
    original = settings.read_text()
    settings.write_text(
        original + '\nINSTALLED_APPS += ["django_axme"]\n'
        'AXME = {"BASE_URL": "http://127.0.0.1:8765", "API_KEY": "axme_sa_k"}\n'
    )
    assert "(axme.W020)" in project.sh("python manage.py check", check=False)
    settings.write_text(original)

    with settings.open("a") as fh:
        fh.write("\n\n" + qs["qs-settings"][1])
    for name, target in [
        ("qs-celery", "mysite/celery.py"),
        ("qs-init", "mysite/__init__.py"),
        ("qs-receivers", "orders/receivers.py"),
        ("qs-apps", "orders/apps.py"),
    ]:
        (project.path / target).write_text(qs[name][1])
    for command in commands(qs["qs-migrate"][1]):
        if command.startswith("python manage.py createsuperuser"):
            command += " --noinput --username admin --email admin@example.com"
        out = project.sh(command)
        if command == "python manage.py check":
            assert "no issues" in out, out

    port = free_port()
    project.env["AXME_BASE_URL"] = f"http://127.0.0.1:{port}"
    [emulator_command] = commands(qs["qs-emulator"][1])
    emulator_log = project.start(f"{emulator_command} --port {port}", "emulator")
    wait_until(
        lambda: f"127.0.0.1:{port}" in emulator_log.read_text(), 30, what="the emulator listens"
    )
    [worker_command] = commands(qs["qs-worker"][1])
    worker_log = project.start(worker_command, "worker")
    wait_until(lambda: "ready." in worker_log.read_text(), 60, what="the worker is ready")

    out = project.sh("python manage.py shell -c " + shlex.quote(qs["qs-send"][1]))
    assert re.search(r"^sent \d+$", out, re.M), out

    def log() -> str:
        return worker_log.read_text()

    # The worker sent it and its observer follows it: the receivers fire in the worker.
    waiting = wait_until(
        lambda: re.search(r"intent (\S+): \w+ -> WAITING", log()), 60, what="WAITING in the worker"
    )
    intent_id = waiting.group(1)
    # The first inbox sync (beat, every 30 s) mirrors the approval: approval_requested fires.
    wait_until(
        lambda: "approval requested: " in log() and f"(intent {intent_id})" in log(),
        75,
        what="approval_requested in the worker",
    )
    # A person approves in the admin (as the browser would post the approval's form); the
    # simulated agent completes the intent and intent_completed fires in the worker.
    admin = project.sh(
        "python manage.py shell -c "
        + shlex.quote(
            "from django.contrib.auth.models import User\n"
            "from django.test import Client\n"
            "from django.urls import reverse\n"
            "from django_axme.models import Approval\n"
            "c = Client(HTTP_HOST='localhost')\n"
            "c.force_login(User.objects.get(username='admin'))\n"
            "queue = c.get(reverse('admin:django_axme_approval_changelist'))\n"
            f"approval = Approval.objects.get(remote_intent_id='{intent_id}')\n"
            "decide = reverse('admin:django_axme_approval_decide', args=[approval.pk])\n"
            "r = c.post(decide, {'decision': 'approve', 'note': 'ok'})\n"
            "print('queue', queue.status_code, approval.title in queue.content.decode())\n"
            "print('decided', r.status_code)\n"
        )
    )
    assert "queue 200 True" in admin and "decided 302" in admin, admin
    wait_until(
        lambda: f"intent {intent_id} completed" in log(), 60, what="intent_completed in the worker"
    )
