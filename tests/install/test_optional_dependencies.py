"""A missing optional dependency names the ``pip install`` that fixes it, or degrades."""

from __future__ import annotations

import sys
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from django_axme.client.errors import AxmeError
from django_axme.dependencies import AxmeImproperlyInstalled, require
from django_axme.emulator import Emulator
from django_axme.emulator.mock import mock_gateway


def test_require_returns_the_module_or_names_the_extra(monkeypatch) -> None:
    assert require("json", "testing") is sys.modules["json"]
    monkeypatch.setitem(sys.modules, "responses", None)  # "not installed"
    with pytest.raises(AxmeImproperlyInstalled) as info:
        require("responses", "testing")
    error = info.value
    assert isinstance(error, ImproperlyConfigured) and isinstance(error, AxmeError)
    assert error.missing == "responses" and error.extra == "testing"
    assert 'pip install "django-axme[testing]"' in str(error)


def test_mock_gateway_without_responses_says_which_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "responses", None)
    emulator = Emulator()
    try:
        expected = r'pip install "django-axme\[testing\]"'
        with pytest.raises(AxmeImproperlyInstalled, match=expected), mock_gateway(emulator):
            pass
    finally:
        emulator.close()


def test_responses_and_tqdm_are_not_runtime_requirements() -> None:
    from importlib.metadata import requires

    runtime = [r for r in requires("django-axme") or [] if "extra ==" not in r]
    names = {r.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip() for r in runtime}
    assert names == {"Django", "requests", "sseclient-py"}
    testing = [r for r in requires("django-axme") or [] if 'extra == "testing"' in r]
    assert any(r.startswith("responses") for r in testing)


@pytest.mark.django_db
def test_axme_sync_prints_plain_progress_without_tqdm(
    monkeypatch, axme_mock, axme_settings
) -> None:
    from django_axme import sync
    from django_axme.management.commands import axme_sync

    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setattr(axme_sync, "PROGRESS_THRESHOLD", 3)
    ids = []
    for n in range(4):
        remote = axme_mock.create_intent(
            {
                "intent_type": "shop.order.v1",
                "from_agent": "agent://s",
                "to_agent": "agent://w",
                "payload": {"n": n},
            }
        )
        sync.ingest_intent(remote)
        ids.append(remote["intent_id"])
    out, err = StringIO(), StringIO()
    call_command("axme_sync", stdout=out, stderr=err)
    assert "Synced 4 intent(s)" in out.getvalue()
    assert err.getvalue().splitlines() == [f"axme_sync: {i}/4 intents" for i in range(1, 5)]
