"""Every exception django-axme defines sits under ``AxmeError``, or is a configuration /
installation error under Django's ``ImproperlyConfigured`` (issue 13: ``IntentWaitError``,
``IntentWaitTimeout`` and ``StalePolicyGenerationError`` were plain ``RuntimeError``s).

The emulator (a separate program with its own errors) is left out.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from django.core.exceptions import ImproperlyConfigured

import django_axme
from django_axme.exceptions import AxmeError

#: Internal signals of the client that never leave it (it turns them into typed errors):
#: a ``requests`` error raised inside the SSE reader, and the deadline's private marker.
INTERNAL = {"django_axme.client.sse.SSELimitError", "django_axme.client.transport._DeadlineExpired"}


def _modules():
    for info in pkgutil.walk_packages(django_axme.__path__, "django_axme."):
        if info.name.startswith(("django_axme.emulator", "django_axme.migrations")):
            continue
        if info.name.startswith("django_axme.management.commands."):
            continue
        yield importlib.import_module(info.name)


def test_every_exception_is_an_axme_error_or_improperly_configured() -> None:
    found = {}
    for module in _modules():
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and not issubclass(obj, Warning)
                and obj.__module__ == module.__name__
            ):
                found[f"{module.__name__}.{name}"] = obj
    assert "django_axme.exceptions.IntentWaitError" in found  # the walk sees them
    outside = sorted(
        name
        for name, cls in found.items()
        if not issubclass(cls, (AxmeError, ImproperlyConfigured)) and name not in INTERNAL
    )
    assert not outside, outside


def test_former_bases_are_kept() -> None:
    from django_axme.conf import AxmeSettingsError
    from django_axme.tasks import IntentWaitError, IntentWaitTimeout, StalePolicyGenerationError

    assert issubclass(IntentWaitError, RuntimeError) and issubclass(IntentWaitError, AxmeError)
    assert issubclass(IntentWaitTimeout, TimeoutError)
    assert issubclass(StalePolicyGenerationError, RuntimeError)
    assert issubclass(AxmeSettingsError, (ImproperlyConfigured)) and issubclass(
        AxmeSettingsError, ValueError
    )
