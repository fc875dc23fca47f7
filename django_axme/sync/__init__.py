"""The one writer of the django-axme mirror.

Every write to the mirror models and every public signal goes through this package, so that
"each transition is signalled exactly once, after commit" holds whichever path (stream,
poll, admin action, ``axme_sync``, reconcile sweep) brought the news. Nothing here calls the
network: callers fetch with the client and hand what they learned to these functions.

- :func:`ingest_intent`, :func:`record_intent_error` -- :mod:`django_axme.sync.intents`
- :func:`ingest_events`, :class:`IngestResult` -- :mod:`django_axme.sync.events`
- :func:`ingest_batch` (the events of many intents in one transaction, a fixed number of
  queries; ``ingest_events`` is a batch of one) -- :mod:`django_axme.sync.batch`
- :func:`ingest_thread`, :func:`record_decision`, :func:`decision_sent`,
  :func:`decision_failed`, :func:`decision_superseded` -- :mod:`django_axme.sync.approvals`
- :func:`deliver_pending_signals` (recovery of signals a crash left undelivered) --
  :mod:`django_axme.sync.dispatch`
- :class:`RemoteDataError` (remote data the mirror cannot store even after cleaning) and
  the cleaning rules -- :mod:`django_axme.sync.remote`
- ledger writes -- :mod:`django_axme.sync.ledger`; retention -- :mod:`django_axme.sync.prune`
"""

from __future__ import annotations

from django_axme.sync.approvals import (
    decision_failed,
    decision_sent,
    decision_superseded,
    ingest_thread,
    record_decision,
)
from django_axme.sync.batch import ingest_batch
from django_axme.sync.dispatch import deliver_pending_signals
from django_axme.sync.events import IngestResult, Transition, ingest_events
from django_axme.sync.intents import ingest_intent, record_intent_error
from django_axme.sync.remote import RemoteDataError

__all__ = [
    "IngestResult",
    "RemoteDataError",
    "Transition",
    "decision_failed",
    "decision_sent",
    "decision_superseded",
    "deliver_pending_signals",
    "ingest_batch",
    "ingest_events",
    "ingest_intent",
    "ingest_thread",
    "record_decision",
    "record_intent_error",
]
