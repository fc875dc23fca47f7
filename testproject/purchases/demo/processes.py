"""Start helper processes in their own process groups and stop every one of them.

Each child is started in a new session (so it is the leader of its own process group and
does not get the terminal's Ctrl-C directly); :meth:`ProcessGroup.stop_all` sends SIGTERM to
each whole group, waits, then SIGKILLs whatever is left, so grandchildren (Celery's pool
processes, for example) are stopped too. On Linux each child also gets ``PR_SET_PDEATHSIG``,
so it is killed even if the demo itself is killed with SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

LineSink = Callable[[str, str], None]
"""Called with ``(process name, line)`` for every output line of a child."""

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    except (OSError, AttributeError):
        return None


# Resolved once in the parent: the child runs only this call between fork and exec.
_prctl = _load_prctl()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def live_group_members(pgid: int) -> list[int]:
    """Pids of the processes of group ``pgid`` that are not zombies.

    Reads ``/proc`` on Linux (an orphaned zombie is not reaped in every container, and
    ``killpg(pgid, 0)`` would count it); elsewhere falls back to ``killpg(pgid, 0)``.
    """
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ..." - comm may contain spaces and parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


class ManagedProcess:
    """One child process, the leader of its own process group, with its output captured.

    Every output line is appended to ``log_path`` and handed to ``sink``; :meth:`wait_for_line`
    waits until a line containing some text has appeared.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        sink: LineSink | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._lines: list[str] = []
        self._cond = threading.Condition()
        self._sink = sink
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log: IO[str] = log_path.open("a", encoding="utf-8", buffering=1)
        self.popen = subprocess.Popen(
            self.argv,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.pgid = self.popen.pid  # leader of its new session and group
        self._reader = threading.Thread(target=self._read, name=f"demo-{name}-output", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            line = raw.rstrip("\n")
            with contextlib.suppress(ValueError):
                self._log.write(line + "\n")
            with self._cond:
                self._lines.append(line)
                self._cond.notify_all()
            if self._sink is not None:
                with contextlib.suppress(Exception):
                    self._sink(self.name, line)
        with self._cond:
            self._cond.notify_all()

    def output(self) -> list[str]:
        """Every line the process printed so far."""
        with self._cond:
            return list(self._lines)

    def wait_for_line(self, text: str, timeout: float) -> str:
        """Return the first output line containing ``text``.

        Raises :class:`RuntimeError` (with the last lines of output) if the process exits
        first or nothing matches within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for line in self._lines[seen:]:
                    if text in line:
                        return line
                seen = len(self._lines)
                if self.popen.poll() is not None and not self._reader.is_alive():
                    raise RuntimeError(
                        f"{self.name} exited with code {self.popen.returncode} before printing "
                        f"{text!r}; last output:\n" + self.tail()
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RuntimeError(
                        f"{self.name} did not print {text!r} within {timeout:.0f} s; last output:\n"
                        + self.tail()
                    )
                self._cond.wait(min(remaining, 0.5))

    def tail(self, lines: int = 20) -> str:
        return "\n".join(f"    {line}" for line in self._lines[-lines:])

    def group_alive(self) -> bool:
        """True while any process of this child's group still runs (zombies do not count)."""
        return bool(live_group_members(self.pgid))

    def terminate(self) -> None:
        """Send SIGTERM to the whole process group (no-op once it is gone)."""
        if self.popen.poll() is None or self.group_alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, signal.SIGTERM)

    def stopped(self) -> bool:
        """True once the leader has exited and no process of its group runs."""
        return self.popen.poll() is not None and not self.group_alive()

    def kill(self) -> int | None:
        """SIGKILL whatever is left of the group, reap the leader, close the log."""
        if self.group_alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)
        self._reader.join(timeout=2)
        with contextlib.suppress(ValueError):
            self._log.close()
        return self.popen.returncode

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stop the whole process group: SIGTERM, then SIGKILL after ``timeout`` seconds.

        Idempotent. Returns the leader's exit code. Guarantees that no process of the group
        is left when it returns (unless the kernel refuses the kill).
        """
        self.terminate()
        deadline = time.monotonic() + timeout
        while not self.stopped() and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.kill()


class ProcessGroup:
    """The demo's children; :meth:`stop_all` stops them in reverse start order.

    Use it as a context manager, or call :meth:`stop_all` from a ``finally``: it is safe to call
    more than once and from a signal handler's aftermath.
    """

    def __init__(self, log_dir: Path, sink: LineSink | None = None) -> None:
        self.log_dir = log_dir
        self.sink = sink
        self.processes: list[ManagedProcess] = []
        self._lock = threading.Lock()

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ManagedProcess:
        process = ManagedProcess(
            name, argv, log_path=self.log_dir / f"{name}.log", cwd=cwd, env=env, sink=self.sink
        )
        with self._lock:
            self.processes.append(process)
        return process

    def stop_all(self, timeout: float = 10.0) -> None:
        """Stop every child: SIGTERM to all groups at once, SIGKILL what is left after
        ``timeout`` seconds (or at once if SIGINT/SIGTERM arrives again meanwhile).

        Idempotent; returns only when no process of any child's group runs.
        """
        with self._lock:
            processes, self.processes = list(reversed(self.processes)), []
        if not processes:
            return
        hurry = threading.Event()
        previous = _on_signals(lambda signum, frame: hurry.set())
        try:
            for process in processes:
                process.terminate()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not hurry.is_set():
                if all(process.stopped() for process in processes):
                    break
                time.sleep(0.05)
        finally:
            for process in processes:
                process.kill()
            _restore_signals(previous)

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_all()


@contextlib.contextmanager
def signals_raise_keyboard_interrupt() -> Iterator[None]:
    """Turn SIGINT, SIGTERM and SIGHUP into :class:`KeyboardInterrupt` while the block runs.

    Ctrl-C, ``kill <demo pid>`` and a closed terminal all take the same clean-up path, even
    when the demo was started with SIGINT ignored (a background job of a script).
    """

    def _raise(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = _on_signals(_raise)
    try:
        yield
    finally:
        _restore_signals(previous)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _on_signals(handler: Callable[[int, Any], None]) -> dict[int, Any]:
    """Install ``handler`` for the stop signals (main thread only); return the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handler) for sig in _STOP_SIGNALS}


def _restore_signals(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
