"""The emulator's real HTTP front door (stdlib ``ThreadingHTTPServer``, one thread per connection).

HTTP/1.1 with keep-alive; JSON answers carry ``Content-Length``; SSE answers are sent with
``Transfer-Encoding: chunked``, one chunk per SSE frame, flushed as it is produced. The server
can be stopped and started again on the same port (:meth:`EmulatorServer.restart`), keeping the
emulator's state; stopping resets every open connection, streams included, at once.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from django_axme.emulator.faults import GatewayUnavailable, StreamCut
from django_axme.emulator.http_types import EmulatorRequest, EmulatorResponse

__all__ = ["EmulatorServer"]

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 128 * 1024 * 1024
_ALLOWED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


class RequestHandlerTarget(Protocol):
    """Anything that answers an :class:`EmulatorRequest` (an ``Emulator`` or a bare ``Gateway``)."""

    def handle(self, req: EmulatorRequest) -> EmulatorResponse: ...


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 2048

    def __init__(self, address: tuple[str, int], target: RequestHandlerTarget) -> None:
        self.target = target
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug(
            "emulator connection from %s ended with an error", client_address, exc_info=True
        )

    def reset_connections(self) -> None:
        """Shut down every open connection (both directions) so that clients see EOF now."""
        with self.connections_lock:
            conns = list(self.connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def _abort(conn: socket.socket) -> None:
    """Reset a connection (RST rather than FIN) so the client sees a transport error."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AxmeEmulator/1.0"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle plus the
    # client's delayed ACK adds ~40 ms to every call.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                total += size
                if total > MAX_BODY_BYTES:
                    raise ValueError("request body too large")
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY_BYTES:
            raise ValueError("bad Content-Length")
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except ValueError as exc:
            self.close_connection = True
            self._send(
                EmulatorResponse.json(400, {"error": {"code": "bad_request", "message": str(exc)}})
            )
            return
        url = urlsplit(self.path)
        req = EmulatorRequest(
            method=self.command.upper(),
            path=url.path or "/",
            query=parse_qs(url.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        try:
            resp = self.server.target.handle(req)
        except GatewayUnavailable:
            self.close_connection = True
            _abort(self.connection)
            return
        except Exception:
            logger.exception("emulator failed on %s %s", req.method, req.path)
            resp = EmulatorResponse.json(
                500, {"error": {"code": "internal_error", "message": "emulator error"}}
            )
        self._send(resp)

    def _send(self, resp: EmulatorResponse) -> None:
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        if resp.stream is None:
            self.send_header("Content-Length", str(len(resp.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and resp.body:
                self.wfile.write(resp.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Accel-Buffering", "no")
        self.end_headers()
        self.wfile.flush()
        if self.command == "HEAD":
            _close(resp.stream)
            return
        self._stream(resp.stream)

    def _stream(self, frames: Iterator[bytes]) -> None:
        stopping = self.server.stopping
        try:
            for frame in frames:
                if stopping.is_set():
                    raise StreamCut("server stopping")
                self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            self.wfile.write(b"0\r\n\r\n")
        except (StreamCut, GatewayUnavailable):
            self.close_connection = True
            _abort(self.connection)
        except OSError:  # the client went away
            self.close_connection = True
        finally:
            _close(frames)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def _method_not_allowed(self) -> None:
        """405 with an ``Allow`` header for any other method (TRACE, CONNECT, made-up ones),
        where ``http.server`` would answer 501. The request body is not read, so the
        connection is closed after the answer."""
        self.close_connection = True
        message = f"method {self.command[:32]} not allowed"
        self._send(
            EmulatorResponse.json(
                405,
                {"error": {"code": "method_not_allowed", "message": message}, "detail": message},
                headers={"Allow": ", ".join(_ALLOWED_METHODS)},
            )
        )

    def __getattr__(self, name: str) -> Any:
        # http.server looks up ``do_<METHOD>``; every method without one is refused with 405.
        if name.startswith("do_"):
            return self._method_not_allowed
        raise AttributeError(name)


def _close(frames: Iterator[bytes]) -> None:
    close = getattr(frames, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            logger.debug("closing an emulator stream failed", exc_info=True)


class EmulatorServer:
    """Serve an emulator (or a bare gateway) over real HTTP on ``host:port`` (0 = ephemeral).

    ``start()`` binds and serves on a daemon thread and returns the server; :attr:`url` is the
    base URL. ``stop()`` closes the listening socket and resets every open connection (streams
    end at once for clients). ``restart(downtime)`` stops, waits, and listens again on the same
    port; the emulator's state is untouched. If the target has a ``faults`` plan, its restart
    faults call :meth:`restart`.
    """

    def __init__(
        self, emulator: RequestHandlerTarget, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.emulator = emulator
        self.host = host
        self.port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self.restarts = 0
        faults = getattr(emulator, "faults", None)
        if faults is not None and hasattr(faults, "add_restart_handler"):
            faults.add_restart_handler(self._restart_in_background)

    def __repr__(self) -> str:
        return f"<EmulatorServer {self.url if self._httpd else 'stopped'}>"

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8765`` (IPv6 hosts are bracketed)."""
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def start(self) -> EmulatorServer:
        """Bind and serve in the background; idempotent. Returns ``self``."""
        with self._lock:
            if self._httpd is not None:
                return self
            httpd = self._bind()
            self.port = httpd.server_address[1]
            self._httpd = httpd
            self._thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"axme-emulator-http-{self.port}",
                daemon=True,
            )
            self._thread.start()
            return self

    def _bind(self) -> _HTTPServer:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        deadline = time.monotonic() + 5.0
        while True:
            try:
                cls = type("_Bound", (_HTTPServer,), {"address_family": family})
                return cls((self.host, self.port), self.emulator)
            except OSError:
                if self.port == 0 or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # the old socket of a restart may linger for a moment

    def stop(self) -> None:
        """Stop serving and reset every open connection. Idempotent."""
        with self._lock:
            httpd, self._httpd = self._httpd, None
            thread, self._thread = self._thread, None
        if httpd is None:
            return
        httpd.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        httpd.reset_connections()
        if thread is not None:
            thread.join(5)

    def restart(self, downtime: float = 0.0) -> None:
        """Stop, stay down ``downtime`` seconds, listen again on the same port (state kept)."""
        with self._lock:
            self.stop()
            if downtime:
                time.sleep(downtime)
            # Counted before listening again: a client answered by the new listener always
            # sees the restart counted.
            self.restarts += 1
            self.start()

    def _restart_in_background(self, downtime: float) -> None:
        if self._httpd is None:  # a stopped server stays stopped
            return
        threading.Thread(
            target=self.restart, args=(downtime,), name="axme-emulator-restart", daemon=True
        ).start()

    def serve_until(self, stop_event: threading.Event) -> None:
        """Block until ``stop_event`` is set, then stop (used by the CLI)."""
        self.start()
        while not stop_event.wait(0.5):
            pass
        self.stop()
