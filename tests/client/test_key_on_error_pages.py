"""The API key never shows on Django's error pages (issue 12, High 5).

Each failing call is rendered the way a DEBUG site (``technical_500_response``) and
``AdminEmailHandler(include_html=True)`` (``ExceptionReporter(is_email=True)``) render an
unhandled exception, local variables of every frame (the chained requests/urllib3 ones
included) and all; the key must not appear in either.
"""

from __future__ import annotations

import socket
import sys

import pytest
from django.test import RequestFactory
from django.views.debug import ExceptionReporter, technical_500_response

from django_axme.client import AxmeClient, AxmeClientConfig, AxmeError

from . import hostile

KEY = "axme_sa_LEAKCHECK_0123456789abcdef"
TOKEN = "actor_TOKEN_fedcba9876543210"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _client(url: str, **extra) -> AxmeClient:
    return AxmeClient(
        AxmeClientConfig(
            base_url=url,
            api_key=KEY,
            timeout_seconds=0.5,
            connect_timeout_seconds=0.5,
            max_retries=0,
            **extra,
        )
    )


def _pages(call) -> tuple[str, str, BaseException]:
    """Render the technical 500 page and the HTML error e-mail for ``call``'s exception."""
    request = RequestFactory().get("/admin/django_axme/intent/")
    try:
        call()
    except AxmeError:
        exc_info = sys.exc_info()
    else:  # pragma: no cover - the call must fail
        raise AssertionError("the call did not fail")
    html = technical_500_response(request, *exc_info).content.decode()
    email = ExceptionReporter(request, *exc_info, is_email=True).get_traceback_html()
    text = ExceptionReporter(request, *exc_info).get_traceback_text()
    assert exc_info[1] is not None
    return html + text, email, exc_info[1]


def _assert_clean(call) -> None:
    page, email, _ = _pages(call)
    # The pages do show frame locals (so the check is meaningful) ...
    assert "local vars" in page.lower() and "local vars" in email.lower()
    assert "headers" in page
    # ... and never the secrets.
    for secret in (KEY, TOKEN):
        assert secret not in page
        assert secret not in email


@pytest.mark.parametrize("auth_style", ["x-api-key", "bearer"])
def test_connection_refused(auth_style: str, settings) -> None:
    settings.DEBUG = True
    extra = {"actor_token": TOKEN} if auth_style == "x-api-key" else {}
    client = _client(f"http://127.0.0.1:{_free_port()}", auth_style=auth_style, **extra)
    _assert_clean(lambda: client.get_intent("it_1"))


def test_deadline_cut(settings) -> None:
    settings.DEBUG = True
    with hostile.hostile_server(hostile.trickle_headers()) as server:
        client = _client(server.url, actor_token=TOKEN)
        _assert_clean(lambda: client.get_intent("it_1"))


def test_http_error_and_cut_stream(settings) -> None:
    settings.DEBUG = True
    with hostile.hostile_server(hostile.fixed(500, b'{"error":"boom"}')) as server:
        client = _client(server.url, actor_token=TOKEN)
        _assert_clean(lambda: client.create_intent({"intent_type": "t"}, idempotency_key="k1"))

    def cut(line, conn, stop) -> None:  # a chunked stream cut in the middle of a chunk
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n400\r\nevent: intent.created\n"
        )
        conn.shutdown(socket.SHUT_RDWR)

    with hostile.hostile_server(cut) as server:
        client = _client(server.url, actor_token=TOKEN)
        _assert_clean(lambda: list(client._intent_window("it_1", 0, 1, None)))


def test_the_header_values_hide_themselves() -> None:
    client = _client("http://127.0.0.1:9", actor_token=TOKEN)
    headers = client._call_headers(trace_id=None, idempotency_key=None, extra=None)
    assert KEY not in repr(headers) and TOKEN not in repr(headers)
    assert headers["x-api-key"] == KEY  # the wire value is intact
