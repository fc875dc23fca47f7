"""SSE over real sockets: frames are read as they arrive, and a cut connection is resumed."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import event_frame, make_client

Handler = Callable[[BaseHTTPRequestHandler, dict[str, list[str]]], None]


class _Server:
    def __init__(self, handle: Handler) -> None:
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        outer = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                q = parse_qs(url.query)
                outer.requests.append((url.path, q))
                handle(self, q)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], _Server]]:
    servers: list[_Server] = []

    def start(handle: Handler) -> _Server:
        server = _Server(handle)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _frame(seq: int, event_type: str = "intent.in_progress", status: str = "IN_PROGRESS") -> bytes:
    return (event_frame(seq, event_type, status, intent_id="i") + "\n\n").encode()


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "close-delimited"])
def test_first_event_arrives_before_the_window_ends(serve, chunked: bool) -> None:
    """The server holds the window open until the client has seen event 1: a client that
    buffered the whole window would never see it (and the test would time out)."""
    seen_first = threading.Event()

    def handle(h: BaseHTTPRequestHandler, q) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        if chunked:
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Connection", "close")
        h.end_headers()

        def write(data: bytes) -> None:
            if chunked:
                h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            else:
                h.wfile.write(data)
            h.wfile.flush()

        write(b": keep-alive\n\n" + _frame(1))
        seen_first.wait(10)
        write(_frame(2, "intent.completed", "COMPLETED"))
        if chunked:
            h.wfile.write(b"0\r\n\r\n")
        h.close_connection = True

    server = serve(handle)
    client = make_client(base_url=server.url)
    seqs = []
    for event in client.observe_window("i", wait_seconds=5):
        seqs.append(event["seq"])
        seen_first.set()
    assert seqs == [1, 2]


def test_cut_connection_resumes_from_last_seq(serve) -> None:
    def handle(h: BaseHTTPRequestHandler, q) -> None:
        since = int(q.get("since", ["0"])[0])
        if h.path.split("?")[0].endswith("/events"):
            events = [
                {
                    "intent_id": "i",
                    "seq": s,
                    "event_type": "intent.in_progress",
                    "status": "IN_PROGRESS",
                }
                for s in (2, 3)
                if s > since
            ]
            body = json.dumps({"ok": True, "events": events}).encode()
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Connection", "close")
        h.end_headers()
        if since == 0:
            h.wfile.write(_frame(1) + _frame(2) + _frame(3)[:25])  # cut inside seq 3
            h.wfile.flush()
            # SO_LINGER 0: closing sends a TCP reset, as a dropped connection would.
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.close_connection = True
            return
        h.wfile.write(_frame(3) + _frame(4, "intent.completed", "COMPLETED"))
        h.close_connection = True

    server = serve(handle)
    client = make_client(base_url=server.url)
    events = list(client.observe("i", poll_interval_seconds=0, timeout_seconds=20))
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    stream_sinces = [q["since"][0] for p, q in server.requests if p.endswith("/stream")]
    assert stream_sinces[0] == "0" and stream_sinces[-1] == "3"


def test_a_hole_that_stays_open_is_filled_while_the_window_is_still_open(serve) -> None:
    """seq 2 is lost on the stream. Once the hole has been open for a second, the next frame
    makes the client read seq 2 from the events list, so seq 2 and 3 are yielded while the
    server still holds the window open (it waits for the client to see seq 4 before it
    sends the terminal seq 5)."""
    saw_four = threading.Event()
    server_waited: list[bool] = []

    def handle(h: BaseHTTPRequestHandler, q) -> None:
        if h.path.split("?")[0].endswith("/events"):
            since = int(q.get("since", ["0"])[0])
            events = [
                {"intent_id": "i", "seq": s, "event_type": "intent.in_progress"}
                for s in (1, 2, 3, 4)
                if s > since
            ]
            body = json.dumps({"ok": True, "events": events}).encode()
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(_frame(1) + _frame(3))  # seq 2 lost
        h.wfile.flush()
        time.sleep(1.2)
        h.wfile.write(_frame(4))
        h.wfile.flush()
        server_waited.append(saw_four.wait(10))
        h.wfile.write(_frame(5, "intent.completed", "COMPLETED"))
        h.close_connection = True

    server = serve(handle)
    client = make_client(base_url=server.url)
    seqs = []
    for event in client.observe_window("i", wait_seconds=30):
        seqs.append(event["seq"])
        if event["seq"] == 4:
            saw_four.set()
    assert seqs == [1, 2, 3, 4, 5]
    assert server_waited == [True], "seq 4 was held until the window ended"
    assert [q.get("since") for p, q in server.requests if p.endswith("/events")] == [["1"]]
