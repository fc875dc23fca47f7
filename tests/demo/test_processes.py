"""The demo's process clean-up: every child and grandchild is gone after stop or Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from purchases.demo.processes import ProcessGroup, live_group_members

ROOT = Path(__file__).resolve().parents[2]

# A child that starts a grandchild in its own process group and ignores SIGTERM, like a
# stubborn worker: only the SIGKILL fallback can stop it.
STUBBORN = textwrap.dedent(
    """
    import signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    print("grandchild", child.pid, flush=True)
    time.sleep(300)
    """
)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def _wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [pid for pid in pids if _alive(pid)]
        if not left:
            return []
        time.sleep(0.05)
    return [pid for pid in pids if _alive(pid)]


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def test_stop_all_kills_grandchildren_and_sigterm_ignorers(tmp_path: Path) -> None:
    lines: list[tuple[str, str]] = []
    group = ProcessGroup(tmp_path, sink=lambda name, line: lines.append((name, line)))
    polite = group.start("polite", [sys.executable, "-c", "import time; time.sleep(300)"])
    stubborn = group.start("stubborn", [sys.executable, "-c", STUBBORN])
    grandchild = int(stubborn.wait_for_line("grandchild", timeout=20).split()[1])
    assert set(live_group_members(stubborn.pgid)) == {stubborn.pid, grandchild}
    started = time.monotonic()
    group.stop_all(timeout=1.0)
    assert time.monotonic() - started < 15
    assert _wait_gone([polite.pid, stubborn.pid, grandchild]) == []
    assert live_group_members(stubborn.pgid) == []
    assert ("stubborn", f"grandchild {grandchild}") in lines
    assert (tmp_path / "stubborn.log").read_text().startswith("grandchild ")
    group.stop_all()  # idempotent


def test_wait_for_line_reports_early_exit_with_output(tmp_path: Path) -> None:
    group = ProcessGroup(tmp_path)
    proc = group.start(
        "oops", [sys.executable, "-c", "print('boom: bad flag'); raise SystemExit(3)"]
    )
    with pytest.raises(RuntimeError, match=r"(?s)oops exited with code 3.*boom: bad flag"):
        proc.wait_for_line("listening", timeout=20)
    group.stop_all()


def test_wait_for_line_times_out(tmp_path: Path) -> None:
    with ProcessGroup(tmp_path) as group:
        proc = group.start("quiet", [sys.executable, "-c", "import time; time.sleep(30)"])
        with pytest.raises(RuntimeError, match="did not print 'ready' within"):
            proc.wait_for_line("ready", timeout=0.5)
    assert _wait_gone([proc.pid]) == []


DRIVER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from purchases.demo.processes import ProcessGroup, signals_raise_keyboard_interrupt
    group = ProcessGroup(Path(sys.argv[1]))
    try:
        with signals_raise_keyboard_interrupt():
            a = group.start("a", [sys.executable, "-c", sys.argv[2]])
            b = group.start("b", [sys.executable, "-c", "import time; time.sleep(300)"])
            a.wait_for_line("grandchild", timeout=20)
            print("pids", a.pid, b.pid, a.output()[0].split()[1], flush=True)
            time.sleep(300)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    finally:
        print("stopping", flush=True)
        group.stop_all(timeout=float(sys.argv[3]) if len(sys.argv) > 3 else 1.0)
        print("stopped", flush=True)
    """
)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    ("signum", "sigint_ignored"),
    [(signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["ctrl-c", "ctrl-c-background-job", "sigterm"],
)
def test_interrupting_the_driver_leaves_no_orphan(
    tmp_path: Path, signum: int, sigint_ignored: bool
) -> None:
    """A background job of a script starts with SIGINT ignored: the demo must still stop."""
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'testproject'}{os.pathsep}{ROOT}")
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(tmp_path), STUBBORN],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
        preexec_fn=_ignore_sigint if sigint_ignored else None,
    )
    try:
        assert driver.stdout is not None
        first = driver.stdout.readline().split()
        assert first[0] == "pids", first
        pids = [int(pid) for pid in first[1:]]
        assert all(_alive(pid) for pid in pids)
        driver.send_signal(signum)
        out, _ = driver.communicate(timeout=30)
        assert "interrupted" in out and "stopped" in out
        assert _wait_gone(pids) == []
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)


def test_children_die_with_a_sigkilled_driver(tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG: even a SIGKILLed demo does not leave its direct children running."""
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'testproject'}{os.pathsep}{ROOT}")
    polite = "import time; print('grandchild 0', flush=True); time.sleep(300)"
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(tmp_path), polite],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert driver.stdout is not None
    first = driver.stdout.readline().split()
    pids = [int(pid) for pid in first[1:3]]
    driver.kill()
    driver.wait(timeout=10)
    assert _wait_gone(pids) == []


def test_a_second_ctrl_c_during_the_stop_kills_at_once(tmp_path: Path) -> None:
    """The stop waits for SIGTERM to work (here 60 s); a second Ctrl-C cuts it short."""
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'testproject'}{os.pathsep}{ROOT}")
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(tmp_path), STUBBORN, "60"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        assert driver.stdout is not None
        pids = [int(pid) for pid in driver.stdout.readline().split()[1:]]
        driver.send_signal(signal.SIGINT)
        assert driver.stdout.readline().strip() == "interrupted"
        assert driver.stdout.readline().strip() == "stopping"
        time.sleep(0.5)
        started = time.monotonic()
        driver.send_signal(signal.SIGINT)
        out, _ = driver.communicate(timeout=20)
        assert "stopped" in out
        assert time.monotonic() - started < 10
        assert _wait_gone(pids) == []
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
