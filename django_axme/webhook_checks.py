"""System checks of the webhook settings (tag ``axme``; ids documented in docs/settings.rst).

- ``axme.W030``: the URLconf routes to the ``axme:webhook`` view but no secret is configured
  (every delivery would be refused with 403).
- ``axme.E031``: a webhook secret shorter than 16 characters (AXME's own lower bound).
- ``axme.E032``: ``WEBHOOK_URL`` is not an http(s) URL.

They read settings and the URLconf only: no database, no network.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from django_axme.settings_table import WEBHOOK_MIN_SECRET_LENGTH, first_problem

TAG = "axme"
MIN_SECRET_LENGTH = WEBHOOK_MIN_SECRET_LENGTH


def _routes_webhook_view() -> bool:
    try:
        reverse("axme:webhook")
    except NoReverseMatch:
        return False
    except Exception:  # a broken URLconf is Django's own check's business
        return False
    return True


@register(TAG)
def check_webhook_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when the webhook view is routed without a secret; refuse short secrets and a
    malformed ``WEBHOOK_URL``. Values of the wrong type are reported by the settings check."""
    user = getattr(settings, "AXME", None)
    if not isinstance(user, dict):
        return []
    messages: list[CheckMessage] = []
    one = user.get("WEBHOOK_SECRET")
    many = user.get("WEBHOOK_SECRETS", [])
    secrets: list[str] = []
    if first_problem("WEBHOOK_SECRET", one) is None and one:
        secrets.append(one)
    if first_problem("WEBHOOK_SECRETS", many) is None:
        secrets.extend(many)
    if any(len(s) < MIN_SECRET_LENGTH for s in secrets):
        messages.append(
            Error(
                _("A webhook secret in AXME is shorter than %(n)d characters.")
                % {"n": MIN_SECRET_LENGTH},
                hint=_(
                    "Use a random secret of at least 32 characters, e.g. the output of "
                    "'python -c \"import secrets; print(secrets.token_urlsafe(32))\"'."
                ),
                id="axme.E031",
            )
        )
    if not secrets and _routes_webhook_view():
        messages.append(
            Warning(
                _(
                    "The axme:webhook view is in the URLconf but no webhook secret is "
                    "configured: every delivery will be refused (403)."
                ),
                hint=_("Set AXME['WEBHOOK_SECRETS'] (or AXME['WEBHOOK_SECRET'])."),
                id="axme.W030",
            )
        )
    url = user.get("WEBHOOK_URL")
    if isinstance(url, str) and url:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            messages.append(
                Error(
                    _("AXME['WEBHOOK_URL'] is not an http(s) URL."),
                    hint=_(
                        "The public URL of the axme:webhook view, e.g. "
                        "'https://shop.example/axme/webhook/'."
                    ),
                    id="axme.E032",
                )
            )
    return messages
