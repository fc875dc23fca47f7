"""Public signals of django-axme.

Every signal is sent by the one writer (``django_axme.sync``) and only from a
``transaction.on_commit`` callback: a receiver runs after the mirror change that caused it has
been committed, and never for a change that was rolled back. Each lifecycle transition of an
intent is signalled exactly once, whichever path (stream, poll, ``axme_sync``, admin action,
reconcile sweep) brought the news first; duplicates and late events signal nothing.
Receivers are called with ``send_robust``: a receiver that raises is logged (logger
``django_axme.signals``, with the remote intent id) and neither stops the other receivers nor
undoes the mirror.

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

Approval signals (``sender`` is :class:`django_axme.models.Approval`):

``approval_requested(approval)``
    An inbox thread waiting for a human was mirrored for the first time.

``approval_decided(approval, decision, user)``
    A decision taken here (``decision``, an :class:`~django_axme.models.ApprovalDecision`)
    was confirmed by the gateway; ``user`` is the Django user who decided (or ``None``).

The ``intent``/``approval`` argument is the model instance as saved at the end of the
transaction; for the state a particular transition moved to, read ``status`` and ``event``.
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = [
    "approval_decided",
    "approval_requested",
    "intent_canceled",
    "intent_completed",
    "intent_created",
    "intent_failed",
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
