"""One exception hierarchy under :class:`AxmeError`, and the HTTP status -> class mapping.

The SDK 0.2.0 names (``AxmeHttpError``, ``AxmeAuthError``, ``AxmeValidationError``,
``AxmeRateLimitError``, ``AxmeServerError``) keep their meaning; ``AxmeAPIError`` is the same
class as ``AxmeHttpError``. ``str(error)`` is always ``"HTTP <status>: <message>"``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "AxmeAPIError",
    "AxmeAuthError",
    "AxmeConflictError",
    "AxmeError",
    "AxmeHttpError",
    "AxmeIdempotencyError",
    "AxmeIdempotencyWarning",
    "AxmeNotFoundError",
    "AxmeRateLimitError",
    "AxmeServerError",
    "AxmeStalePolicyError",
    "AxmeTransportError",
    "AxmeValidationError",
    "error_from_response",
    "extract_error_message",
    "parse_retry_after",
]

_MAX_MESSAGE_CHARS = 500


class AxmeError(Exception):
    """Base class of every error raised by the client."""


class AxmeAPIError(AxmeError):
    """The API answered with an HTTP error status.

    Attributes: ``status_code``, ``message``, ``body`` (decoded JSON or ``None``),
    ``request_id`` and ``trace_id`` (from the response headers), ``retry_after`` (seconds,
    from an integer ``Retry-After`` header, else ``None``).
    """

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        body: Any | None = None,
        request_id: str | None = None,
        trace_id: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(f"HTTP {status_code}: {message}")
        self.status_code = status_code
        self.message = message
        self.body = body
        self.request_id = request_id
        self.trace_id = trace_id
        self.retry_after = retry_after


AxmeHttpError = AxmeAPIError
"""The SDK 0.2.0 name of :class:`AxmeAPIError` (the same class)."""


class AxmeAuthError(AxmeAPIError):
    """401 (missing or invalid credentials) or 403 (scope or owner mismatch)."""


class AxmeValidationError(AxmeAPIError):
    """400, 413 or 422: the request was rejected as invalid; retrying it unchanged will not help."""


class AxmeConflictError(AxmeValidationError):
    """409: the request conflicts with the current state (terminal intent, reused idempotency
    key with a different payload, decided approval, stale policy generation)."""


class AxmeStalePolicyError(AxmeConflictError):
    """409 whose body says ``stale_policy_generation``: re-read the intent and retry with the
    current ``policy_generation`` (available as :attr:`current_policy_generation`)."""

    @property
    def current_policy_generation(self) -> int | None:
        body = self.body if isinstance(self.body, Mapping) else {}
        for source in (body, body.get("error") if isinstance(body.get("error"), Mapping) else {}):
            value = source.get("policy_generation")  # type: ignore[union-attr]
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return None


class AxmeNotFoundError(AxmeAPIError):
    """404: unknown intent, thread or resource (or outside the caller's owner scope)."""


class AxmeRateLimitError(AxmeAPIError):
    """429: rate limited; ``retry_after`` says how many seconds to wait when the server said so."""


class AxmeServerError(AxmeAPIError):
    """Any 5xx status."""


class AxmeTransportError(AxmeError):
    """The request did not get an HTTP answer (connection refused or cut, DNS, timeout).

    Raised after the retries allowed for the call; the original ``requests`` exception is
    the ``__cause__``.
    """


class AxmeIdempotencyWarning(UserWarning):
    """An idempotency key was reused with different request parameters (warn mode)."""


class AxmeIdempotencyError(AxmeError, ValueError):
    """An idempotency key was reused with different request parameters (raise mode);
    raised before anything is sent."""


def parse_retry_after(value: str | None) -> int | None:
    """Return an integer ``Retry-After`` in seconds, or ``None`` (absent, HTTP date, garbage)."""
    if value is None:
        return None
    try:
        seconds = int(value.strip())
    except ValueError:
        return None
    return max(0, seconds)


def _format_fastapi_detail(detail: Any) -> str | None:
    if isinstance(detail, str) and detail:
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, Mapping) and isinstance(item.get("msg"), str):
                loc = item.get("loc")
                where = ".".join(str(p) for p in loc) if isinstance(loc, (list, tuple)) else ""
                parts.append(f"{where}: {item['msg']}" if where else item["msg"])
            elif isinstance(item, str):
                parts.append(item)
        if parts:
            return "; ".join(parts)
    return None


def extract_error_message(body: Any, text: str, reason: str = "") -> str:
    """Pick the human message out of an error body.

    Order (SDK 0.2.0 first, then FastAPI): ``error`` if a string, ``error.message``,
    ``message``, ``detail`` (string, or a list of ``{loc, msg}`` items), ``error.code``;
    otherwise the raw text (shortened), otherwise the HTTP reason phrase.
    """
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, str) and error:
            return error
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(body.get("message"), str) and body["message"]:
            return str(body["message"])
        detail = _format_fastapi_detail(body.get("detail"))
        if detail:
            return detail
        if isinstance(error, Mapping) and isinstance(error.get("code"), str):
            return str(error["code"])
    elif isinstance(body, str) and body:
        return body
    text = (text or "").strip()
    if text:
        return text if len(text) <= _MAX_MESSAGE_CHARS else text[:_MAX_MESSAGE_CHARS] + "..."
    return reason or "request failed"


def _is_stale_policy(body: Any) -> bool:
    try:
        return "stale_policy_generation" in json.dumps(body)
    except (TypeError, ValueError):
        return False


def error_class_for_status(status_code: int, body: Any = None) -> type[AxmeAPIError]:
    """Map an HTTP error status (and, for 409, the body) to the exception class to raise."""
    if status_code in (401, 403):
        return AxmeAuthError
    if status_code == 409:
        return AxmeStalePolicyError if _is_stale_policy(body) else AxmeConflictError
    if status_code in (400, 413, 422):
        return AxmeValidationError
    if status_code == 404:
        return AxmeNotFoundError
    if status_code == 429:
        return AxmeRateLimitError
    if status_code >= 500:
        return AxmeServerError
    return AxmeAPIError


def error_from_response(
    status_code: int,
    headers: Mapping[str, str],
    content: bytes,
    *,
    reason: str = "",
    redact: tuple[str, ...] = (),
) -> AxmeAPIError:
    """Build (not raise) the exception for an HTTP error answer.

    ``content`` may be anything: JSON of any shape, HTML, empty. Each string in ``redact``
    (the API key and actor token) is removed from the message.
    """
    text = content.decode("utf-8", errors="replace") if content else ""
    body: Any | None
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    message = extract_error_message(body, text, reason)
    for secret in redact:
        if secret:
            message = message.replace(secret, "[redacted]")
    cls = error_class_for_status(status_code, body)
    lowered = {k.lower(): v for k, v in headers.items()}
    return cls(
        status_code,
        message,
        body=body,
        request_id=lowered.get("x-request-id") or lowered.get("request-id"),
        trace_id=lowered.get("x-trace-id") or lowered.get("trace-id"),
        retry_after=parse_retry_after(lowered.get("retry-after")),
    )
