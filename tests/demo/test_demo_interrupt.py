"""The real interactive demo: it comes up, and Ctrl-C stops every process it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

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


def test_ctrl_c_stops_the_emulator_worker_and_web_server(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TESTPROJECT_VAR_DIR"}
    demo = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "testproject" / "demo.py"),
            "--port",
            "0",
            "--emulator-port",
            "0",
            "--var-dir",
            str(tmp_path / "demo"),
            "--password",
            "pw-for-test",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        assert demo.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Press Ctrl-C to stop everything." in line:
                break
        output = "".join(lines)
        assert "Press Ctrl-C to stop everything." in output, output[-3000:]
        assert "Login:      admin" in output and "Password:   pw-for-test" in output
        children = _children(demo.pid)
        grandchildren = [g for c in children for g in _children(c)]
        assert len(children) == 3, output[-3000:]  # emulator, worker, web server
        demo.send_signal(signal.SIGINT)
        rest, _ = demo.communicate(timeout=60)
        assert "==> all demo processes stopped" in rest
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(map(_alive, children + grandchildren)):
            time.sleep(0.1)
        assert [pid for pid in children + grandchildren if _alive(pid)] == []
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
