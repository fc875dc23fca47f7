"""``AXME["ADAPTER"]``: the actor of admin mutations and the identity that decides."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_axme.adapter import DefaultAxmeAdapter, get_adapter
from django_axme.admin import operations


class _User:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_username(self) -> str:
        return self.name


class SsoAdapter(DefaultAxmeAdapter):
    def actor_for(self, user):
        return f"acme-sso:{user.get_username()}"

    def owner_agent_for(self, user, approval):
        return "agent://acme/finance"


def test_default_adapter(settings) -> None:
    settings.AXME = {k: v for k, v in settings.AXME.items() if k != "ADAPTER"}
    adapter = get_adapter()
    assert type(adapter) is DefaultAxmeAdapter
    assert operations.actor_for(_User("ann")) == "django-admin:ann"
    assert operations.actor_for(_User("")) == "django-admin:unknown"


def test_a_project_adapter_names_the_actor(settings) -> None:
    settings.AXME = {**settings.AXME, "ADAPTER": f"{__name__}.SsoAdapter"}
    assert isinstance(get_adapter(), SsoAdapter)
    assert operations.actor_for(_User("ann")) == "acme-sso:ann"


def test_a_bad_adapter_path_is_improperly_configured(settings) -> None:
    settings.AXME = {**settings.AXME, "ADAPTER": "nowhere.Adapter"}
    with pytest.raises(ImproperlyConfigured, match="ADAPTER"):
        get_adapter()
    settings.AXME = {**settings.AXME, "ADAPTER": f"{__name__}.test_default_adapter"}
    with pytest.raises(ImproperlyConfigured, match="not a class"):
        get_adapter()
