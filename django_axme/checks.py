"""System checks for the ``AXME`` setting (tag ``axme``; ids documented in docs/settings.rst).

They read settings only: no database, no network.
"""

from __future__ import annotations

import difflib
import ipaddress
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.utils.translation import gettext as _

from django_axme.conf import DEFAULTS

TAG = "axme"

_STR = (str,)
_OPT_STR = (str, type(None))
_NUMBER = (int, float)
_INT = (int,)
_BOOL = (bool,)
_STR_LIST = (list, tuple)

# Expected types per key; a key missing here (added to DEFAULTS later) is not type-checked.
EXPECTED_TYPES: dict[str, tuple[type, ...]] = {
    "BASE_URL": _STR,
    "API_KEY": _OPT_STR,
    "ACTOR_TOKEN": _OPT_STR,
    "AUTH_STYLE": _STR,
    "TIMEOUT_SECONDS": _NUMBER,
    "CONNECT_TIMEOUT_SECONDS": _NUMBER,
    "MAX_RETRIES": _INT,
    "RETRY_BACKOFF_SECONDS": _NUMBER,
    "RETRY_BACKOFF_MAX_SECONDS": _NUMBER,
    "POOL_MAXSIZE": _INT,
    "AUTO_TRACE_ID": _BOOL,
    "AUTO_IDEMPOTENCY_KEY": _BOOL,
    "DEFAULT_OWNER_AGENT": _OPT_STR,
    "DEFAULT_FROM_AGENT": _OPT_STR,
    "IDEMPOTENCY_TTL_SECONDS": _NUMBER,
    "IDEMPOTENCY_MISMATCH": _STR,
    "RETENTION_DAYS": _INT,
    "PRUNE_BATCH_SIZE": _INT,
    "TASK_MAX_RETRIES": _INT,
    "TASK_RETRY_BACKOFF_MAX_SECONDS": _NUMBER,
    "OBSERVE_WINDOW_SECONDS": _INT,
    "OBSERVER_LEASE_SECONDS": _NUMBER,
    "OBSERVER_QUEUE": _OPT_STR,
    "OBSERVER_BATCH_SIZE": _INT,
    "RECONCILE_AFTER_SECONDS": _NUMBER,
    "INBOX_OWNER_AGENTS": _STR_LIST,
    "ADMIN_ALLOW_DELETE": _BOOL,
}

CHOICES: dict[str, tuple[str, ...]] = {
    "AUTH_STYLE": ("x-api-key", "bearer"),
    "IDEMPOTENCY_MISMATCH": ("warn", "raise"),
}

# (minimum, strictly greater?) for numeric keys
MINIMUMS: dict[str, tuple[float, bool]] = {
    "TIMEOUT_SECONDS": (0, True),
    "CONNECT_TIMEOUT_SECONDS": (0, True),
    "MAX_RETRIES": (0, False),
    "RETRY_BACKOFF_SECONDS": (0, False),
    "RETRY_BACKOFF_MAX_SECONDS": (0, False),
    "POOL_MAXSIZE": (1, False),
    "IDEMPOTENCY_TTL_SECONDS": (0, True),
    "RETENTION_DAYS": (1, False),
    "PRUNE_BATCH_SIZE": (1, False),
    "TASK_MAX_RETRIES": (0, False),
    "TASK_RETRY_BACKOFF_MAX_SECONDS": (0, False),
    "OBSERVE_WINDOW_SECONDS": (1, False),
    "OBSERVER_LEASE_SECONDS": (0, True),
    "OBSERVER_BATCH_SIZE": (1, False),
    "RECONCILE_AFTER_SECONDS": (0, True),
}

LOOPBACK_NAMES = frozenset({"localhost", "testserver"})


