"""The emulator's in-process front door: ``requests`` calls answered through ``responses``.

:func:`mock_gateway` registers one ``responses`` callback per HTTP method for every URL under a
base URL. JSON answers are ordinary bodies. SSE answers are **lazy**: the body handed to
``responses`` is a chunked-transfer reader that pulls one frame at a time from the gateway's
stream iterator, so ``requests.get(..., stream=True)`` with ``iter_content(chunk_size=None)``
(or ``sseclient-py``) sees each frame as soon as the gateway produces it, exactly as over a
socket. Closing the response closes the gateway stream.

Injected faults behave as over HTTP: a restart/downtime raises
``requests.exceptions.ConnectionError``; a cut stream raises
``requests.exceptions.ChunkedEncodingError`` from the body iterator.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django_axme.emulator.faults import GatewayUnavailable
from django_axme.emulator.http_types import EmulatorRequest, EmulatorResponse
from django_axme.emulator.server import RequestHandlerTarget

__all__ = ["DEFAULT_MOCK_URL", "mock_gateway"]

DEFAULT_MOCK_URL = "http://axme.test"

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


class _ChunkedFrames(io.RawIOBase):
    """Raw bytes of a chunked-transfer body produced lazily from an SSE frame iterator.

    A read blocks only when nothing is buffered (then it waits for the next frame); it never
    waits for more frames than needed to return at least one byte.
    """

    def __init__(self, frames: Iterator[bytes]) -> None:
        self._frames = frames
        self._pending = b""
        self._finished = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._pending:
            if self._finished:
                return 0
            try:
                frame = next(self._frames)
            except StopIteration:
                self._finished = True
                self._pending = b"0\r\n\r\n"
            else:
                self._pending = b"%x\r\n%s\r\n" % (len(frame), frame)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        if not self.closed:
            close = getattr(self._frames, "close", None)
            if close is not None:
                close()
        super().close()


class _StreamBody(io.BufferedReader):
    """A body that urllib3 reads like ``http.client.HTTPResponse`` in chunked mode.

    urllib3 decodes chunked bodies itself when the body has an ``fp`` attribute offering
    ``readline`` and ``_safe_read``; with it, ``iter_content(chunk_size=None)`` yields each
    chunk (= each SSE frame) as soon as it is available.
    """

    def __init__(self, frames: Iterator[bytes]) -> None:
        super().__init__(_ChunkedFrames(frames), buffer_size=8192)

    @property
    def fp(self) -> _StreamBody | None:
        return None if self.closed else self

    def _safe_read(self, amt: int) -> bytes:
        data = self.read(amt)
        if len(data) < amt:
            raise ConnectionResetError("stream ended inside a chunk")
        return data


def _responses() -> Any:
    """The ``responses`` module (the ``testing`` extra); a missing one raises
    ``AxmeImproperlyInstalled`` naming ``pip install "django-axme[testing]"``."""
    try:
        import responses
    except ModuleNotFoundError as exc:
        from django_axme.dependencies import AxmeImproperlyInstalled

        raise AxmeImproperlyInstalled(
            exc.name or "responses", "testing", "the emulator's in-process mock (axme_mock)"
        ) from exc
    return responses


def _response_class() -> Any:
    _responses()  # a clear error when the testing extra is missing
    import responses

    class _EmulatorCallbackResponse(responses.CallbackResponse):
        """A callback response whose chunked (streaming) bodies urllib3 can decode lazily.

        urllib3's chunked reader asks the original ``http.client`` response for the request
        method (``_method``); ``responses`` builds that object without one, so set it here.
        """

        def get_response(self, request: Any) -> Any:
            response = super().get_response(request)
            original = getattr(response, "_original_response", None)
            if original is not None and not hasattr(original, "_method"):
                original._method = request.method
            return response

    return _EmulatorCallbackResponse


def _to_request(prepared: Any, prefix_path: str) -> EmulatorRequest:
    url = urlsplit(prepared.url)
    path = url.path or "/"
    if prefix_path and path.startswith(prefix_path):
        path = path[len(prefix_path) :] or "/"
    body = prepared.body
    if body is None:
        data = b""
    elif isinstance(body, str):
        data = body.encode("utf-8")
    elif isinstance(body, (bytes, bytearray)):
        data = bytes(body)
    elif hasattr(body, "read"):
        data = body.read()
    else:  # an iterable of chunks
        data = b"".join(part if isinstance(part, bytes) else str(part).encode() for part in body)
    return EmulatorRequest(
        method=prepared.method.upper(),
        path=path,
        query=parse_qs(url.query, keep_blank_values=True),
        headers={k.lower(): v for k, v in prepared.headers.items()},
        body=data,
    )


def _callback(target: RequestHandlerTarget, prefix_path: str) -> Any:
    import requests

    def answer(prepared: Any) -> Any:
        req = _to_request(prepared, prefix_path)
        try:
            resp: EmulatorResponse = target.handle(req)
        except GatewayUnavailable as exc:
            return requests.exceptions.ConnectionError(str(exc), request=prepared)
        headers = {k: v for k, v in resp.headers.items() if k.lower() != "content-length"}
        if resp.stream is None:
            return resp.status, headers, resp.body
        headers["Transfer-Encoding"] = "chunked"
        return resp.status, headers, _StreamBody(resp.stream)

    return answer


@contextmanager
def mock_gateway(
    emulator: RequestHandlerTarget,
    base_url: str = DEFAULT_MOCK_URL,
    *,
    rsps: Any = None,
    assert_all_requests_are_fired: bool = False,
) -> Iterator[Any]:
    """Answer every ``requests`` call under ``base_url`` with ``emulator`` (no sockets).

    Yields the ``responses.RequestsMock`` in use (a new one unless ``rsps`` is given), so
    callers may add their own responses or inspect ``rsps.calls``. Requests to other URLs
    fail as ``responses`` makes them fail (``ConnectionError``) unless you add pass-throughs.
    """
    responses = _responses()

    base = base_url.rstrip("/")
    split = urlsplit(base)
    if split.scheme not in ("http", "https") or not split.netloc:
        raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
    pattern = re.compile(re.escape(base) + r"(?:[/?].*)?$")
    callback = _callback(emulator, split.path)
    own = rsps is None
    mock = (
        responses.RequestsMock(assert_all_requests_are_fired=assert_all_requests_are_fired)
        if own
        else rsps
    )
    response_class = _response_class()
    for method in _METHODS:
        mock.add(response_class(method, pattern, callback=callback, content_type=None))
    if own:
        with mock:
            yield mock
    else:
        yield mock
