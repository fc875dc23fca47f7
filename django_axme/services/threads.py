"""Answering an approval's inbox thread without deciding it: reply (or ask for
clarification) and delegate to another owner.

Each call goes to AXME first with an idempotency key derived from the thread, the user and
the content (a double submit is one reply), then the thread AXME answers with is handed to
the one writer (:func:`django_axme.services.refresh.ingest_inbox_thread`), so the approval's
thread timeline shows the reply or the delegation. Permission checks are the caller's (the
admin requires ``django_axme.reply_approval`` / ``django_axme.delegate_approval``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django_axme.exceptions import AxmeError
from django_axme.models import Approval

logger = logging.getLogger("django_axme.admin")

__all__ = ["ThreadAnswer", "delegate_thread", "reply_to_thread"]

MESSAGE_MAX_LENGTH = 5000
NOTE_MAX_LENGTH = 2000


@dataclass(frozen=True)
class ThreadAnswer:
    """What happened: ``ok``, the refreshed approval (when AXME answered) or the error."""

    ok: bool
    approval: Approval | None = None
    error: AxmeError | None = None


def _key(action: str, approval: Approval, user: Any, *parts: str) -> str:
    name = user.get_username() if user is not None else ""
    digest = hashlib.sha256("\x00".join([approval.thread_id, name, *parts]).encode()).hexdigest()
    return f"django-axme-{action}-{digest[:40]}"


def _settle(client: Any, approval: Approval, answer: Any) -> ThreadAnswer:
    from django_axme.services.refresh import ingest_inbox_thread, refresh_thread

    thread = answer.get("thread") if isinstance(answer, Mapping) else None
    if isinstance(thread, Mapping) and thread.get("thread_id") == approval.thread_id:
        fresh = ingest_inbox_thread(client, thread)
    else:
        fresh = refresh_thread(client, approval)
    return ThreadAnswer(True, fresh or approval)


def reply_to_thread(
    approval: Approval, *, message: str, user: Any, client: Any | None = None
) -> ThreadAnswer:
    """Post ``message`` on the approval's thread (a reply, or a request for clarification)."""
    from django_axme import get_client
    from django_axme.adapter import get_adapter

    client = client or get_client()
    message = message.strip()[:MESSAGE_MAX_LENGTH]
    try:
        answer = client.reply_inbox_thread(
            approval.thread_id,
            message=message,
            owner_agent=get_adapter().owner_agent_for(user, approval),
            idempotency_key=_key("reply", approval, user, message),
        )
        return _settle(client, approval, answer)
    except AxmeError as exc:
        logger.warning("reply on thread %s failed: %s", approval.thread_id, exc)
        return ThreadAnswer(False, error=exc)


def delegate_thread(
    approval: Approval, *, delegate_to: str, note: str = "", user: Any, client: Any | None = None
) -> ThreadAnswer:
    """Hand the approval's thread to another owner (``delegate_to``), with an optional note."""
    from django_axme import get_client
    from django_axme.adapter import get_adapter

    client = client or get_client()
    body = {"delegate_to": delegate_to.strip()[:255]}
    if note.strip():
        body["note"] = note.strip()[:NOTE_MAX_LENGTH]
    try:
        answer = client.delegate_inbox_thread(
            approval.thread_id,
            body,
            owner_agent=get_adapter().owner_agent_for(user, approval),
            idempotency_key=_key("delegate", approval, user, body["delegate_to"], note),
        )
        return _settle(client, approval, answer)
    except AxmeError as exc:
        logger.warning("delegation of thread %s failed: %s", approval.thread_id, exc)
        return ThreadAnswer(False, error=exc)
