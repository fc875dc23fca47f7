"""Sending the public signals after commit, with failing receivers isolated and logged.

This is the only place that sends :mod:`django_axme.signals`. Guarantees:

- a signal is queued with ``transaction.on_commit``: it is delivered after the surrounding
  (outermost) transaction commits, and dropped if that transaction rolls back;
- signals queued by one writer call are delivered in the order they were queued (for a batch
  of events: ascending ``seq``);
- each receiver is called through ``send_robust``: an exception is logged on the
  ``django_axme.signals`` logger with the signal name and the remote intent id, and the
  remaining receivers still run. Nothing a receiver does can undo the committed mirror.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.dispatch import Signal

from django_axme import signals

logger = logging.getLogger("django_axme.signals")

_NAMES: dict[int, str] = {id(getattr(signals, name)): name for name in signals.__all__}


def signal_name(signal: Signal) -> str:
    return _NAMES.get(id(signal), repr(signal))


def deliver(signal: Signal, sender: type, *, intent_id: str | None, **kwargs: Any) -> None:
    """Call every receiver now; log (never raise) the receivers' exceptions."""
    for receiver, result in signal.send_robust(sender=sender, **kwargs):
        if isinstance(result, Exception):
            logger.error(
                "receiver %s of %s failed for intent %s: %s",
                getattr(receiver, "__qualname__", repr(receiver)),
                signal_name(signal),
                intent_id,
                result,
                exc_info=(type(result), result, result.__traceback__),
            )


def send_on_commit(signal: Signal, sender: type, *, intent_id: str | None, **kwargs: Any) -> None:
    """Queue ``signal`` for delivery after the current transaction commits (see module doc)."""

    def _deliver() -> None:
        deliver(signal, sender, intent_id=intent_id, **kwargs)

    transaction.on_commit(_deliver, robust=True)
