"""The override point for what a project customises without forking: ``AXME["ADAPTER"]``.

``AXME["ADAPTER"]`` is the dotted path of a class (default :class:`DefaultAxmeAdapter`);
:func:`get_adapter` returns an instance. Subclass the default and override what differs::

    class MyAdapter(DefaultAxmeAdapter):
        def actor_for(self, user):
            return f"acme-sso:{user.email}"

        def owner_agent_for(self, user, approval):
            return user.profile.axme_agent or super().owner_agent_for(user, approval)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

if TYPE_CHECKING:  # pragma: no cover
    from django_axme.models import Approval

__all__ = ["DefaultAxmeAdapter", "get_adapter"]


class DefaultAxmeAdapter:
    """What django-axme does unless a project says otherwise."""

    def actor_for(self, user: Any) -> str:
        """The ``actor`` string sent with a mutation a Django user started from the admin
        (cancel, resume, controls): ``"django-admin:<username>"``, at most 255 characters."""
        name = user.get_username() if user is not None else ""
        return f"django-admin:{name or 'unknown'}"[:255]

    def owner_agent_for(self, user: Any, approval: Approval) -> str | None:
        """The AXME identity (owner agent) that decides ``approval`` for ``user``: the
        approval's owner agent (``None`` falls back to ``AXME["DEFAULT_OWNER_AGENT"]``)."""
        return approval.owner_agent or None


def get_adapter() -> DefaultAxmeAdapter:
    """An instance of the class named by ``AXME["ADAPTER"]``.

    Raises :class:`~django.core.exceptions.ImproperlyConfigured` when the path cannot be
    imported or does not name a class.
    """
    from django_axme.conf import get_setting

    path = get_setting("ADAPTER")
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"AXME['ADAPTER']: cannot import {path!r}: {exc}") from exc
    if not isinstance(cls, type):
        raise ImproperlyConfigured(f"AXME['ADAPTER']: {path!r} is not a class")
    return cls()
