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
from django_axme.settings_table import BY_NAME, SETTINGS, Setting, first_problem, problems

TAG = "axme"

# Views of the one table (django_axme.settings_table.SETTINGS), kept under their old names.
# A key of conf.DEFAULTS missing from the table (added by a later version) is not validated.
EXPECTED_TYPES: dict[str, tuple[type, ...]] = {s.name: s.types for s in SETTINGS}
CHOICES: dict[str, tuple[str, ...]] = {s.name: s.choices for s in SETTINGS if s.choices}
# (minimum, strictly greater?) and maximum of numeric keys
MINIMUMS: dict[str, tuple[float, bool]] = {
    s.name: (s.minimum, s.minimum_exclusive) for s in SETTINGS if s.minimum is not None
}
MAXIMUMS: dict[str, float] = {s.name: s.maximum for s in SETTINGS if s.maximum is not None}

# Problem kind (settings_table.Problem.kind) -> check id.
PROBLEM_IDS = {
    "type": "axme.E005",
    "choice": "axme.E006",
    "range": "axme.E008",
    "url": "axme.E002",
    "credentials": "axme.E002",
}

LOOPBACK_NAMES = frozenset({"localhost", "testserver"})


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hint(setting: Setting, kind: str) -> str | None:
    if kind == "url":
        return _("Use the full URL of the AXME gateway, e.g. 'https://api.cloud.axme.ai'.")
    if kind == "credentials":
        return _("Remove 'user:password@' from the URL; the gateway authenticates the API key.")
    text = f"{setting.name}: {setting.doc}"
    bounds = setting.bounds_text()
    if kind == "range" and bounds:
        return _("%(doc)s Allowed: %(bounds)s.") % {"doc": text, "bounds": bounds}
    return text


def _plain_http_warning(value: str) -> list[CheckMessage]:
    """W003 for a valid ``http://`` URL to a non-loopback host while ``DEBUG`` is off."""
    parts = urlsplit(value.strip())
    if parts.scheme == "http" and not settings.DEBUG and not _is_loopback(parts.hostname or ""):
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
    """Validate ``settings.AXME``: unknown keys, then each value against the settings table.

    Types, list elements, choices, finiteness, bounds and the URL are judged by
    :func:`django_axme.settings_table.problems`, the validator the runtime uses too, so a
    value passes here exactly when ``get_setting()`` / ``build_client()`` accept it. Then
    the cross-key rules: the API key is set, plain http, actor token with ``bearer``.
    """
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
    for key, value in user.items():
        setting = BY_NAME.get(key)
        if setting is None:
            continue
        for problem in problems(setting, value):
            messages.append(
                Error(
                    problem.message(_),
                    hint=_hint(setting, problem.kind),
                    id=PROBLEM_IDS[problem.kind],
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
    base_url = user.get("BASE_URL", DEFAULTS["BASE_URL"])
    if first_problem("BASE_URL", base_url) is None:
        messages.extend(_plain_http_warning(base_url))
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
    messages.extend(_lease_window_warning(user))
    return messages


def _lease_window_warning(user: dict[str, Any]) -> list[CheckMessage]:
    """W010 when a valid ``OBSERVER_LEASE_SECONDS`` is not longer than a valid window."""
    lease = user.get("OBSERVER_LEASE_SECONDS", DEFAULTS["OBSERVER_LEASE_SECONDS"])
    window = user.get("OBSERVE_WINDOW_SECONDS", DEFAULTS["OBSERVE_WINDOW_SECONDS"])
    if first_problem("OBSERVER_LEASE_SECONDS", lease) or first_problem(
        "OBSERVE_WINDOW_SECONDS", window
    ):
        return []  # reported above
    if lease > window:
        return []
    return [
        Warning(
            _(
                "AXME['OBSERVER_LEASE_SECONDS'] (%(lease)s) is not longer than "
                "AXME['OBSERVE_WINDOW_SECONDS'] (%(window)s): the lease of an observer in a "
                "quiet window runs out, and the reconcile sweep may start a second observer."
            )
            % {"lease": lease, "window": window},
            hint=_("Keep the lease a few windows long (the defaults are 90 and 25)."),
            id="axme.W010",
        )
    ]
