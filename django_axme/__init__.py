"""django-axme: the AXME durable intent platform as a Django app.

Public entry points are imported lazily so that ``import django_axme`` never needs
configured Django settings (the client half works without Django at all).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "get_client", "send_intent_on_commit"]

if TYPE_CHECKING:  # pragma: no cover
    from django_axme.client import AxmeClient


def get_client() -> AxmeClient:
    """Return the process-wide client configured from ``settings.AXME`` (see ``conf.py``)."""
    from django_axme.conf import get_client as _get_client

    return _get_client()


def send_intent_on_commit(*args: Any, **kwargs: Any) -> Any:
    """Write an intent to the outbox now and send it after commit (see ``outbox.py``)."""
    from django_axme.outbox import send_intent_on_commit as _send

    return _send(*args, **kwargs)
