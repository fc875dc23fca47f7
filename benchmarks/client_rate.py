"""Benchmark: ``get_intent`` calls per second, our client against the official SDK, same run.

The emulator's HTTP server runs in a child process (so the server's work does not share a GIL
with the clients); one intent is created, then each client calls ``get_intent`` on it for
``--calls`` calls per round, alternating clients round by round so that both see the same
machine noise. Prints the median rate of each client over ``--rounds`` rounds and the ratio
(ours / SDK; the target of issue 14 is >= 1.0).

    .venv/bin/python benchmarks/client_rate.py [--calls 2000] [--rounds 7]

The official SDK (``axme``, in the ``dev`` extra on Python >= 3.11) is the baseline; without
it only our rate is printed. ``--proxy-env`` sets ``HTTP_PROXY``/``NO_PROXY`` (the emulator
bypassed) to measure the cost of proxy support, as a user behind a proxy would have it.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

API_KEY = "axme_sa_bench_client-rate"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_emulator(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "django_axme.emulator", "--port", str(port), "--api-key", API_KEY],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the emulator did not start within 30 s")


def _rate(call: Callable[[], Any], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        call()
    return calls / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per round (default 2000)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds per client (default 7)")
    parser.add_argument(
        "--proxy-env",
        action="store_true",
        help="set HTTP_PROXY/HTTPS_PROXY with NO_PROXY=127.0.0.1 for both clients",
    )
    args = parser.parse_args()
    if args.proxy_env:
        os.environ.update(
            HTTP_PROXY="http://proxy.invalid:3128",
            HTTPS_PROXY="http://proxy.invalid:3128",
            NO_PROXY="127.0.0.1,localhost",
        )

    from django_axme.client import AxmeClient, AxmeClientConfig

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = _start_emulator(port)
    try:
        ours = AxmeClient(AxmeClientConfig(base_url=url, api_key=API_KEY))
        created = ours.create_intent(
            {
                "intent_type": "bench.client_rate.v1",
                "from_agent": "agent://bench/sender",
                "to_agent": "agent://bench/receiver",
                "payload": {"n": 1},
            },
            correlation_id=str(uuid.uuid4()),
        )
        intent_id = created["intent_id"]
        clients: dict[str, Callable[[], Any]] = {"django-axme": lambda: ours.get_intent(intent_id)}
        try:
            import axme

            theirs = axme.AxmeClient(axme.AxmeClientConfig(base_url=url, api_key=API_KEY))
            clients["official SDK"] = lambda: theirs.get_intent(intent_id)
        except ImportError:
            print("the official SDK (axme) is not installed: no baseline")
        for call in clients.values():  # warm up connections and caches
            _rate(call, 50)
        rates: dict[str, list[float]] = {name: [] for name in clients}
        for _ in range(args.rounds):
            for name, call in clients.items():
                rates[name].append(_rate(call, args.calls))
    finally:
        server.terminate()
        server.wait(timeout=10)

    print(
        f"get_intent on the emulator, {args.calls} calls x {args.rounds} rounds"
        f"{' (proxy environment set, emulator in NO_PROXY)' if args.proxy_env else ''}:"
    )
    medians = {name: statistics.median(values) for name, values in rates.items()}
    for name, values in rates.items():
        spread = f"min {min(values):,.0f}, max {max(values):,.0f}"
        print(f"  {name:<14} median {medians[name]:>8,.0f} calls/s  ({spread})")
    if "official SDK" in medians:
        ratio = medians["django-axme"] / medians["official SDK"]
        print(f"  ratio django-axme / official SDK: {ratio:.2f}x (target >= 1.00x)")


if __name__ == "__main__":
    main()
