"""Send intents from inside a database transaction (the transactional outbox).

:func:`send_intent_on_commit` is the public entry point, also available as
``django_axme.send_intent_on_commit``::

    with transaction.atomic():
        order.save()
        intent = django_axme.send_intent_on_commit(
            "intent.order.approve.v1",
            {"order_id": order.pk},
            to_agent="agent://acme/ops/approver",
            user=request.user,
        )
        order.intent = intent
        order.save()

Guarantees:

- The local :class:`~django_axme.models.Intent` row is written in the caller's transaction
  (``send_state="pending"``); a rollback leaves nothing behind and sends nothing.
- After commit, the ``django_axme.tasks.send_intent`` task creates the intent remotely with an
  idempotency key derived from the row, so a crash, a redelivered message or a retry never
  creates two remote intents: the gateway answers a repeated key with the original intent.
- A lost after-commit message (the process died right after commit) is found by the
  ``reconcile_open_intents`` sweep, which sends rows left pending.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import transaction

from django_axme.models import Intent

__all__ = ["enqueue_send", "send_intent_on_commit"]


def enqueue_send(intent_pk: int, *, observe: bool = True) -> None:
    """Enqueue the ``send_intent`` task for an outbox row now (no transaction involved)."""
    from django_axme.tasks import send_intent

    send_intent.apply_async(args=(intent_pk,), kwargs={"observe": observe})


def send_intent_on_commit(
    intent_type: str,
    payload: Mapping[str, Any] | None = None,
    *,
    to_agent: str,
    from_agent: str | None = None,
    reply_to: str | None = None,
    correlation_id: str | None = None,
    deadline_at: datetime | str | None = None,
    human_task: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    user: Any = None,
    observe: bool = True,
    using: str | None = None,
) -> Intent:
    """Write an intent to the outbox now and send it to AXME after the transaction commits.

    Arguments are the fields of ``POST /v1/intents``: ``intent_type`` (for example
    ``"intent.purchase.approve.v1"``), the ``payload`` object, ``to_agent``, and optionally
    ``from_agent`` (defaults to ``AXME["DEFAULT_FROM_AGENT"]``), ``reply_to``,
    ``correlation_id`` (a UUID; generated when omitted), ``deadline_at`` (aware datetime or
    ISO 8601 string) and ``human_task``; ``extra`` carries any other create field
    (``remind_after_seconds``, ``max_delivery_attempts``, ...). ``user`` is stored as
    ``created_by``. With ``observe=True`` (default) an observer follows the intent once sent.
    ``using`` names the database alias whose transaction the send waits for.

    Returns the unsaved-remote :class:`~django_axme.models.Intent` row (its ``intent_id`` is
    empty until the send task has run). Raises :class:`ValueError` naming a bad field, and
    nothing is written then: an unknown field; a missing ``intent_type`` or ``to_agent``; a
    text field longer than its column (``intent_type`` 255 characters, the agent addresses
    383) or holding a NUL or an unpaired surrogate; a ``payload``, ``human_task`` or other
    value that is not plain JSON (a datetime, Decimal, set, bytes, NaN or infinity, a
    non-string key, nesting deeper than 256 levels), naming the place
    (``payload['a'][0]``); a bad ``correlation_id`` or ``deadline_at``. The payload is stored
    once (the ``payload`` column), however large.
    """
    from django_axme.conf import get_setting
    from django_axme.sync.outbox import create_outbox_row

    body: dict[str, Any] = dict(extra or {})
    body.update(
        {
            "intent_type": intent_type,
            "payload": {} if payload is None else payload,
            "to_agent": to_agent,
            "from_agent": from_agent or get_setting("DEFAULT_FROM_AGENT"),
            "reply_to": reply_to,
            "correlation_id": correlation_id,
            "deadline_at": deadline_at,
            "human_task": human_task,
        }
    )
    row = create_outbox_row(body, user=user, using=using)
    pk = row.pk
    transaction.on_commit(lambda: enqueue_send(pk, observe=observe), using=using, robust=True)
    return row
