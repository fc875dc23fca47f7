"""The emulator of ``benchmarks/scaleout.py``: in a process of its own (the default) or in the
benchmark's process, driven through the same few commands (create intents, move them, read
their events). The child process answers JSON lines on stdin/stdout; bulky answers go through
files in the benchmark's directory."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

AGENT = "agent://bench/scaleout"


class EmulatorHost:
    """An emulator and its HTTP server; :meth:`handle` runs one command."""

    def __init__(self, api_key: str) -> None:
        from django_axme.emulator import Emulator, EmulatorServer

        self.emulator = Emulator(api_key=api_key)
        self.server = EmulatorServer(self.emulator).start()
        self.url = self.server.url
        self.serial = 0

    def handle(self, cmd: dict[str, Any]) -> dict[str, Any]:
        op, emu = cmd["op"], self.emulator
        if op == "create":
            snapshots = []
            for _ in range(int(cmd["n"])):
                self.serial += 1
                body = {
                    "intent_type": "intent.bench.scaleout.v1",
                    "to_agent": AGENT,
                    "payload": {"i": self.serial},
                }
                snapshots.append(emu.get_intent(emu.create_intent(body)["intent_id"]))
            Path(cmd["out"]).write_text(json.dumps(snapshots))
            return {"ok": True}
        ids = json.loads(Path(cmd["ids"]).read_text())
        if op == "move":
            first = time.time()
            seqs = {}
            for intent_id in ids:
                if cmd["status"] == "COMPLETED":
                    emu.resolve(intent_id, "COMPLETED", result={"ok": True})
                    seqs[intent_id] = int(emu.events(intent_id)[-1]["seq"])
                else:
                    seqs[intent_id] = int(emu.transition(intent_id, cmd["status"])["seq"])
            last = time.time()
            Path(cmd["out"]).write_text(json.dumps(seqs))
            return {"first": first, "last": last}
        if op == "events":
            events = {i: [[e["seq"], e.get("status")] for e in emu.events(i)] for i in ids}
            Path(cmd["out"]).write_text(json.dumps(events))
            return {"ok": True}
        raise ValueError(f"unknown command {op!r}")

    def close(self) -> None:
        self.server.stop()
        self.emulator.close()


def emulator_child(api_key: str) -> None:
    """The child process: serve, answer commands until stdin closes."""
    host = EmulatorHost(api_key)
    print(json.dumps({"url": host.url}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            answer = host.handle(json.loads(line))
        except Exception as exc:  # reported to the parent
            answer = {"error": repr(exc)}
        print(json.dumps(answer), flush=True)
    host.close()


class EmulatorProcess:
    """The benchmark's handle on the emulator (child process, or in this process)."""

    def __init__(self, api_key: str, *, inproc: bool, work: Path) -> None:
        self.work = work
        self.lock = threading.Lock()
        self.calls = 0
        self.host: EmulatorHost | None = None
        self.proc: subprocess.Popen[str] | None = None
        if inproc:
            self.host = EmulatorHost(api_key)
            self.url = self.host.url
        else:
            script = Path(__file__).resolve().parent / "scaleout.py"
            self.proc = subprocess.Popen(
                [sys.executable, str(script), "--emulator-child", api_key],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert self.proc.stdout is not None
            self.url = json.loads(self.proc.stdout.readline())["url"]

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def _call(
        self, cmd: dict[str, Any], ids: list[str] | None = None
    ) -> tuple[dict[str, Any], Any]:
        with self.lock:
            self.calls += 1
            out = self.work / f"emu-out-{self.calls}.json"
            cmd = {**cmd, "out": str(out)}
            if ids is not None:
                path = self.work / f"emu-ids-{self.calls}.json"
                path.write_text(json.dumps(ids))
                cmd["ids"] = str(path)
            if self.host is not None:
                answer = self.host.handle(cmd)
            else:
                assert self.proc is not None and self.proc.stdin and self.proc.stdout
                self.proc.stdin.write(json.dumps(cmd) + "\n")
                self.proc.stdin.flush()
                answer = json.loads(self.proc.stdout.readline())
            if "error" in answer:
                raise RuntimeError(f"emulator: {answer['error']}")
            data = json.loads(out.read_text()) if out.exists() else None
            return answer, data

    def create(self, n: int) -> list[dict[str, Any]]:
        return self._call({"op": "create", "n": n})[1]

    def move(self, ids: list[str], status: str) -> tuple[float, float, dict[str, int]]:
        """Move every intent (in order); returns first/last emit times and each new seq."""
        answer, seqs = self._call({"op": "move", "status": status}, ids)
        return answer["first"], answer["last"], seqs

    def events(self, ids: list[str]) -> dict[str, list[list[Any]]]:
        return self._call({"op": "events"}, ids)[1]

    def close(self) -> None:
        if self.host is not None:
            self.host.close()
        if self.proc is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
