"""One exception hierarchy under :class:`AxmeError`, and the HTTP status -> class mapping.

The SDK 0.2.0 names (``AxmeHttpError``, ``AxmeAuthError``, ``AxmeValidationError``,
``AxmeRateLimitError``, ``AxmeServerError``) keep their meaning; ``AxmeAPIError`` is the same
class as ``AxmeHttpError``. ``str(error)`` is always ``"HTTP <status>: <message>"``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django_axme.client.retry import is_retryable_status

__all__ = [
    "AxmeAPIError",
    "AxmeAuthError",
    "AxmeConflictError",
    "AxmeError",
    "AxmeHttpError",
    "AxmeIdempotencyError",
    "AxmeIdempotencyWarning",
    "AxmeInvalidResponseError",
    "AxmeNotFoundError",
    "AxmeRateLimitError",
    "AxmeResponseTooLargeError",
    "AxmeServerError",
    "AxmeStalePolicyError",
    "AxmeTransportError",
    "AxmeValidationError",
    "error_from_response",
    "extract_error_message",
    "parse_retry_after",
    "redact_secrets",
]

_MAX_MESSAGE_CHARS = 500


class AxmeError(Exception):
    """Base class of every error raised by the client."""

    @property
    def retryable(self) -> bool:
        """Whether the same call may succeed if made again later, by the rule the client's
        own retries follow (:func:`django_axme.client.retry.is_retryable_status`): ``False``
        here; HTTP errors answer from their status, transport errors ``True``."""
        return False


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

    @property
    def retryable(self) -> bool:
        """408, 429 and 5xx other than 501/505: the statuses the client itself retries."""
        return is_retryable_status(self.status_code)


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

    @property
    def retryable(self) -> bool:
        return True


class AxmeResponseTooLargeError(AxmeTransportError):
    """An answer (a body, decoded, or one server-sent event or line) passed its size cap;
    ``limit`` is that cap in bytes. Nothing past the cap was read; never retried."""

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit

    @property
    def retryable(self) -> bool:
        return False


class AxmeInvalidResponseError(AxmeServerError, ValueError):
    """The gateway answered 2xx with a body of the wrong shape (not JSON, a list where an
    object is expected, a required field missing). ``status_code`` is 502 (bad gateway);
    also a :class:`ValueError` for callers written against the older behaviour."""

    def __init__(self, message: str, *, body: Any | None = None) -> None:
        super().__init__(502, message, body=body)


class AxmeIdempotencyWarning(UserWarning):
    """An idempotency key was reused with different request parameters (warn mode)."""


class AxmeIdempotencyError(AxmeError, ValueError):
    """An idempotency key was reused with different request parameters (raise mode);
    raised before anything is sent."""


_REDACTED = "[redacted]"
_MAX_REDACT_DEPTH = 64


def redact_secrets(value: Any, secrets: tuple[str, ...], _depth: int = 0) -> Any:
    """``value`` with every occurrence of each string in ``secrets`` replaced by
    ``[redacted]``: in strings, and in the keys and values of (nested) JSON lists and
    objects. Returns new containers; values nested deeper than 64 levels become
    ``[redacted]`` whole (a hostile body cannot make this recurse without bound)."""
    secrets = tuple(s for s in secrets if s)
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, _REDACTED)
        return value
    if isinstance(value, (dict, list)) and _depth >= _MAX_REDACT_DEPTH:
        return _REDACTED
    if isinstance(value, dict):
        return {
            redact_secrets(k, secrets, _depth + 1): redact_secrets(v, secrets, _depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_secrets(v, secrets, _depth + 1) for v in value]
    return value


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
    (the API key and actor token) is replaced by ``[redacted]`` in the message, the decoded
    body, ``request_id`` and ``trace_id``.
    """
    text = content.decode("utf-8", errors="replace") if content else ""
    body: Any | None
    try:
        body = json.loads(text) if text else None
    except (ValueError, RecursionError):
        body = None
    message = extract_error_message(body, text, reason)
    cls = error_class_for_status(status_code, body)
    lowered = {k.lower(): v for k, v in headers.items()}
    return cls(
        status_code,
        redact_secrets(message, redact),
        body=redact_secrets(body, redact),
        request_id=redact_secrets(lowered.get("x-request-id") or lowered.get("request-id"), redact),
        trace_id=redact_secrets(lowered.get("x-trace-id") or lowered.get("trace-id"), redact),
        retry_after=parse_retry_after(lowered.get("retry-after")),
    )
