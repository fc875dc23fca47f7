"""The HTTP layer every family mixin builds on: session, headers, retries, errors."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from django_axme import __version__
from django_axme.client.config import AxmeClientConfig
from django_axme.client.deadline import (
    Deadline,
    deadline_scope,
    outer_deadline,
    start_deadline,
)
from django_axme.client.errors import (
    AxmeAPIError,
    AxmeInvalidResponseError,
    AxmeResponseTooLargeError,
    AxmeTransportError,
    error_from_response,
    parse_retry_after,
    redact_secrets,
)
from django_axme.client.idempotency import operation_name, request_fingerprint
from django_axme.client.limits import ACCEPT_ENCODING, read_body
from django_axme.client.retry import (
    MUTATING_METHODS,
    READ_METHODS,
    RetryPolicy,
    is_retryable_status,
)
from django_axme.client.secrets import SecretHeaderValue, scrub_traceback
from django_axme.client.session import build_session, open_unread

logger = logging.getLogger("django_axme.client")

CLIENT_HEADER = "X-Axme-Client"
# Requests exceptions after which nothing usable came back; all are worth another attempt
# when the call is safe to repeat.
_TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class _DeadlineExpired(requests.ConnectionError):
    """The deadline cut the socket; what was read before (a status line and some headers, a
    body that looks complete) is not trusted."""


def _check_deadline(deadline: Deadline, response: requests.Response) -> None:
    if deadline.expired:
        response.close()
        raise _DeadlineExpired(f"deadline of {deadline.seconds:.1f}s exceeded")


@dataclass
class _Exchange:
    """A successful (status < 300) answer: ``body`` is the decoded body (``None`` when
    streamed); ``deadline`` is still armed for a streamed body and must be cancelled by the
    reader."""

    response: requests.Response
    body: bytes | None
    deadline: Deadline


class BaseClient:
    """Owns one :class:`requests.Session` (pool sized by ``config.pool_maxsize``) and implements
    :meth:`_request`, the single primitive all API families call.

    Thread-safe for concurrent calls (requests' pooled session); not fork-safe: build a new
    client in a forked child (``django_axme.get_client()`` does).
    """

    def __init__(self, config: AxmeClientConfig, *, session: requests.Session | None = None):
        if not isinstance(config, AxmeClientConfig):
            raise ValueError(f"config must be an AxmeClientConfig, got {type(config).__name__}")
        self._config = config
        self._retry_policy = RetryPolicy(
            max_retries=config.max_retries,
            base=config.retry_backoff_seconds,
            cap=config.retry_backoff_max_seconds,
        )
        self._owns_session = session is None
        self._session = session or self._build_session()
        self._base_url = config.normalized_base_url
        identity = f"{config.client_name}/{__version__}"
        self._identity_headers = {
            "User-Agent": f"{identity} {requests.utils.default_user_agent()}",
            CLIENT_HEADER: identity,
            "Accept": "application/json",
            "Accept-Encoding": ACCEPT_ENCODING,
        }

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def config(self) -> AxmeClientConfig:
        """The (immutable) configuration this client was built with."""
        return self._config

    def _build_session(self) -> requests.Session:
        """The client's own session (:func:`django_axme.client.session.build_session`)."""
        return build_session(self._config)

    def close(self) -> None:
        """Close the connection pool (when this client created it)."""
        if self._owns_session:
            self._session.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} base_url={self._base_url!r}>"

    # -- headers ---------------------------------------------------------------------------
    def _secrets(self) -> tuple[str, ...]:
        return tuple(
            SecretHeaderValue(s) for s in (self._config.api_key, self._config.actor_token) if s
        )

    def _auth_headers(self) -> dict[str, str]:
        """The credential headers; every value is a ``SecretHeaderValue`` (masked ``repr``)."""
        if self._config.auth_style == "bearer":
            return {"Authorization": SecretHeaderValue("Bearer " + self._config.api_key)}
        headers: dict[str, str] = {"x-api-key": SecretHeaderValue(self._config.api_key)}
        if self._config.actor_token:
            headers["Authorization"] = SecretHeaderValue("Bearer " + self._config.actor_token)
        return headers

    def _trace_id(self, trace_id: str | None) -> str | None:
        if trace_id is not None:
            return trace_id
        return str(uuid.uuid4()) if self._config.auto_trace_id else None

    def _owner(self, owner_agent: str | None) -> str | None:
        """``owner_agent`` or, when it is ``None``, ``config.default_owner_agent`` (for
        owner-scoped families)."""
        return owner_agent if owner_agent is not None else self._config.default_owner_agent

    # -- the primitive ---------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
        retryable: bool | None = None,
        headers: Mapping[str, str] | None = None,
        owner_agent: str | None = None,
    ) -> dict[str, Any]:
        """Send one logical API call and return the decoded JSON object.

        - ``retryable=None``: reads (GET/HEAD/DELETE) retry; POST/PUT/PATCH retry only when
          keyed (caller key, or the generated one when ``auto_idempotency_key``).
        - Mutating calls carry an ``Idempotency-Key``: the caller's, else (with
          ``auto_idempotency_key``) one generated here and reused across this call's retries.
        - ``X-Trace-Id``: ``trace_id`` or one generated per call, reused across retries.
        - ``owner_agent`` not ``None`` is sent as the ``owner_agent`` query parameter.
        - With ``config.idempotency_store`` and a caller key on a mutating call, an exact
          replay is answered from the store without any network call; a successful answer is
          recorded there (a failure to record is logged, never raised).

        Bounds: each attempt ends within ``config.attempt_deadline_seconds`` of wall-clock
        time (headers and body included, however slowly the server sends), the whole call
        within ``config.call_deadline_seconds`` (and within an enclosing
        :func:`calls_end_by`); the decoded body is read up to ``config.max_response_bytes``.

        Raises the :class:`~django_axme.client.errors.AxmeAPIError` family for HTTP errors,
        :class:`~django_axme.client.errors.AxmeInvalidResponseError` for a 2xx body that is
        not a JSON object, :class:`~django_axme.client.errors.AxmeResponseTooLargeError` for
        a body over the cap and :class:`~django_axme.client.errors.AxmeTransportError` when
        no answer came back in time.
        """
        method = method.upper()
        query: dict[str, Any] = {k: v for k, v in (params or {}).items() if v is not None}
        if owner_agent is not None:
            query.setdefault("owner_agent", owner_agent)
        mutating = method in MUTATING_METHODS
        caller_key = idempotency_key
        if mutating and idempotency_key is None and self._config.auto_idempotency_key:
            idempotency_key = str(uuid.uuid4())
        if retryable is None:
            retryable = method in READ_METHODS or (mutating and idempotency_key is not None)

        store = self._config.idempotency_store
        fingerprint = operation = None
        if store is not None and mutating and caller_key is not None:
            operation = operation_name(method, path)
            fingerprint = request_fingerprint(method, path, query, json_body)
            stored = store.check(caller_key, operation, fingerprint)
            if stored is not None:
                logger.debug("%s answered from the idempotency store", operation)
                return stored

        call_headers = self._call_headers(
            trace_id=trace_id,
            idempotency_key=idempotency_key if mutating else None,
            extra=headers,
        )
        exchange = self._exchange(
            method,
            path,
            params=query,
            json_body=json_body,
            headers=call_headers,
            retryable=retryable,
            timeout=self._timeout(),
            attempt_seconds=self._config.attempt_deadline_seconds,
        )
        result = self._decode(exchange.response, exchange.body or b"")
        if store is not None and operation is not None and fingerprint is not None:
            try:
                store.record(caller_key or "", operation, fingerprint, result)
            except Exception:
                # The gateway has accepted the call; failing it now would invite a retry that
                # the gateway's own idempotency answers anyway.
                logger.exception(
                    "%s: could not record the answer in the idempotency store", operation
                )
        return result

    def _call_headers(
        self,
        *,
        trace_id: str | None,
        idempotency_key: str | None,
        extra: Mapping[str, str] | None,
    ) -> dict[str, str]:
        headers = dict(self._identity_headers)
        headers.update(self._auth_headers())
        resolved_trace = self._trace_id(trace_id)
        if resolved_trace is not None:
            headers["X-Trace-Id"] = resolved_trace
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        if extra:
            lowered = {k.lower(): k for k in headers}
            for name, value in extra.items():
                if name.lower() in lowered:
                    del headers[lowered[name.lower()]]
                headers[name] = value
        return headers

    def _timeout(self, read_seconds: float | None = None) -> tuple[float, float]:
        return (
            self._config.connect_timeout_seconds,
            self._config.timeout_seconds if read_seconds is None else read_seconds,
        )

    def _sleep(self, seconds: float) -> None:
        """Wait before a retry (a method so tests can observe it)."""
        time.sleep(seconds)

    def _exchange(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        json_body: Any,
        headers: Mapping[str, str],
        retryable: bool,
        timeout: tuple[float, float],
        attempt_seconds: float,
        stream: bool = False,
    ) -> _Exchange:
        """Perform the HTTP exchange with the retry policy and return an answer with status
        < 300; for ``stream=False`` its body is read (capped), for ``stream=True`` not.

        Each attempt runs under a wall-clock :class:`~django_axme.client.deadline.Deadline`
        of ``attempt_seconds`` (cut short by the call's own deadline,
        ``(attempts) * attempt_seconds + max_retries * retry_backoff_max_seconds``, and by an
        enclosing :func:`calls_end_by`); a wait before a retry that would pass those limits
        is not taken (the error is raised instead). Errors raised here carry no request
        headers in any frame's locals (see :func:`scrub_traceback`).
        """
        url = f"{self._base_url}{path}"
        attempts = self._retry_policy.attempts(retryable)
        started = time.monotonic()
        call_end = (
            started
            + attempts * attempt_seconds
            + ((attempts - 1) * float(self._config.retry_backoff_max_seconds))
        )
        outer = outer_deadline()
        if outer is not None:
            call_end = min(call_end, outer)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            seconds = min(attempt_seconds, call_end - time.monotonic())
            if seconds <= 0:
                raise AxmeTransportError(
                    f"{method} {path}: no time left for attempt {attempt + 1} of {attempts}"
                )
            deadline = start_deadline(seconds)
            keep_deadline = False
            try:
                try:
                    with deadline_scope(deadline):
                        response = self._open(method, url, params, json_body, headers, timeout)
                        _check_deadline(deadline, response)
                        status = response.status_code
                        body: bytes | None = None
                        if status < 300 and not stream and (method == "HEAD" or status == 204):
                            body = b""  # no body, whatever Content-Length says
                            response.close()
                        elif status < 300 and not stream:
                            try:
                                body = read_body(
                                    response, self._config.max_response_bytes, deadline=deadline
                                )
                            finally:
                                response.close()
                            _check_deadline(deadline, response)
                except _TRANSPORT_ERRORS as exc:
                    scrub_traceback(exc)
                    reason = type(exc).__name__
                    if deadline.passed():
                        reason = f"deadline of {deadline.seconds:.1f}s exceeded"
                    delay = None if last else self._retry_policy.delay(attempt)
                    if delay is not None and time.monotonic() + delay >= call_end:
                        delay = None
                    if delay is None:
                        raise AxmeTransportError(
                            f"{method} {path} failed: {reason} after {attempt + 1} attempt(s)"
                        ) from exc
                    logger.warning(
                        "%s %s: %s, retrying in %.2fs (attempt %d/%d)",
                        method,
                        path,
                        reason,
                        delay,
                        attempt + 1,
                        attempts,
                    )
                    self._sleep(delay)
                    continue
                except AxmeResponseTooLargeError as exc:
                    raise AxmeResponseTooLargeError(
                        f"{method} {path}: {exc}", limit=exc.limit
                    ) from None
                if status < 300:
                    logger.debug("%s %s -> %d", method, path, status)
                    keep_deadline = stream
                    return _Exchange(response, body, deadline)
                if status < 400:
                    raise self._redirect_error(response)
                if retryable and not last and is_retryable_status(status):
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    delay = self._retry_policy.delay(attempt, retry_after)
                    if delay is not None and time.monotonic() + delay < call_end:
                        logger.warning(
                            "%s %s -> HTTP %d, retrying in %.2fs (attempt %d/%d)",
                            method,
                            path,
                            status,
                            delay,
                            attempt + 1,
                            attempts,
                        )
                        response.close()
                        self._sleep(delay)
                        continue
                with deadline_scope(deadline):
                    error = self._error_for(response, deadline)
                raise error
            finally:
                if not keep_deadline:
                    deadline.cancel()
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        json_body: Any,
        headers: Mapping[str, str],
        retryable: bool,
        timeout: tuple[float, float],
        stream: bool = False,
    ) -> requests.Response:
        """:meth:`_exchange` under the configured attempt deadline, returning the response
        only (kept for subclasses; the body of a ``stream=False`` answer is available as
        ``response.content``)."""
        exchange = self._exchange(
            method,
            path,
            params=params,
            json_body=json_body,
            headers=headers,
            retryable=retryable,
            timeout=timeout,
            attempt_seconds=self._config.attempt_deadline_seconds,
            stream=stream,
        )
        if exchange.body is not None:
            exchange.response._content = exchange.body
        return exchange.response

    def _open(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        headers: Mapping[str, str],
        timeout: tuple[float, float],
    ) -> requests.Response:
        """Send one request and return the response with its body still unread
        (:func:`django_axme.client.session.open_unread`)."""
        return open_unread(
            self._session,
            method,
            url,
            params=params,
            json_body=json_body,
            headers=headers,
            timeout=timeout,
            own_session=self._owns_session,
        )

    def _redirect_error(self, response: requests.Response) -> AxmeAPIError:
        """Redirects are never followed: ``requests`` would forward the ``x-api-key`` header
        to whatever host the ``Location`` names."""
        location = response.headers.get("Location", "")
        response.close()
        return AxmeAPIError(
            response.status_code,
            f"unexpected redirect to {location[:200] or 'an unnamed location'} (not followed; "
            "check BASE_URL)",
            request_id=redact_secrets(response.headers.get("x-request-id"), self._secrets()),
            trace_id=redact_secrets(response.headers.get("x-trace-id"), self._secrets()),
        )

    def _error_for(
        self, response: requests.Response, deadline: Deadline | None = None
    ) -> AxmeAPIError:
        """The error for an HTTP error answer; its body is read up to
        ``config.max_response_bytes`` (a larger one is not read: the error then says so and
        has ``body=None``). Secrets echoed by the gateway are redacted everywhere."""
        limit = self._config.max_response_bytes
        note = ""
        try:
            content = read_body(response, limit, what="error body", deadline=deadline)
        except AxmeResponseTooLargeError:
            content, note = b"", f" (error body larger than max_response_bytes={limit}; not read)"
        except _TRANSPORT_ERRORS as exc:
            scrub_traceback(exc)
            content = b""
        finally:
            response.close()
        error = error_from_response(
            response.status_code,
            response.headers,
            content,
            reason=(response.reason or "") + note,
            redact=self._secrets(),
        )
        logger.info(
            "%s %s -> HTTP %d (request_id=%s)",
            response.request.method if response.request else "?",
            response.request.path_url if response.request else "?",
            response.status_code,
            error.request_id,
        )
        return error

    def _decode(self, response: requests.Response, content: bytes) -> dict[str, Any]:
        """The JSON object of a 2xx body (``{}`` for an empty one); any other shape raises
        :class:`~django_axme.client.errors.AxmeInvalidResponseError`."""
        if not content.strip():
            return {}
        try:
            data = json.loads(content)
        except (ValueError, RecursionError):
            raise AxmeInvalidResponseError("response body is not valid JSON") from None
        if not isinstance(data, dict):
            raise AxmeInvalidResponseError(
                f"response body is a JSON {type(data).__name__}, expected an object",
                body=redact_secrets(data, self._secrets()),
            )
        return data
