"""Running a handler on an inbound intent, exactly once in effect (issue 17).

:func:`run_job` is what the Celery task ``django_axme.tasks.run_agent_handler`` calls:

1. claim the job (row lock + time lease, :func:`django_axme.sync.agent.claim_job`); nothing
   to do for a resolved job, a job another live worker holds, or one still waiting;
2. a job whose outcome is already stored (``resolving``) is only re-resolved: the handler of
   an intent that already succeeded never runs again;
3. otherwise run the handler with a :class:`~django_axme.agent.HandlerContext` whose
   ``idempotency_key`` is stable across attempts;
4. store the outcome and the resolve key in one transaction, then resolve
   (:func:`django_axme.services.agent.resolve_job`: idempotent, a 409 is recorded).

A worker killed in step 3 leaves the job ``running`` with a lease; when the lease expires the
listener's sweep hands it to a worker again and the handler runs again (at least once), with
the same idempotency key. A worker killed in step 4 leaves it ``resolving``: the next claim
re-sends the same body with the same key (resolved once).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import traceback
from typing import Any

from django.db import OperationalError
from django.utils import timezone

from django_axme.agent.handlers import HandlerContext, HandlerFailed, Wait, registry
from django_axme.client.errors import AxmeError
from django_axme.models import AgentJob
from django_axme.services import agent as services
from django_axme.services.errors import is_retryable
from django_axme.sync import agent as writer

logger = logging.getLogger("django_axme.agent")

__all__ = ["RetryLater", "is_transient", "run_job", "worker_name"]


class RetryLater(AxmeError):
    """The run hit a transient error; the caller should retry with backoff."""

    @property
    def retryable(self) -> bool:
        return True

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


def is_transient(exc: BaseException) -> bool:
    """The one retry rule (``AxmeError.retryable``, which a handler's
    :class:`TransientError` answers ``True``), plus a database that is briefly unavailable."""
    return isinstance(exc, OperationalError) or is_retryable(exc)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _lease_seconds() -> float:
    from django_axme.conf import get_setting

    return float(get_setting("AGENT_JOB_LEASE_SECONDS"))


def handler_context(intent: Any, job: AgentJob, run: Any) -> HandlerContext:
    """What a handler is given for one run: the stable idempotency key
    ``axme-agent:<intent id>`` (the same on every attempt), the attempt, the address, a human's
    decision when the job waited for one, and a progress recorder for this run."""
    return HandlerContext(
        idempotency_key=f"axme-agent:{intent.intent_id}",
        attempt=run.attempt,
        address=job.address,
        decision=job.decision,
        decision_note=job.decision_note,
        _progress=lambda message, data: writer.record_progress(run, message, data),
    )


def no_handler_error(intent: Any, job: AgentJob) -> dict[str, str]:
    """The error an intent is resolved FAILED with when no handler serves its type here."""
    return {
        "code": "no_handler",
        "message": f"no handler for {intent.intent_type} at {job.address}",
    }


def _as_result(value: Any) -> dict[str, Any]:
    if value is None:
        result: dict[str, Any] = {}
    elif isinstance(value, dict):
        result = value
    else:
        result = {"value": value}
    json.dumps(result)  # TypeError/ValueError: not sendable
    return result


def run_job(
    job_pk: int, *, token: str, force: bool = False, final: bool = False, client: Any = None
) -> str:
    """Run (or finish) the job once; returns what happened: ``"skipped"``, ``"resolved"``,
    ``"waiting"`` or ``"error"``. Raises :class:`RetryLater` for a transient error (the job
    keeps its lease, so a retry with the same ``token`` continues it); with ``final`` (the
    retry budget is spent) a transient handler error fails the job instead (``"error"``)."""
    from django_axme.agent.handlers import autodiscover

    autodiscover()
    claimed = writer.claim_job(
        job_pk, token, seconds=_lease_seconds(), worker=worker_name(), force=force
    )
    if claimed is None:
        return "skipped"
    job, run = claimed
    if run is None:
        return _resolve(job, client)
    intent = AgentJob.objects.select_related("intent").get(pk=job.pk).intent
    found = registry.lookup(intent.intent_type, job.address)
    if found is None:
        writer.record_outcome(
            job,
            run,
            status="FAILED",
            error=no_handler_error(intent, job),
        )
        return _resolve(job, client)
    ctx = handler_context(intent, job, run)
    try:
        value = found(intent, ctx)
        if not isinstance(value, Wait):
            result = _as_result(value)
    except HandlerFailed as exc:
        writer.record_outcome(job, run, status="FAILED", error=exc.as_error())
        return _resolve(job, client)
    except Exception as exc:
        if is_transient(exc):
            logger.warning("handler %s on %s: transient %r", found.name, intent.intent_id, exc)
            writer.record_handler_error(job, run, error=_describe(exc), final=final)
            if final:
                return "error"
            raise RetryLater(exc) from exc
        logger.exception("handler %s failed on intent %s", found.name, intent.intent_id)
        writer.record_handler_error(job, run, error=_describe(exc), final=True)
        return "error"
    if isinstance(value, Wait):
        writer.record_wait(
            job, run, reason=value.reason, wake_at=value.wake_at(timezone.now()), note=value.note
        )
        return "waiting"
    writer.record_outcome(job, run, status="COMPLETED", result=result)
    return _resolve(job, client)


def _resolve(job: AgentJob, client: Any) -> str:
    from django_axme.client import AxmeAPIError

    try:
        services.resolve_job(job, client=client)
    except Exception as exc:
        if is_transient(exc):
            raise RetryLater(exc) from exc
        if not isinstance(exc, AxmeAPIError):
            raise
        # Refused for good (404, 422, auth): shown in the admin.
        logger.error("resolve of agent job %s refused: %s", job.pk, exc)
        writer.record_resolve_refused(job, _describe(exc))
        return "error"
    return "resolved"


def _describe(exc: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return text[:4000]
