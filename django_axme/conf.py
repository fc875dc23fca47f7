"""The one settings resolver: ``settings.AXME`` merged over :data:`DEFAULTS`.

Every key django-axme reads is listed in :data:`DEFAULTS` (and documented in
``docs/settings.rst``); the system checks in ``checks.py`` validate against it. Nothing
here touches the database or the network.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

if TYPE_CHECKING:  # pragma: no cover
    from django_axme.client import AxmeClient

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


def get_setting(name: str) -> Any:
    """Return ``settings.AXME[name]``, falling back to :data:`DEFAULTS` (KeyError if unknown)."""
    if name not in DEFAULTS:
        raise KeyError(f"unknown django-axme setting {name!r}")
    user = getattr(settings, "AXME", None) or {}
    return user.get(name, DEFAULTS[name])


def axme_settings() -> dict[str, Any]:
    """Return a new dict of every setting, user values over defaults."""
    user = getattr(settings, "AXME", None) or {}
    merged = dict(DEFAULTS)
    merged.update({k: v for k, v in user.items() if k in DEFAULTS})
    return merged


_client_lock = threading.Lock()
_client: AxmeClient | None = None
_client_pid: int | None = None


def build_client() -> AxmeClient:
    """Build a new client from the current settings (no caching)."""
    from django_axme.client import AxmeClient, AxmeClientConfig

    s = axme_settings()
    config = AxmeClientConfig(
        base_url=s["BASE_URL"],
        api_key=s["API_KEY"] or "",
        actor_token=s["ACTOR_TOKEN"],
        timeout_seconds=float(s["TIMEOUT_SECONDS"]),
        connect_timeout_seconds=float(s["CONNECT_TIMEOUT_SECONDS"]),
        max_retries=int(s["MAX_RETRIES"]),
        retry_backoff_seconds=float(s["RETRY_BACKOFF_SECONDS"]),
        retry_backoff_max_seconds=float(s["RETRY_BACKOFF_MAX_SECONDS"]),
        pool_maxsize=int(s["POOL_MAXSIZE"]),
        default_owner_agent=s["DEFAULT_OWNER_AGENT"],
        auth_style=s["AUTH_STYLE"],
    )
    return AxmeClient(config)


def get_client() -> AxmeClient:
    """Return the process-wide configured client.

    Created lazily on first use; safe to call from many threads (one instance per process);
    rebuilt in a forked child (Celery prefork) so that no connection pool crosses a fork,
    and rebuilt after ``AXME`` changes (``override_settings`` in tests).
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
    """Forget the cached client; the next :func:`get_client` builds a new one."""
    global _client, _client_pid
    with _client_lock:
        old, _client, _client_pid = _client, None, None
    if old is not None and _client_pid is None:
        try:
            old.close()
        except Exception:  # noqa: BLE001 - closing a stale pool must never break a caller
            pass


@receiver(setting_changed)
def _on_setting_changed(setting: str, **kwargs: Any) -> None:
    if setting == "AXME":
        reset_client()
