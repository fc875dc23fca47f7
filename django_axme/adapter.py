"""The override point for what a project customises without forking: ``AXME["ADAPTER"]``.

``AXME["ADAPTER"]`` is the dotted path of a class (default :class:`DefaultAxmeAdapter`);
:func:`get_adapter` returns an instance. Subclass the default and override what differs::

    class MyAdapter(DefaultAxmeAdapter):
        def actor_for(self, user):
            return f"acme-sso:{user.email}"

        def owner_agent_for(self, user, approval):
            return user.profile.axme_agent or super().owner_agent_for(user, approval)

        def intent_summary(self, intent):
            if intent.intent_type == "purchase.request.v1":
                return f"{intent.payload['item']}, {intent.payload['amount']} EUR"
            return super().intent_summary(intent)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

if TYPE_CHECKING:  # pragma: no cover
    from django_axme.models import Approval, Intent

#: How many payload values the default one-line summary shows.
SUMMARY_VALUES = 3
SUMMARY_MAX_LENGTH = 200

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

    def assignee_identities(self, user: Any) -> list[str]:
        """The strings a human task's ``assignees`` use for ``user``: an approval is assigned
        to ``user`` when one of its assignees is one of these (case-insensitive).

        Default: the username, ``user:<username>``, the e-mail address when set, and
        ``group:<name>`` for each of the user's Django groups (one query). Override to map
        your own scheme (SSO subjects, AXME agent addresses of people, teams).
        """
        if user is None or not getattr(user, "is_authenticated", False):
            return []
        name = user.get_username()
        identities = [name, f"user:{name}"]
        email = getattr(user, "email", "")
        if email:
            identities.append(email)
        groups = getattr(user, "groups", None)
        if groups is not None:
            identities += [f"group:{g}" for g in groups.values_list("name", flat=True)[:50]]
        return [i for i in identities if i]

    def intent_summary(self, intent: Intent) -> str:
        """One line saying what ``intent`` asks for, shown next to its type in the intent
        list, the approval queue and on the approval page (escaped there; keep it short).

        Default: the first few short top-level payload values as ``"Label: value"`` (labels
        from the keys, numbers and dates formatted), or ``""`` when the payload has none.
        Runs once per listed row: it must not query the database.
        """
        from django_axme.readable import format_value, label_for

        payload = intent.payload if isinstance(intent.payload, dict) else {}
        parts = []
        for key, value in payload.items():
            if isinstance(value, dict | list) or value in (None, ""):
                continue
            text = format_value(value)
            if len(text) > 60:
                continue
            parts.append(f"{label_for(key)}: {text}")
            if len(parts) == SUMMARY_VALUES:
                break
        return ", ".join(parts)[:SUMMARY_MAX_LENGTH]

    def approval_summary(self, approval: Approval) -> str:
        """One line saying what ``approval`` decides, shown under its title in the queue and
        at the top of its page. Default: :meth:`intent_summary` of its intent (``""`` when
        the intent is not mirrored). Runs once per listed row: it must not query the
        database beyond ``approval.intent`` (already joined) and ``intent.created_by``.
        """
        intent = approval.intent
        return self.intent_summary(intent) if intent is not None else ""


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
