"""Acting as an AXME agent: handlers for intents addressed to this project (issue 17).

Public API::

    import django_axme.agent

    @django_axme.agent.handler("intent.purchase.fulfil.v1")
    def fulfil(intent, ctx):
        ...                       # ctx.idempotency_key is stable across attempts
        return {"shipped": True}  # resolved COMPLETED with this result

Raise :class:`HandlerFailed` to resolve FAILED, return :class:`Wait` to wait (for a human, a
time, another agent or a tool). See ``docs/agent.rst``. This module imports no models, so it
can be imported from any ``axme_handlers.py``.
"""

from __future__ import annotations

from typing import Any

from django_axme.agent.handlers import (
    HANDLERS_MODULE,
    WAITING_REASONS,
    Handler,
    HandlerContext,
    HandlerFailed,
    Registry,
    TransientError,
    Wait,
    autodiscover,
    handler,
    registry,
)

__all__ = [
    "HANDLERS_MODULE",
    "WAITING_REASONS",
    "Handler",
    "HandlerContext",
    "HandlerFailed",
    "Registry",
    "TransientError",
    "Wait",
    "autodiscover",
    "decide",
    "handler",
    "registry",
    "run_again",
]


def decide(job: Any, decision: str, note: str = "", *, enqueue: Any = None) -> bool:
    """Answer a waiting handler (``"approve"``/``"reject"``, or another agent's or tool's word)
    and hand the job to a worker; returns False when the job was not waiting."""
    from django_axme.agent.listener import enqueue_job
    from django_axme.services.agent import decide as record

    decided = record(job, decision, note)
    if decided is None:
        return False
    (enqueue or enqueue_job)(decided.pk)
    return True


def run_again(job: Any, *, enqueue: Any = None) -> bool:
    """Put a failed job back to a worker (the admin's "run again"); False when not failed."""
    from django_axme.agent.listener import enqueue_job
    from django_axme.sync.agent import run_again as reset

    pk = getattr(job, "pk", job)
    again = reset(int(pk))
    if again is None:
        return False
    (enqueue or enqueue_job)(again.pk)
    return True
