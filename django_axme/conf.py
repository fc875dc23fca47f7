"""The one settings resolver: ``settings.AXME`` merged over :data:`DEFAULTS`.

Every key django-axme reads is listed in :data:`DEFAULTS` (and documented in
``docs/settings.rst``); the system checks in ``checks.py`` validate against it. Nothing
here touches the database or the network.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

if TYPE_CHECKING:  # pragma: no cover
    from django_axme.client import AxmeClient, AxmeClientConfig
    from django_axme.client.idempotency import IdempotencyStore

logger = logging.getLogger("django_axme")

DEFAULTS: dict[str, Any] = {
    # Connection
    "BASE_URL": "https://api.cloud.axme.ai",
    "API_KEY": None,
    "ACTOR_TOKEN": None,
    "AUTH_STYLE": "x-api-key",  # or "bearer" (SDK 0.1 style: Authorization: Bearer <api key>)
    "TIMEOUT_SECONDS": 15.0,
    "CONNECT_TIMEOUT_SECONDS": 5.0,
    "MAX_RETRIES": 2,
    "RETRY_BACKOFF_SECONDS": 0.2,
    "RETRY_BACKOFF_MAX_SECONDS": 10.0,
    "POOL_MAXSIZE": 10,
    "AUTO_TRACE_ID": True,
    "AUTO_IDEMPOTENCY_KEY": True,
    "DEFAULT_OWNER_AGENT": None,
    "DEFAULT_FROM_AGENT": None,
    # Idempotency ledger
    "IDEMPOTENCY_TTL_SECONDS": 24 * 3600,
    "IDEMPOTENCY_MISMATCH": "warn",  # or "raise"
    # Retention (axme_prune and the prune task)
    "RETENTION_DAYS": 90,
    "PRUNE_BATCH_SIZE": 1000,
    # Celery
    "TASK_MAX_RETRIES": 5,
    "TASK_RETRY_BACKOFF_MAX_SECONDS": 600,
    "OBSERVE_WINDOW_SECONDS": 25,
    "OBSERVER_LEASE_SECONDS": 90,
    "OBSERVER_QUEUE": None,  # route observer tasks to this queue when set
    "OBSERVER_BATCH_SIZE": 500,
    "RECONCILE_AFTER_SECONDS": 300,
    "INBOX_OWNER_AGENTS": [],
    # Admin
    "ADMIN_ALLOW_DELETE": False,
}


def _user_settings() -> dict[str, Any]:
    user = getattr(settings, "AXME", None)
    return user if isinstance(user, dict) else {}


def get_setting(name: str) -> Any:
    """Return ``settings.AXME[name]``, falling back to :data:`DEFAULTS` (KeyError if unknown)."""
    if name not in DEFAULTS:
        raise KeyError(f"unknown django-axme setting {name!r}")
    return _user_settings().get(name, DEFAULTS[name])


def axme_settings() -> dict[str, Any]:
    """Return a new dict of every setting, user values over defaults (unknown keys dropped)."""
    merged = dict(DEFAULTS)
    merged.update({k: v for k, v in _user_settings().items() if k in DEFAULTS})
    return merged


class AxmeSettingsError(ImproperlyConfigured, ValueError):
    """``settings.AXME`` cannot make a client; the message names the key to fix."""


def _idempotency_store() -> IdempotencyStore | None:
    try:
        from django_axme.ledger import DatabaseIdempotencyStore
    except ModuleNotFoundError as exc:  # the ledger module is optional while it is written
        if exc.name != "django_axme.ledger":
            raise
        return None
    return DatabaseIdempotencyStore()


def build_client() -> AxmeClient:
    """Build a new client from the current settings (no caching).

    Raises :class:`AxmeSettingsError` (an ``ImproperlyConfigured`` and a ``ValueError``)
    naming the setting when one is invalid, e.g. ``AXME['API_KEY']: api_key must be a
    non-empty string``.
    """
    from django_axme.client import AxmeClient

    try:
        config = _config_from(axme_settings())
    except (TypeError, ValueError) as exc:
        text = str(exc)
        field = next((f for f in _FIELD_SETTINGS if text.startswith(f)), None)
        where = f"AXME[{_FIELD_SETTINGS[field]!r}]" if field else "settings.AXME"
        raise AxmeSettingsError(f"{where}: {text}") from None
    return AxmeClient(config)


# Client configuration field -> AXME key, to name the setting in error messages.
_FIELD_SETTINGS = {
    "base_url": "BASE_URL",
    "api_key": "API_KEY",
    "actor_token": "ACTOR_TOKEN",
    "timeout_seconds": "TIMEOUT_SECONDS",
    "connect_timeout_seconds": "CONNECT_TIMEOUT_SECONDS",
    "max_retries": "MAX_RETRIES",
    "retry_backoff_seconds": "RETRY_BACKOFF_SECONDS",
    "retry_backoff_max_seconds": "RETRY_BACKOFF_MAX_SECONDS",
    "pool_maxsize": "POOL_MAXSIZE",
    "auth_style": "AUTH_STYLE",
}


def _config_from(s: dict[str, Any]) -> AxmeClientConfig:
    from django_axme.client import AxmeClientConfig

    return AxmeClientConfig(
        base_url=s["BASE_URL"],
        api_key=s["API_KEY"] or "",
        actor_token=s["ACTOR_TOKEN"],
        timeout_seconds=float(s["TIMEOUT_SECONDS"]),
        connect_timeout_seconds=float(s["CONNECT_TIMEOUT_SECONDS"]),
        max_retries=int(s["MAX_RETRIES"]),
        retry_backoff_seconds=float(s["RETRY_BACKOFF_SECONDS"]),
        retry_backoff_max_seconds=float(s["RETRY_BACKOFF_MAX_SECONDS"]),
        pool_maxsize=int(s["POOL_MAXSIZE"]),
        auto_trace_id=bool(s["AUTO_TRACE_ID"]),
        auto_idempotency_key=bool(s["AUTO_IDEMPOTENCY_KEY"]),
        default_owner_agent=s["DEFAULT_OWNER_AGENT"],
        auth_style=s["AUTH_STYLE"],
        idempotency_store=_idempotency_store(),
    )


_client_lock = threading.Lock()
_client: AxmeClient | None = None
_client_pid: int | None = None


def get_client() -> AxmeClient:
    """Return the process-wide configured client.

    Created lazily on first use; one instance per process however many threads ask at once;
    a forked child (Celery prefork) gets its own new instance, so no connection pool crosses
    a fork; rebuilt after ``AXME`` changes (``override_settings`` in tests).
    """
    global _client, _client_pid
    pid = os.getpid()
    client = _client
    if client is not None and _client_pid == pid:
        return client
    with _client_lock:
        if _client is None or _client_pid != pid:
            _client = build_client()
            _client_pid = pid
        return _client


def reset_client() -> None:
    """Forget the cached client; the next :func:`get_client` builds a new one.

    The old client's pool is closed only in the process that created it: closing sockets
    inherited over a fork would disturb the parent's connections.
    """
    global _client, _client_pid
    with _client_lock:
        old, old_pid = _client, _client_pid
        _client, _client_pid = None, None
    if old is not None and old_pid == os.getpid():
        try:
            old.close()
        except Exception:
            logger.debug("closing the previous AXME client failed", exc_info=True)


def _after_fork_in_child() -> None:
    # A lock held by another thread at fork time would stay locked forever in the child.
    global _client_lock, _client, _client_pid
    _client_lock = threading.Lock()
    _client, _client_pid = None, None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@receiver(setting_changed)
def _on_setting_changed(setting: str, **kwargs: Any) -> None:
    if setting == "AXME":
        reset_client()
