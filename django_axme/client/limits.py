"""Reading response bodies with a size cap, decoding gzip/deflate ourselves.

urllib3 decodes ``Content-Encoding`` by itself, and before 2.6 it inflated each raw read
whole (a 1 MB gzip answer became 1 GiB in memory). The client therefore reads the raw,
still-encoded bytes (``decode_content=False``) and inflates them here with
``zlib.decompressobj().decompress(data, max_length)``, so no step holds more than the cap
plus one read (64 KiB raw) of decoded data.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

import requests
import urllib3

from django_axme.client.deadline import Deadline
from django_axme.client.errors import AxmeResponseTooLargeError

__all__ = ["ACCEPT_ENCODING", "RAW_READ_BYTES", "decoded_chunks", "raw_chunks", "read_body"]

# What the client asks for: the encodings decoded below (not br/zstd, whatever is installed).
ACCEPT_ENCODING = "gzip, deflate"
RAW_READ_BYTES = 65536
# The most one inflate step may produce (the rest of its input waits in unconsumed_tail).
MAX_DECODED_STEP = 4 * RAW_READ_BYTES


def raw_chunks(response: requests.Response, size: int = RAW_READ_BYTES) -> Iterator[bytes]:
    """The response's body bytes as they arrive, still encoded, at most ``size`` per item.

    Chunked bodies go through urllib3's chunk parser (one item per HTTP chunk or less); other
    bodies through ``read1`` (whatever is available), so nothing waits for a full buffer.
    urllib3 exceptions are re-raised as the ``requests`` exceptions ``iter_content`` would
    raise, so one ``except`` covers them.
    """
    raw = response.raw
    if raw is None:
        return
    try:
        if getattr(raw, "chunked", False) or not hasattr(raw, "read1"):
            yield from raw.stream(size, decode_content=False)
            return
        while True:
            data = raw.read1(size, decode_content=False)
            if not data:
                return
            yield data
    except urllib3.exceptions.ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.ConnectionError(exc) from exc
    except urllib3.exceptions.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from exc
    except (urllib3.exceptions.SSLError, urllib3.exceptions.HTTPError, OSError) as exc:
        raise requests.ConnectionError(exc) from exc


def _content_encoding(response: requests.Response) -> str:
    value = response.headers.get("Content-Encoding", "") or ""
    codings = [c.strip().lower() for c in value.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return ""
    if len(codings) > 1 or codings[0] not in ("gzip", "x-gzip", "deflate"):
        raise requests.exceptions.ContentDecodingError(
            f"unsupported Content-Encoding {value[:40]!r} (asked for {ACCEPT_ENCODING})"
        )
    return codings[0]


def decoded_chunks(
    response: requests.Response,
    limit: int,
    *,
    what: str = "response body",
    deadline: Deadline | None = None,
) -> Iterator[bytes]:
    """The response's decoded body, chunk by chunk, never more than ``limit`` bytes in all.

    Raises :class:`~django_axme.client.errors.AxmeResponseTooLargeError` as soon as the
    decoded total would pass ``limit`` (the response is not read further; the caller closes
    it), and ``requests.exceptions.ContentDecodingError`` for a corrupt or unsupported
    encoding. With ``deadline``, a chunk that arrives after it passed raises
    ``requests.ConnectionError`` (the socket watchdog cuts a blocked read; this check also
    bounds a session whose adapter has no watchdog). Each yielded chunk is at most 256 KiB
    + 1 byte (compressed input) or one raw read (64 KiB), so ``limit`` may be huge (a stream)
    without a decoded burst.
    """
    coding = _content_encoding(response)
    total = 0
    inflater: Any = zlib.decompressobj(47) if coding else None  # 32 + 15: gzip or zlib header

    def count(data: bytes) -> bytes:
        nonlocal total
        total += len(data)
        if total > limit:
            raise AxmeResponseTooLargeError(
                f"{what} is larger than max_response_bytes={limit}", limit=limit
            )
        return data

    for raw in raw_chunks(response):
        if deadline is not None and deadline.passed():
            raise requests.ConnectionError(f"deadline of {deadline.seconds:.1f}s exceeded")
        if inflater is None:
            yield count(raw)
            continue
        data = raw
        while data:
            try:
                out = inflater.decompress(data, min(limit - total, MAX_DECODED_STEP) + 1)
            except zlib.error as exc:
                raise requests.exceptions.ContentDecodingError(f"bad {coding} body: {exc}") from exc
            if out:
                yield count(out)
            data = inflater.unconsumed_tail
            if inflater.eof:
                break


def read_body(
    response: requests.Response,
    limit: int,
    *,
    what: str = "response body",
    deadline: Deadline | None = None,
) -> bytes:
    """The whole decoded body, at most ``limit`` bytes (else
    :class:`~django_axme.client.errors.AxmeResponseTooLargeError` before reading past it).

    A ``Content-Length`` above ``limit`` on an unencoded body fails before any byte is read.
    """
    declared = response.headers.get("Content-Length")
    if declared and not response.headers.get("Content-Encoding"):
        try:
            size = int(declared)
        except ValueError:
            size = -1
        if size > limit:
            raise AxmeResponseTooLargeError(
                f"{what} declares {size} bytes, more than max_response_bytes={limit}",
                limit=limit,
            )
    return b"".join(decoded_chunks(response, limit, what=what, deadline=deadline))
