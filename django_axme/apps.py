from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AxmeConfig(AppConfig):
    """App config: registers system checks and the settings-change hook on start-up."""

    name = "django_axme"
    label = "django_axme"
    verbose_name = _("AXME")
    # Fixed here so that a project's DEFAULT_AUTO_FIELD never changes our migrations.
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Importing registers the system checks (settings, SQLite options, webhooks) and hooks.
        from django_axme import checks, conf, database_checks, webhook_checks  # noqa: F401
