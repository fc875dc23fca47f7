"""Running the handlers of many inbound intents in one task, with the guarantees of
:func:`django_axme.agent.runner.run_job` and a fixed number of SQL statements per batch.

:func:`run_jobs` is what the Celery task ``django_axme.tasks.run_agent_handlers`` calls for a
chunk of new jobs handed over by the listener:

1. claim every job for its own lease token in one transaction
   (:func:`django_axme.sync.agent_jobs.claim_jobs`; the same rules as for one job: a resolved
   job, a job another live worker holds, or one still waiting is left alone);
2. run the handlers one after the other (their context and idempotency key as for one job),
   renewing the leases the batch still holds when a third of the lease has passed, so a job
   waiting its turn is not taken for lost (one whose lease was taken over anyway, after a
   handler slower than the lease, is left to its new holder);
3. store all decided outcomes and resolve keys in one transaction
   (:func:`django_axme.sync.agent_jobs.record_outcomes`) BEFORE any resolve call;
4. resolve each (:func:`django_axme.services.agent.resolve_jobs`: stored body and key, a 409
   recorded) and record the confirmations in one transaction.

A handler that waits, raises, or hits a transient error is recorded as for one job (the
one-job writer functions); the transient ones and the resolves that failed transiently come
back as ``"retry"`` for the caller to hand to the one-job task with the job's lease token.
A worker killed anywhere leaves the jobs with leases (or in ``resolving``): the listener's
sweep hands them over again once the leases expire, as for one job.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from django.utils import timezone

from django_axme.agent.handlers import HandlerFailed, Wait, autodiscover, registry
from django_axme.agent.runner import (
    _as_result,
    _describe,
    _lease_seconds,
    handler_context,
    is_transient,
    no_handler_error,
    worker_name,
)
from django_axme.services import agent as services
from django_axme.sync import agent as writer
from django_axme.sync import agent_jobs

logger = logging.getLogger("django_axme.agent")

__all__ = ["run_jobs"]


def run_jobs(tokens: Mapping[int, str], *, client: Any = None) -> dict[int, str]:
    """Run (or finish) each job of ``tokens`` (job pk -> lease token) once; returns what
    happened to each claimed job: ``"resolved"``, ``"waiting"``, ``"error"`` or ``"retry"``
    (transient: hand it to ``run_agent_handler`` with its token). Jobs not claimed are
    absent (``"skipped"``)."""
    from django_axme.client import AxmeAPIError

    autodiscover()
    seconds = _lease_seconds()
    claimed = agent_jobs.claim_jobs(tokens, seconds=seconds, worker=worker_name())
    outcomes: dict[int, str] = {}
    decided: list[agent_jobs.Decided] = []
    to_resolve = [job for job, run in claimed if run is None]
    renewed = time.monotonic()
    for job, run in claimed:
        if run is None:
            continue
        if time.monotonic() - renewed > seconds / 3:
            held = agent_jobs.renew_job_leases(
                {pk: t for pk, t in tokens.items() if pk not in outcomes}, seconds=seconds
            )
            renewed = time.monotonic()
            if job.pk not in held:  # its lease expired and another worker claimed it
                continue
        outcome = _run_one(job, run)
        if isinstance(outcome, agent_jobs.Decided):
            decided.append(outcome)
        else:
            outcomes[job.pk] = outcome
    to_resolve.extend(agent_jobs.record_outcomes(decided))
    errors = services.resolve_jobs(to_resolve, client=client)
    for job in to_resolve:
        exc = errors.get(job.pk)
        if exc is None:
            outcomes[job.pk] = "resolved"
        elif is_transient(exc):
            outcomes[job.pk] = "retry"
        elif isinstance(exc, AxmeAPIError):
            logger.error("resolve of agent job %s refused: %s", job.pk, exc)
            writer.record_resolve_refused(job, _describe(exc))
            outcomes[job.pk] = "error"
        else:
            raise exc
    return outcomes


def _run_one(job: Any, run: Any) -> agent_jobs.Decided | str:
    intent = job.intent
    found = registry.lookup(intent.intent_type, job.address)
    if found is None:
        return agent_jobs.Decided(
            job,
            run,
            "FAILED",
            error=no_handler_error(intent, job),
        )
    ctx = handler_context(intent, job, run)
    try:
        value = found(intent, ctx)
        if not isinstance(value, Wait):
            result = _as_result(value)
    except HandlerFailed as exc:
        return agent_jobs.Decided(job, run, "FAILED", error=exc.as_error())
    except Exception as exc:
        if is_transient(exc):
            logger.warning("handler %s on %s: transient %r", found.name, intent.intent_id, exc)
            writer.record_handler_error(job, run, error=_describe(exc), final=False)
            return "retry"
        logger.exception("handler %s failed on intent %s", found.name, intent.intent_id)
        writer.record_handler_error(job, run, error=_describe(exc), final=True)
        return "error"
    if isinstance(value, Wait):
        writer.record_wait(
            job, run, reason=value.reason, wake_at=value.wake_at(timezone.now()), note=value.note
        )
        return "waiting"
    return agent_jobs.Decided(job, run, "COMPLETED", result=result)
