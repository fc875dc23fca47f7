"""The real interactive demo (``testproject/demo.py`` as ``scripts/demo`` runs it): it comes
up, a person approves and rejects in the admin with a real browser and sees the example app
react in the demo's output, and Ctrl-C stops every process it started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pw-for-test"
BANNER_END = "Press Ctrl-C to stop everything."

pytestmark = [
    pytest.mark.slow,
    pytest.mark.worker,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]


def _children(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (direct children only)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


class RunningDemo:
    """The demo in its own session, its output collected line by line by a reader thread."""

    def __init__(self, var_dir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k != "TESTPROJECT_VAR_DIR"}
        self.popen = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "testproject" / "demo.py"),
                "--port",
                "0",
                "--emulator-port",
                "0",
                "--var-dir",
                str(var_dir),
                "--password",
                PASSWORD,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            with self._lock:
                self._lines.append(line)

    @property
    def output(self) -> str:
        with self._lock:
            return "".join(self._lines)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first match of ``pattern`` in the output, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.output, re.MULTILINE)
            if found:
                return found
            if time.monotonic() > deadline or self.popen.poll() is not None:
                pytest.fail(f"no {pattern!r} in the demo's output:\n{self.output[-4000:]}")
            time.sleep(0.2)

    def interrupt_and_check_nothing_is_left(self) -> None:
        children = _children(self.popen.pid)
        grandchildren = [g for c in children for g in _children(c)]
        assert len(children) == 3, self.output[-3000:]  # emulator, worker, web server
        self.popen.send_signal(signal.SIGINT)
        self.popen.wait(timeout=60)
        self._reader.join(10)
        assert "==> all demo processes stopped" in self.output
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(map(_alive, children + grandchildren)):
            time.sleep(0.1)
        assert [pid for pid in children + grandchildren if _alive(pid)] == []

    def kill(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)


@pytest.fixture
def demo(tmp_path: Path):
    running = RunningDemo(tmp_path / "demo")
    try:
        yield running
    finally:
        running.kill()


def test_ctrl_c_stops_the_emulator_worker_and_web_server(demo: RunningDemo) -> None:
    demo.wait_for(re.escape(BANNER_END), 120)
    assert "Login:      admin" in demo.output and f"Password:   {PASSWORD}" in demo.output
    demo.interrupt_and_check_nothing_is_left()


@pytest.mark.browser
def test_a_person_decides_in_the_admin_and_the_app_reacts(
    demo: RunningDemo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.browser import chromium_page

    demo.wait_for(re.escape(BANNER_END), 120)
    admin = demo.wait_for(r"Admin:\s+(\S+)", 1).group(1)
    queue = demo.wait_for(r"1\. Open (\S+)", 1).group(1)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with chromium_page() as page:
        page.goto(admin)
        page.fill("#id_username", "admin")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector("#user-tools")
        for item, button, note in [
            ("Laptop for a new hire", "#axme-approve", "Fine, order it."),
            ("Espresso machine for the office", "#axme-reject", "Over budget."),
        ]:
            # Webhook pushes bring the approvals within seconds; a person reloads.
            deadline = time.monotonic() + 60
            page.goto(queue)
            while not page.locator(f"text=Approve {item}").count():
                assert time.monotonic() < deadline, f"{item} never reached the queue"
                time.sleep(1)
                page.reload()
            page.click(f"text=Approve {item}")
            page.fill("#axme-decision-form textarea[name=note]", note)
            page.click(button)
            page.wait_for_selector("#axme-decision .axme-decision-state")

    # The example app's receivers react, and the demo's output shows it.
    demo.wait_for(r"Laptop for a new hire: approved -> fulfilled", 60)
    demo.wait_for(r"Espresso machine for the office: \w+ -> rejected", 60)
    demo.wait_for(r"every purchase request is final", 30)
    demo.interrupt_and_check_nothing_is_left()
