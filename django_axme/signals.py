"""Public signals of django-axme.

Every signal is sent by the one writer (``django_axme.sync``), through a transactional outbox
(:mod:`django_axme.sync.dispatch`, documented in ``docs/signals.rst``):

- it is recorded (a :class:`~django_axme.models.PendingSignal` row) in the same transaction as
  the mirror change that causes it: never sent for a change that was rolled back;
- after that transaction commits it is delivered in a transaction of its own, which deletes
  the row and runs every receiver in its own savepoint: a receiver runs after the mirror change
  is committed, its database writes commit together with the delivery, and
  ``transaction.on_commit`` in a receiver fires after the delivery commits;
- a process killed between the two commits leaves the row and rolls back the receivers'
  partial writes; :func:`django_axme.sync.deliver_pending_signals` (run at worker start, by
  ``reconcile_open_intents`` and by ``axme_sync``) delivers it later. Receivers' database
  effects therefore happen exactly once; their effects outside the database are at least once
  across crashes (at most once when deferred with ``transaction.on_commit``).

Each lifecycle transition of an intent is signalled exactly once, whichever path (stream, poll,
``axme_sync``, admin action, reconcile sweep) brought the news first; duplicates and late
events signal nothing. The signals of one intent are delivered in the order they were
recorded. A receiver that raises an ``Exception`` is logged (logger ``django_axme.signals``,
with the remote intent id), its savepoint is rolled back, and it neither stops the other
receivers nor undoes the mirror; a ``BaseException`` aborts the delivery (it is retried later).

Intent signals (``sender`` is :class:`django_axme.models.Intent`):

``intent_created(intent)``
    The first time a remote intent id is mirrored (a new row, or an outbox row that got its
    remote id).

``intent_status_changed(intent, previous_status, status, event)``
    The mirrored status changed. ``previous_status`` and ``status`` are the raw status
    strings (an unknown remote status is passed as it came); ``event`` is the
    :class:`~django_axme.models.IntentEvent` that moved it.

``intent_waiting(intent, event)``
    The intent entered ``WAITING``, or changed its waiting reason while waiting
    (``intent.waiting_reason`` tells for what, e.g. ``WAITING_FOR_HUMAN``).

``intent_completed(intent, event)``, ``intent_failed(intent, event)``,
``intent_canceled(intent, event)``, ``intent_timed_out(intent, event)``
    The intent reached that terminal status (sent once: terminal is final).

``intent_event_received(intent, event)``
    An event that does not change the status was stored for the first time: a reminder
    (``intent.reminder``), an escalation (``intent.escalated``), a delivery failure
    (``intent.delivery_failed``) or a human task assigned (``intent.human_task_assigned``);
    ``event.event_type`` says which (:data:`NOTABLE_EVENT_TYPES`). Sent once per event,
    whatever path brought it, and also for such an event that arrives late.

Approval signals (``sender`` is :class:`django_axme.models.Approval`):

``approval_requested(approval)``
    An inbox thread waiting for a human was mirrored for the first time.

``approval_decided(approval, decision, user)``
    A decision taken here (``decision``, an :class:`~django_axme.models.ApprovalDecision`)
    was confirmed by the gateway; ``user`` is the Django user who decided (or ``None``).

Agent signals (``sender`` is :class:`django_axme.models.Intent`):

``intent_received(intent, event)``
    An intent addressed to one of ``AXME["AGENT_ADDRESSES"]`` was received from the agent
    stream for the first time (``intent.direction == "inbound"``); sent once per intent
    however often the gateway redelivers it, before its handler runs.

The ``intent``/``approval`` argument is the model instance as saved at the end of the
writer's transaction (re-read from the database at delivery time when a recovery delivers the
signal); for the state a particular transition moved to, read ``status`` and ``event``.
"""

from __future__ import annotations

from django.dispatch import Signal

#: Event types that change no status but are worth telling a person (and a receiver) about.
NOTABLE_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "intent.reminder",
        "intent.escalated",
        "intent.delivery_failed",
        "intent.human_task_assigned",
    }
)

__all__ = [
    "approval_decided",
    "approval_requested",
    "intent_canceled",
    "intent_completed",
    "intent_created",
    "intent_event_received",
    "intent_failed",
    "intent_received",
    "intent_status_changed",
    "intent_timed_out",
    "intent_waiting",
]

intent_created = Signal()
intent_status_changed = Signal()
intent_waiting = Signal()
intent_completed = Signal()
intent_failed = Signal()
intent_canceled = Signal()
intent_timed_out = Signal()
approval_requested = Signal()
approval_decided = Signal()
intent_received = Signal()
intent_event_received = Signal()
