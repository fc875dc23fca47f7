"""Benchmark: N concurrent SSE streams on the emulator's HTTP server.

    python benchmarks/sse_streams.py --clients 1000 --events 20

Opens N raw sockets on one intent's event stream (one ``selectors`` loop, so the client side
stays cheap), then appends events one by one and measures how long it takes until every stream
has received each event (fan-out latency), and checks that every stream got every event in
order.
"""

from __future__ import annotations

import argparse
import re
import resource
import selectors
import socket
import statistics
import time
import uuid

from django_axme.emulator import Emulator, EmulatorServer

ID_LINE = re.compile(rb"^id: (\d+)$", re.M)


def run(clients: int, events: int) -> dict[str, float]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 2 * clients + 256), hard), hard))
    emulator = Emulator()
    server = EmulatorServer(emulator).start()
    sel = selectors.DefaultSelector()
    socks = []
    last_seq = {i: 0 for i in range(clients)}
    buffers = {i: bytearray() for i in range(clients)}
    order_ok = True
    try:
        intent_id = emulator.create_intent(
            {
                "intent_type": "bench.sse.v1",
                "correlation_id": str(uuid.uuid4()),
                "from_agent": "agent://bench/sender",
                "to_agent": "agent://bench/receiver",
                "payload": {},
            }
        )["intent_id"]
        request = (
            f"GET /v1/intents/{intent_id}/events/stream?since=0&wait_seconds=60 HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nx-api-key: {emulator.api_key}\r\n\r\n"
        ).encode()
        t0 = time.monotonic()
        for i in range(clients):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            s.sendall(request)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)
            socks.append(s)

        def pump(target: int, timeout: float = 60.0) -> None:
            nonlocal order_ok
            deadline = time.monotonic() + timeout
            while min(last_seq.values()) < target:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"not every stream reached seq {target}")
                for key, _ in sel.select(0.5):
                    try:
                        data = key.fileobj.recv(65536)
                    except BlockingIOError:
                        continue
                    if not data:
                        sel.unregister(key.fileobj)
                        continue
                    buf = buffers[key.data]
                    buf += data
                    cut = buf.rfind(b"\n\n")
                    if cut < 0:
                        continue
                    for seq in map(int, ID_LINE.findall(bytes(buf[: cut + 2]))):
                        if seq != last_seq[key.data] + 1:
                            order_ok = False
                        last_seq[key.data] = seq
                    del buf[: cut + 2]

        pump(2)
        connect_seconds = time.monotonic() - t0
        latencies = []
        seq = 2
        for n in range(events):
            started = time.monotonic()
            status = "IN_PROGRESS" if n % 2 == 0 else "WAITING"
            kwargs = {"waiting_reason": "WAITING_FOR_TOOL"} if status == "WAITING" else {}
            if n == 0:
                emulator.transition(intent_id, "DELIVERED")
            else:
                emulator.transition(intent_id, status, **kwargs)
            seq += 1
            pump(seq)
            latencies.append(time.monotonic() - started)
        return {
            "clients": clients,
            "events": events,
            "connect_and_backlog_s": round(connect_seconds, 2),
            "fanout_median_ms": round(statistics.median(latencies) * 1000, 1),
            "fanout_max_ms": round(max(latencies) * 1000, 1),
            "in_order": order_ok,
        }
    finally:
        for s in socks:
            s.close()
        sel.close()
        server.stop()
        emulator.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20)
    args = parser.parse_args()
    print(run(args.clients, args.events))


if __name__ == "__main__":
    main()