def _type_ok(value: Any, expected: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in expected:
        return False  # True is an int to Python, never a number to us
    return isinstance(value, expected)


def _type_names(expected: tuple[type, ...]) -> str:
    names = {
        str: "str",
        type(None): "None",
        int: "int",
        float: "float",
        bool: "bool",
        list: "list",
        tuple: "tuple",
    }
    return " or ".join(names.get(t, t.__name__) for t in expected)


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_base_url(value: Any) -> list[CheckMessage]:
    if not isinstance(value, str):
        return []  # reported by the type check
    hint = _("Use the full URL of the AXME gateway, e.g. 'https://api.cloud.axme.ai'.")
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
    ):
        return [
            Error(
                _("AXME['BASE_URL'] is not a valid http(s) URL: %(value)r.") % {"value": value},
                hint=hint,
                id="axme.E002",
            )
        ]
    if parts.scheme == "http" and not settings.DEBUG and not _is_loopback(parts.hostname):
        return [
            Warning(
                _(
                    "AXME['BASE_URL'] uses plain http while DEBUG is False: the API key would "
                    "travel unencrypted."
                ),
                hint=_(
                    "Use https:// (plain http is accepted without this warning only for "
                    "localhost and loopback addresses, e.g. a local emulator)."
                ),
                id="axme.W003",
            )
        ]
    return []


@register(TAG)
def check_axme_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Validate ``settings.AXME``: presence of the API key, URL, keys, types, choices, ranges."""
    user = getattr(settings, "AXME", None)
    if user is None:
        user = {}
    if not isinstance(user, dict):
        return [
            Error(
                _("The AXME setting must be a dict, got %(type)s.") % {"type": type(user).__name__},
                hint=_("Write AXME = {'API_KEY': ..., 'BASE_URL': ...} in your settings."),
                id="axme.E007",
            )
        ]
    messages: list[CheckMessage] = []
    for key in user:
        if key not in DEFAULTS:
            close = difflib.get_close_matches(str(key), list(DEFAULTS), n=1)
            hint = (
                _("Did you mean %(name)r?") % {"name": close[0]}
                if close
                else _("Known keys are listed in the django-axme settings documentation.")
            )
            messages.append(
                Error(_("Unknown key %(key)r in AXME.") % {"key": key}, hint=hint, id="axme.E004")
            )
    bad_type: set[str] = set()
    for key, value in user.items():
        expected = EXPECTED_TYPES.get(key)
        if expected is None or _type_ok(value, expected):
            continue
        bad_type.add(key)
        messages.append(
            Error(
                _("AXME[%(key)r] must be %(expected)s, got %(type)s.")
                % {"key": key, "expected": _type_names(expected), "type": type(value).__name__},
                id="axme.E005",
            )
        )
    for key, allowed in CHOICES.items():
        if key in user and key not in bad_type and user[key] not in allowed:
            messages.append(
                Error(
                    _("AXME[%(key)r] is %(value)r; allowed values: %(allowed)s.")
                    % {"key": key, "value": user[key], "allowed": ", ".join(allowed)},
                    id="axme.E006",
                )
            )
    for key, (minimum, strict) in MINIMUMS.items():
        if key not in user or key in bad_type or not isinstance(user[key], (int, float)):
            continue
        value = user[key]
        if value < minimum or (strict and value == minimum):
            relation = ">" if strict else ">="
            messages.append(
                Error(
                    _("AXME[%(key)r] must be %(relation)s %(minimum)s, got %(value)r.")
                    % {"key": key, "relation": relation, "minimum": minimum, "value": value},
                    id="axme.E008",
                )
            )
    api_key = user.get("API_KEY", DEFAULTS["API_KEY"])
    if api_key is None or (isinstance(api_key, str) and not api_key.strip()):
        messages.append(
            Error(
                _("AXME['API_KEY'] is not set."),
                hint=_(
                    "Set AXME['API_KEY'] to your AXME service-account key, for example "
                    "from an environment variable: os.environ['AXME_API_KEY']."
                ),
                id="axme.E001",
            )
        )
    if "BASE_URL" not in bad_type:
        messages.extend(_check_base_url(user.get("BASE_URL", DEFAULTS["BASE_URL"])))
    if user.get("AUTH_STYLE") == "bearer" and user.get("ACTOR_TOKEN"):
        messages.append(
            Error(
                _("AXME['ACTOR_TOKEN'] cannot be used with AUTH_STYLE 'bearer'."),
                hint=_(
                    "The 'bearer' style already sends the API key in the Authorization "
                    "header; use AUTH_STYLE 'x-api-key' to send an actor token."
                ),
                id="axme.E009",
            )
        )
    return messages
