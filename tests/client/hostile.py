"""Misbehaving HTTP servers on 127.0.0.1 for the hostile-gateway tests and benchmark.

Each server accepts connections in a thread and hands every request to a *behaviour*: a
function ``(request_line, conn)`` that writes whatever bytes it likes to the socket. Every
loop here is bounded (``stop`` event, byte budgets, send timeouts), so a test that fails still
ends.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Behaviour = Callable[[str, socket.socket, threading.Event], None]

# No behaviour runs longer than this, whatever the client does.
MAX_BEHAVIOUR_SECONDS = 30.0


class HostileServer:
    """A TCP server answering each request with ``behaviour``; ``requests`` lists the request
    lines received."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests: list[str] = []
        self.stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5.0)
        try:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            self.requests.append(line)
            self.behaviour(line, conn, self.stop)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self._sock.close()
        self._thread.join(2)


@contextmanager
def hostile_server(behaviour: Behaviour) -> Iterator[HostileServer]:
    server = HostileServer(behaviour)
    try:
        yield server
    finally:
        server.close()


def _until(stop: threading.Event) -> Callable[[], bool]:
    ends = time.monotonic() + MAX_BEHAVIOUR_SECONDS
    return lambda: not stop.is_set() and time.monotonic() < ends


# -- behaviours ------------------------------------------------------------------------------


def trickle_headers(interval: float = 0.1) -> Behaviour:
    """A status line, then one header byte every ``interval`` seconds, never ending."""

    def run(line: str, conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        going = _until(stop)
        while going():
            conn.sendall(b"a")
            time.sleep(interval)

    return run


def trickle_body(content_length: int = 2_000_000_000, interval: float = 0.1) -> Behaviour:
    """Headers at once (``Content-Length`` as given), then one body byte every ``interval``."""

    def run(line: str, conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n{" % content_length
        )
        going = _until(stop)
        while going():
            conn.sendall(b" ")
            time.sleep(interval)

    return run


def flood(
    status: int = 200,
    content_length: int | None = None,
    budget: int = 4 * 1024**3,
    extra_headers: bytes = b"",
) -> Behaviour:
    """A body of ``budget`` bytes at full speed (chunked unless ``content_length``)."""

    def run(line: str, conn: socket.socket, stop: threading.Event) -> None:
        framing = (
            b"Transfer-Encoding: chunked\r\n"
            if content_length is None
            else b"Content-Length: %d\r\n" % content_length
        )
        conn.sendall(
            b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\n%s%s\r\n"
            % (status, framing, extra_headers)
        )
        block = b"[" + b"0," * 32767 + b"0"
        sent = 0
        going = _until(stop)
        while going() and sent < budget:
            if content_length is None:
                conn.sendall(b"%x\r\n%s\r\n" % (len(block), block))
            else:
                conn.sendall(block)
            sent += len(block)

    return run


def gzip_bomb_bytes(expanded: int) -> bytes:
    """A gzip member that inflates to ``expanded`` bytes of ``{"a":"000...`` (built in 1 MiB
    steps, so building a 1 GiB bomb stays small in memory)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [packer.compress(b'{"a":"')]
    step = b"0" * (1024 * 1024)
    for _ in range(expanded // len(step)):
        parts.append(packer.compress(step))
    parts.append(packer.compress(b'"}'))
    parts.append(packer.flush())
    return b"".join(parts)


def fixed(
    status: int, body: bytes, headers: bytes = b"", content_type: bytes = b"application/json"
) -> Behaviour:
    """One ordinary answer."""

    def run(line: str, conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(
            b"HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n"
            % (status, content_type, len(body), headers)
        )
        conn.sendall(body)

    return run


def silent() -> Behaviour:
    """Reads the request and never answers."""

    def run(line: str, conn: socket.socket, stop: threading.Event) -> None:
        going = _until(stop)
        while going():
            time.sleep(0.05)

    return run


def sse(body_writer: Callable[[socket.socket, Callable[[], bool]], None]) -> Behaviour:
    """An SSE answer (no Content-Length, closed at the end) whose body ``body_writer``
    writes; ``body_writer`` gets the socket and a ``going()`` predicate."""

    def run(line: str, conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
        )
        body_writer(conn, _until(stop))

    return run


def keepalives_forever(
    interval: float = 0.05,
) -> Callable[[socket.socket, Callable[[], bool]], None]:
    def write(conn: socket.socket, going: Callable[[], bool]) -> None:
        while going():
            conn.sendall(b": keep-alive\n\n")
            time.sleep(interval)

    return write


def endless_line(block: int = 65536) -> Callable[[socket.socket, Callable[[], bool]], None]:
    """``data: xxxxx...`` without a newline, as fast as the client reads."""

    def write(conn: socket.socket, going: Callable[[], bool]) -> None:
        conn.sendall(b"event: intent.created\ndata: ")
        chunk = b"x" * block
        while going():
            conn.sendall(chunk)

    return write


def event_bytes(seq: int, status: str = "SUBMITTED", pad: int = 0) -> bytes:
    data = {"intent_id": "it_1", "seq": seq, "event_type": "intent.created", "status": status}
    if pad:
        data["pad"] = "p" * pad
    return b"event: intent.created\ndata: %s\n\n" % json.dumps(data).encode()


def routes(table: dict[str, Behaviour], default: Behaviour | None = None) -> Behaviour:
    """Pick a behaviour by the first route whose text is in the request line."""

    def run(line: str, conn: socket.socket, stop: threading.Event) -> None:
        for needle, behaviour in table.items():
            if needle in line:
                behaviour(line, conn, stop)
                return
        (default or fixed(404, b'{"error":"not found"}'))(line, conn, stop)

    return run


def run_bounded(
    fn: Callable[[], object], limit: float
) -> tuple[object, BaseException | None, float]:
    """Run ``fn`` in a thread for at most ``limit`` seconds: (result, exception, seconds).

    Raises ``AssertionError`` when it is still running then (the client hung), so a test
    against the old, unbounded client fails instead of hanging."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:
            box["error"] = exc

    started = time.monotonic()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit)
    elapsed = time.monotonic() - started
    if thread.is_alive():
        raise AssertionError(f"still running after {limit:.1f}s: the call has no deadline")
    error = box.get("error")
    return box.get("result"), error if isinstance(error, BaseException) else None, elapsed
