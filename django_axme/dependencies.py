"""Optional dependencies: the extras of ``django-axme`` and the error naming the one to install.

A feature that needs a package from an extra imports it through :func:`require`; when the
package is missing, :class:`AxmeImproperlyInstalled` says which ``pip install`` fixes it
(the idea of django-anymail's ``AnymailImproperlyInstalled``). This module imports only
``django.core.exceptions`` (no settings needed) and the client's errors; the Django-free
emulator imports it only on the error path.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from django.core.exceptions import ImproperlyConfigured

from django_axme.client.errors import AxmeError

__all__ = ["EXTRAS", "AxmeImproperlyInstalled", "install_command", "require"]

#: What each extra is for (``setup.cfg`` lists what it installs).
EXTRAS: dict[str, str] = {
    "celery": "the Celery tasks (outbox sending, observers, periodic sync)",
    "redis": "Celery on a Redis broker (kombu's Redis transport)",
    "amqp": "Celery on RabbitMQ (py-amqp)",
    "postgres": "PostgreSQL through psycopg 3",
    "testing": "the emulator's in-process mock (axme_mock, mock_gateway) and the pytest fixtures",
    "progress": "a progress bar for manage.py axme_sync",
    "docs": "building the documentation",
}


def install_command(extra: str) -> str:
    """The shell command that installs ``extra``: ``pip install "django-axme[extra]"``."""
    return f'pip install "django-axme[{extra}]"'


class AxmeImproperlyInstalled(ImproperlyConfigured, AxmeError):
    """A feature needs a package that is not installed; the message names the extra.

    Both an ``ImproperlyConfigured`` (Django shows it as a configuration problem) and an
    :class:`~django_axme.client.errors.AxmeError` (one ``except AxmeError`` catches it).
    ``missing`` is the module that failed to import, ``extra`` the extra that brings it and
    ``install`` the command to run.
    """

    def __init__(self, missing: str, extra: str, feature: str | None = None) -> None:
        self.missing = missing
        self.extra = extra
        self.install = install_command(extra)
        what = feature or EXTRAS.get(extra, f"the {extra!r} extra")
        super().__init__(
            f"{what[:1].upper()}{what[1:]} needs the Python package {missing!r}, which is not "
            f"installed. Install it with: {self.install}"
        )


def require(module: str, extra: str, feature: str | None = None) -> ModuleType:
    """Import ``module`` and return it; raise :class:`AxmeImproperlyInstalled` naming
    ``extra`` when it (or a module it imports) is missing. Idempotent, no side effect but the
    import itself."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise AxmeImproperlyInstalled(exc.name or module, extra, feature) from exc
