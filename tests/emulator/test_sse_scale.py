"""1,000 concurrent SSE clients on the HTTP server all receive every event, in order.

The clients are raw non-blocking sockets driven by one ``selectors`` loop (1,000 ``requests``
sessions would measure the client, not the server).
"""

from __future__ import annotations

import re
import resource
import selectors
import socket
import time

import pytest

from django_axme.emulator import Emulator, EmulatorServer

from .helpers import WORKER, intent_body

CLIENTS = 1000
ID_LINE = re.compile(rb"^id: (\d+)$", re.M)


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_thousand_concurrent_streams_receive_every_event_in_order():
    _raise_fd_limit(2 * CLIENTS + 256)
    emulator = Emulator()
    server = EmulatorServer(emulator).start()
    sel = selectors.DefaultSelector()
    socks: list[socket.socket] = []
    try:
        intent_id = emulator.create_intent(intent_body(WORKER))["intent_id"]
        request = (
            f"GET /v1/intents/{intent_id}/events/stream?since=0&wait_seconds=45 HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\nx-api-key: {emulator.api_key}\r\n"
            "Accept: text/event-stream\r\n\r\n"
        ).encode()
        received: dict[int, bytearray] = {}
        started = time.monotonic()
        for i in range(CLIENTS):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            s.sendall(request)
            s.setblocking(False)
            socks.append(s)
            received[i] = bytearray()
            sel.register(s, selectors.EVENT_READ, i)

        def pump(until, timeout: float) -> None:
            deadline = time.monotonic() + timeout
            while not until() and time.monotonic() < deadline:
                for key, _ in sel.select(0.5):
                    try:
                        data = key.fileobj.recv(65536)
                    except BlockingIOError:
                        continue
                    if not data:
                        sel.unregister(key.fileobj)
                        continue
                    received[key.data] += data

        def seqs(i: int) -> list[int]:
            return [int(m) for m in ID_LINE.findall(bytes(received[i]))]

        # every client has its backlog (CREATED, SUBMITTED) before anything new happens
        pump(lambda: all(len(seqs(i)) >= 2 for i in received), 60)
        connected = time.monotonic() - started
        assert all(seqs(i) == [1, 2] for i in received), "backlog missing on some streams"
        for _ in range(3):  # DELIVERED, IN_PROGRESS, COMPLETED, pushed live to every stream
            emulator.advance(intent_id)
        pump(lambda: all(len(seqs(i)) >= 5 for i in received), 60)
        elapsed = time.monotonic() - started
        bad = [i for i in received if seqs(i) != [1, 2, 3, 4, 5]]
        assert not bad, f"{len(bad)} streams missed or reordered events, e.g. {seqs(bad[0])}"
        assert all(b"200 OK" in bytes(received[i][:64]) for i in received)
        print(
            f"{CLIENTS} streams: backlog on all after {connected:.1f}s, "
            f"all 5 events after {elapsed:.1f}s"
        )
    finally:
        for s in socks:
            s.close()
        sel.close()
        server.stop()
        emulator.close()
