from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PurchasesConfig(AppConfig):
    """Connects the purchase receivers to the django-axme signals on start-up."""

    name = "purchases"
    verbose_name = _("Purchases (example app)")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from purchases import receivers

        receivers.connect()
