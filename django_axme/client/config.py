"""Client configuration: one frozen, validated value object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # pragma: no cover
    from django_axme.client.idempotency import IdempotencyStore

DEFAULT_BASE_URL = "https://api.cloud.axme.ai"
AUTH_STYLES = ("x-api-key", "bearer")

_NON_NEGATIVE_FIELDS = (
    "timeout_seconds",
    "connect_timeout_seconds",
    "max_retries",
    "retry_backoff_seconds",
    "retry_backoff_max_seconds",
)


@dataclass(frozen=True)
class AxmeClientConfig:
    """Settings of one :class:`~django_axme.client.AxmeClient`.

    The first twelve fields and their defaults are those of the official SDK 0.2.0; the rest
    are django-axme additions. Construction validates every field and raises :class:`ValueError`
    naming the offending field. Secrets (``api_key``, ``actor_token``, ``bearer_token``) are
    never shown by :func:`repr`.
    """

    base_url: str = DEFAULT_BASE_URL
    api_key: str = field(default="", repr=False)
    actor_token: str | None = field(default=None, repr=False)
    bearer_token: str | None = field(default=None, repr=False)
    timeout_seconds: float = 15.0
    max_retries: int = 2
    retry_backoff_seconds: float = 0.2
    auto_trace_id: bool = True
    default_owner_agent: str | None = None
    mcp_endpoint_path: str = "/mcp"
    mcp_protocol_version: str = "2024-11-05"
    mcp_observer: Callable[[dict[str, Any]], None] | None = None
    # django-axme additions
    connect_timeout_seconds: float = 5.0
    retry_backoff_max_seconds: float = 10.0
    pool_maxsize: int = 10
    auth_style: str = "x-api-key"
    auto_idempotency_key: bool = True
    client_name: str = "django-axme"
    idempotency_store: IdempotencyStore | None = None
    max_response_bytes: int = 16 * 1024 * 1024
    max_sse_event_bytes: int = 4 * 1024 * 1024

    def __post_init__(self) -> None:
        _validate_base_url(self.base_url)
        if not isinstance(self.api_key, str) or not self.api_key.strip():
            raise ValueError("api_key must be a non-empty string")
        if self.actor_token and self.bearer_token and self.actor_token != self.bearer_token:
            raise ValueError("actor_token and bearer_token must match when both are given")
        if self.actor_token is None and self.bearer_token is not None:
            object.__setattr__(self, "actor_token", self.bearer_token)
        for name in _NON_NEGATIVE_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a number, got {type(value).__name__}")
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        if not isinstance(self.max_retries, int):
            raise ValueError("max_retries must be an integer")
        if self.timeout_seconds == 0:
            raise ValueError("timeout_seconds must be > 0")
        if self.connect_timeout_seconds == 0:
            raise ValueError("connect_timeout_seconds must be > 0")
        if (
            isinstance(self.pool_maxsize, bool)
            or not isinstance(self.pool_maxsize, int)
            or self.pool_maxsize < 1
        ):
            raise ValueError(f"pool_maxsize must be an integer >= 1, got {self.pool_maxsize!r}")
        for name in ("max_response_bytes", "max_sse_event_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1024:
                raise ValueError(f"{name} must be an integer >= 1024, got {value!r}")
        if self.auth_style not in AUTH_STYLES:
            raise ValueError(
                f"auth_style must be one of {', '.join(AUTH_STYLES)}, got {self.auth_style!r}"
            )
        if self.auth_style == "bearer" and self.actor_token:
            raise ValueError(
                "actor_token cannot be combined with auth_style='bearer' "
                "(that style already sends the API key as the Bearer token)"
            )
        if not self.mcp_endpoint_path.startswith("/"):
            raise ValueError("mcp_endpoint_path must start with '/'")
        if not isinstance(self.client_name, str) or not self.client_name.strip():
            raise ValueError("client_name must be a non-empty string")

    def __repr__(self) -> str:
        secrets = "set" if self.actor_token else "unset"
        return (
            f"AxmeClientConfig(base_url={self.base_url!r}, api_key='***', "
            f"actor_token={secrets}, auth_style={self.auth_style!r}, "
            f"timeout_seconds={self.timeout_seconds!r}, max_retries={self.max_retries!r})"
        )

    __str__ = __repr__

    @property
    def attempt_deadline_seconds(self) -> float:
        """Wall-clock limit of one HTTP attempt, from connecting to the last body byte:
        ``connect_timeout_seconds + timeout_seconds``."""
        return float(self.connect_timeout_seconds + self.timeout_seconds)

    @property
    def call_deadline_seconds(self) -> float:
        """Wall-clock limit of one call, retries and their waits included:
        ``(max_retries + 1) * attempt_deadline_seconds + max_retries *
        retry_backoff_max_seconds`` (80 s with the defaults)."""
        return (self.max_retries + 1) * self.attempt_deadline_seconds + (
            self.max_retries * float(self.retry_backoff_max_seconds)
        )

    @property
    def normalized_base_url(self) -> str:
        """The base URL without a trailing slash."""
        return self.base_url.rstrip("/")


def _validate_base_url(base_url: Any) -> None:
    if not isinstance(base_url, str) or not base_url.strip():
        raise ValueError("base_url must be a non-empty string")
    try:
        parts = urlsplit(base_url.strip())
        port = parts.port  # raises ValueError on a non-numeric port
    except ValueError as exc:
        raise ValueError(f"base_url is malformed: {exc}") from None
    del port
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
    if not parts.hostname:
        raise ValueError(f"base_url must include a host name, got {base_url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"base_url must not contain a query or fragment, got {base_url!r}")
    if parts.username or parts.password:
        raise ValueError("base_url must not contain credentials (user:password@)")
