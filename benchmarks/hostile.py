"""Benchmark: the client against hostile gateways, time and peak memory per answer.

    python benchmarks/hostile.py                 # every scenario, this checkout's client
    python benchmarks/hostile.py --only gzip-bomb-1GiB sse-line-32MiB
    python benchmarks/hostile.py --client-path /tmp/old   # another copy of django_axme

Each scenario runs its client call in a fresh child process (so its ``VmHWM`` is that call's
peak) against a misbehaving server on 127.0.0.1 run by this process (``tests/client/
hostile.py``). The child is limited to ``--memory-mb`` of address space and killed after
``--kill-after`` seconds, so an unbounded client shows up as ``MemoryError`` or ``killed``
instead of taking the machine down. Prints one line per scenario: outcome, seconds, peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.client import hostile  # noqa: E402

MiB = 1024 * 1024


def _sse_line(size: int) -> hostile.Behaviour:
    def write(conn, going) -> None:
        conn.sendall(b"event: intent.created\ndata: ")
        payload = json.dumps({"seq": 1, "pad": "p" * size}).encode()
        view = memoryview(payload)
        for i in range(0, len(payload), 4096):
            if not going():
                return
            conn.sendall(view[i : i + 4096])
        conn.sendall(b"\n\n")

    return hostile.sse(write)


def scenarios() -> dict[str, tuple[hostile.Behaviour, str, dict]]:
    """name -> (server behaviour, client call, config overrides)."""
    events = json.dumps({"ok": True, "events": []}).encode()
    bomb = hostile.gzip_bomb_bytes(1024 * MiB)
    return {
        "trickle-body-1B/0.5s": (
            hostile.trickle_body(content_length=5000, interval=0.5),
            "get",
            {},
        ),
        "trickle-headers-1B/0.5s": (hostile.trickle_headers(0.5), "get", {}),
        "declared-2GB-at-full-speed": (hostile.flood(content_length=2_000_000_000), "get", {}),
        "chunked-2GB-at-full-speed": (hostile.flood(budget=2 * 1024 * MiB), "get", {}),
        "gzip-bomb-1GiB": (
            hostile.fixed(200, bomb, headers=b"Content-Encoding: gzip\r\n"),
            "get",
            {},
        ),
        "error-500-200MB": (hostile.flood(status=500, content_length=200 * MiB), "get", {}),
        "error-500-chunked-2GB": (
            hostile.flood(status=500, budget=2 * 1024 * MiB),
            "get",
            {},
        ),
        "sse-keepalives-forever": (
            hostile.routes(
                {
                    "/events/stream": hostile.sse(hostile.keepalives_forever()),
                    "/events": hostile.fixed(200, events),
                }
            ),
            "window",
            {},
        ),
        "sse-endless-line": (
            hostile.routes(
                {
                    "/events/stream": hostile.sse(hostile.endless_line()),
                    "/events": hostile.fixed(200, events),
                }
            ),
            "window",
            {},
        ),
        "sse-line-8MiB": (_sse_line(8 * MiB), "stream", {"max_sse_event_bytes": 64 * MiB}),
        "sse-line-32MiB": (_sse_line(32 * MiB), "stream", {"max_sse_event_bytes": 64 * MiB}),
        "silent-observe-5s": (hostile.silent(), "observe", {"timeout_seconds": 60}),
    }


CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from django_axme.client import AxmeClient, AxmeClientConfig
url, call, overrides, memory = sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), int(sys.argv[5])
resource.setrlimit(resource.RLIMIT_AS, (memory * 1024 * 1024, memory * 1024 * 1024))
options = dict(base_url=url, api_key="axme_sa_bench", timeout_seconds=2.0,
               connect_timeout_seconds=1.0, max_retries=0)
options.update(overrides)
try:
    config = AxmeClientConfig(**options)
except TypeError:  # an older client without the new fields
    for name in ("max_response_bytes", "max_sse_event_bytes"):
        options.pop(name, None)
    config = AxmeClientConfig(**options)
client = AxmeClient(config)
started = time.monotonic()
try:
    if call == "get":
        client.get_intent("it_1")
    elif call == "window":
        list(client.observe_window("it_1", wait_seconds=2))
    elif call == "stream":
        list(client._intent_window("it_1", 0, 30, None))
    elif call == "observe":
        list(client.observe("it_1", timeout_seconds=5))
    outcome = "returned"
except BaseException as exc:
    outcome = type(exc).__name__
seconds = time.monotonic() - started
# VmHWM is this process image's own peak (ru_maxrss may carry the parent's from the fork)
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
print(json.dumps({"outcome": outcome, "seconds": round(seconds, 2), "peak_mb": round(peak)}))
"""


def _peak_rss_mb(pid: int) -> int | None:
    """The peak RSS of a running process (Linux ``VmHWM``), in MB."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return None


def run(name: str, behaviour, call: str, overrides: dict, args) -> dict:
    with hostile.hostile_server(behaviour) as server:
        started = time.monotonic()
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                args.client_path,
                server.url,
                call,
                json.dumps(overrides),
                str(args.memory_mb),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": args.client_path},
        )
        try:
            out, _ = child.communicate(timeout=args.kill_after)
        except subprocess.TimeoutExpired:
            peak = _peak_rss_mb(child.pid)
            child.kill()
            child.communicate()
            return {
                "outcome": f"killed after {args.kill_after}s",
                "seconds": round(time.monotonic() - started, 2),
                "peak_mb": peak,
            }
    try:
        return json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"outcome": f"crashed (exit {child.returncode})", "seconds": None, "peak_mb": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", help="scenario names to run")
    parser.add_argument("--client-path", default=str(ROOT), help="directory holding django_axme")
    parser.add_argument("--memory-mb", type=int, default=3072)
    parser.add_argument("--kill-after", type=float, default=30.0)
    args = parser.parse_args()
    table = scenarios()
    for name, (behaviour, call, overrides) in table.items():
        if args.only and name not in args.only:
            continue
        result = run(name, behaviour, call, overrides, args)
        print(
            f"{name:28s} {result['outcome']:32s} {result['seconds']!s:>7s} s"
            f" {result['peak_mb']!s:>6s} MB peak RSS",
            flush=True,
        )


if __name__ == "__main__":
    main()
