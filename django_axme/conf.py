"""The one settings resolver: ``settings.AXME`` merged over :data:`DEFAULTS`.

Every key django-axme reads is declared once, in :mod:`django_axme.settings_table`: its
default (collected in :data:`DEFAULTS`), type, choices and bounds. :func:`get_setting` and
:func:`build_client` refuse the values the system checks in ``checks.py`` report, through the
same validator, with :class:`AxmeSettingsError` naming the key. Nothing here touches the
database or the network.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import threading
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

from django_axme.client.errors import AxmeError
from django_axme.settings_table import SETTINGS, first_problem

if TYPE_CHECKING:  # pragma: no cover
    from django_axme.client import AxmeClient, AxmeClientConfig
    from django_axme.client.idempotency import IdempotencyStore

logger = logging.getLogger("django_axme")

#: Every key django-axme reads, with its default: derived from the one table,
#: :data:`django_axme.settings_table.SETTINGS` (types, choices, bounds, doc lines).
DEFAULTS: dict[str, Any] = {s.name: s.default for s in SETTINGS}


class AxmeSettingsError(ImproperlyConfigured, AxmeError, ValueError):
    """``settings.AXME`` holds a value django-axme refuses; the message names the key to fix.
    (An ``ImproperlyConfigured``, an ``AxmeError`` and a ``ValueError``.)"""


def _user_settings() -> dict[str, Any]:
    user = getattr(settings, "AXME", None)
    if user is None:
        return {}
    if not isinstance(user, dict):
        raise AxmeSettingsError(f"settings.AXME must be a dict, got {type(user).__name__}")
    return user


def _unknown(name: str) -> KeyError:
    close = difflib.get_close_matches(str(name), list(DEFAULTS), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return KeyError(f"unknown django-axme setting {name!r}{hint}")


def _validated(name: str, value: Any) -> Any:
    problem = first_problem(name, value)
    if problem is not None:
        raise AxmeSettingsError(problem.message())
    return value


def get_setting(name: str) -> Any:
    """Return ``settings.AXME[name]``, falling back to :data:`DEFAULTS`.

    The value is checked against the settings table exactly as the system checks do: a
    value ``manage.py check`` reports (wrong type, not a choice, NaN, infinite, below the
    minimum, above the maximum, a list with a wrong element, credentials in ``BASE_URL``)
    raises :class:`AxmeSettingsError` naming the key, so no caller ever runs with it. An
    unknown ``name`` raises ``KeyError`` with the closest known key. Reads settings only.
    """
    if name not in DEFAULTS:
        raise _unknown(name)
    return _validated(name, _user_settings().get(name, DEFAULTS[name]))


def axme_settings() -> dict[str, Any]:
    """Return a new dict of every setting, user values over defaults (unknown keys dropped).

    Every value is validated as by :func:`get_setting`; :class:`AxmeSettingsError` names
    every refused key (in table order).
    """
    merged = dict(DEFAULTS)
    merged.update({k: v for k, v in _user_settings().items() if k in DEFAULTS})
    _raise_for(merged)
    return merged


def _raise_for(values: dict[str, Any]) -> None:
    found = [first_problem(name, value) for name, value in values.items()]
    messages = [p.message() for p in found if p is not None]
    if messages:
        raise AxmeSettingsError(" ".join(messages))


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

    Validates the settings the client uses (those with a ``client_field`` in the table) as
    :func:`get_setting` does, then lets :class:`~django_axme.client.AxmeClientConfig`
    validate the result. Either way a refused value raises :class:`AxmeSettingsError` (an
    ``ImproperlyConfigured`` and a ``ValueError``) whose message starts with the key, e.g.
    ``AXME['API_KEY']: api_key must be a non-empty string`` or ``AXME['MAX_RETRIES'] must be
    <= 10, got 1000``. Settings the client does not use are not read.
    """
    from django_axme.client import AxmeClient

    user = _user_settings()
    values = {s.name: user.get(s.name, DEFAULTS[s.name]) for s in SETTINGS if s.client_field}
    _raise_for(values)
    try:
        config = _config_from(values)
    except (TypeError, ValueError) as exc:
        text = str(exc)
        field = next((f for f in _FIELD_SETTINGS if re.match(rf"{f}\b", text)), None)
        where = f"AXME[{_FIELD_SETTINGS[field]!r}]" if field else "settings.AXME"
        raise AxmeSettingsError(f"{where}: {text}") from None
    return AxmeClient(config)


# Client configuration field -> AXME key, to name the setting in error messages.
_FIELD_SETTINGS: dict[str, str] = {s.client_field: s.name for s in SETTINGS if s.client_field}


def _config_from(s: dict[str, Any]) -> AxmeClientConfig:
    """The client configuration for validated settings ``s`` (keys of the table).

    Every table entry with a ``client_field`` is passed to that field; numbers declared
    ``int or float`` are passed as ``float``, an unset ``API_KEY`` as ``""``.
    """
    from django_axme.client import AxmeClientConfig

    kwargs: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.client_field is None or setting.name not in s:
            continue
        value = s[setting.name]
        if float in setting.types and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        kwargs[setting.client_field] = value
    kwargs["api_key"] = kwargs.get("api_key") or ""
    return AxmeClientConfig(**kwargs, idempotency_store=_idempotency_store())


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


def inbox_owners() -> list[str]:
    """The owner agents whose inboxes are read: ``AXME["INBOX_OWNER_AGENTS"]``, or
    ``[AXME["DEFAULT_OWNER_AGENT"]]`` when that list is empty and a default owner is set
    (empty when neither is). Order kept, duplicates and empty names dropped. The one owner
    rule: the inbox sync reads these inboxes, and the idle poll trusts their feed to wake the
    intents whose approval threads they hold."""
    owners = [o for o in (get_setting("INBOX_OWNER_AGENTS") or []) if o]
    if not owners and get_setting("DEFAULT_OWNER_AGENT"):
        owners = [get_setting("DEFAULT_OWNER_AGENT")]
    return list(dict.fromkeys(owners))
