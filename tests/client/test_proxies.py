"""Proxy support survives the fast path: the environment is read once, when the client is built.

A tiny HTTP server plays the forward proxy (for ``http://`` targets a proxy receives the
absolute URL in the request line); the gateway host does not exist, so an answer can only come
through the proxy.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from django_axme.client import AxmeClient, AxmeClientConfig, AxmeTransportError

API_KEY = "axme_sa_proxy_test-key"
GATEWAY = "http://gateway.invalid:8080"


class _Proxy(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        body = json.dumps({"ok": True, "via": "proxy"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[str]:
    _Proxy.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _client() -> AxmeClient:
    return AxmeClient(
        AxmeClientConfig(
            base_url=GATEWAY,
            api_key=API_KEY,
            max_retries=0,
            timeout_seconds=2,
            connect_timeout_seconds=1,
        )
    )


def _clear_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def test_http_proxy_from_the_environment_carries_the_calls(proxy, monkeypatch) -> None:
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    client = _client()
    try:
        assert client.health() == {"ok": True, "via": "proxy"}
        assert client.health()["via"] == "proxy"
    finally:
        client.close()
    assert _Proxy.seen == [f"{GATEWAY}/health", f"{GATEWAY}/health"]


def test_no_proxy_naming_the_gateway_bypasses_the_proxy(proxy, monkeypatch) -> None:
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", "gateway.invalid")
    client = _client()
    try:
        with pytest.raises(AxmeTransportError):
            client.health()  # direct: the host does not resolve
    finally:
        client.close()
    assert _Proxy.seen == []


def test_the_environment_is_read_when_the_client_is_built(proxy, monkeypatch) -> None:
    _clear_proxy_env(monkeypatch)
    client = _client()  # built without a proxy
    monkeypatch.setenv("HTTP_PROXY", proxy)
    try:
        with pytest.raises(AxmeTransportError):
            client.health()
        rebuilt = _client()
        try:
            assert rebuilt.health()["via"] == "proxy"
        finally:
            rebuilt.close()
    finally:
        client.close()
    assert _Proxy.seen == [f"{GATEWAY}/health"]
