"""Agent-side operations: ask AXME, hand the answer to the writer (:mod:`django_axme.sync.agent`).

Imports neither the admin nor Celery: the admin, the Celery tasks and the management command
all call these functions.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django_axme.client.errors import AxmeConflictError
from django_axme.models import AgentJob
from django_axme.sync import agent as writer
from django_axme.sync import agent_jobs

logger = logging.getLogger("django_axme.agent")

__all__ = ["decide", "receive", "resolve_job", "resolve_jobs", "send_heartbeat"]


def _client(client: Any = None) -> Any:
    if client is not None:
        return client
    from django_axme.conf import get_client

    return get_client()


def receive(
    item: Mapping[str, Any],
    *,
    address: str,
    token: str,
    handler_name: str,
    client: Any = None,
) -> writer.Received:
    """Mirror one agent stream item (fetching the intent when the item does not carry it)
    and advance the listener cursor; see :func:`django_axme.sync.agent.receive_inbound`."""
    snapshot = item.get("intent")
    if not isinstance(snapshot, Mapping) and isinstance(item.get("intent_id"), str):
        answer = _client(client).get_intent(item["intent_id"])
        snapshot = answer.get("intent") if isinstance(answer, Mapping) else None
    return writer.receive_inbound(
        item,
        address=address,
        token=token,
        handler_name=handler_name,
        snapshot=snapshot if isinstance(snapshot, Mapping) else None,
    )


def resolve_job(job: AgentJob, *, client: Any = None) -> AgentJob:
    """Send the stored outcome of a ``resolving`` job with its stored idempotency key.

    Idempotent: a replay sends the same body and key; a 409 (the intent is already terminal,
    e.g. resolved by an earlier attempt whose answer was lost) is recorded on the job
    (``resolve_conflict``), not raised. Transport and server errors propagate (retry later).
    """
    job = AgentJob.objects.select_related("intent").get(pk=job.pk)
    intent_id = job.intent.intent_id or ""
    body = _resolve_body(job)
    try:
        answer = _client(client).resolve_intent(
            intent_id, body, idempotency_key=job.resolve_key or None
        )
    except AxmeConflictError as exc:
        logger.info("intent %s was already terminal when resolved: %s", intent_id, exc)
        writer.record_resolved(job, None, conflict=True)
    else:
        writer.record_resolved(job, answer, conflict=False)
    return AgentJob.objects.select_related("intent").get(pk=job.pk)


def _resolve_body(job: AgentJob) -> dict[str, Any]:
    body: dict[str, Any] = {"status": job.outcome_status, "actor": job.address}
    if job.outcome_status == "COMPLETED":
        body["result"] = job.result or {}
    else:
        body["error"] = job.error or {"message": "failed"}
    return body


def _without_ledger(api: Any) -> Any:
    """The same client (same connection pool) without the local idempotency ledger.

    The job row is the agent's ledger: it keeps the resolve key and body until the gateway
    confirmed, and a resolved job is never sent again; a replay after a crash carries the same
    ``Idempotency-Key``, which the gateway answers itself. Skipping the ledger saves its
    transaction (three statements) per resolve."""
    config = getattr(api, "_config", None)
    session = getattr(api, "_session", None)
    if config is None or session is None or getattr(config, "idempotency_store", None) is None:
        return api
    twin = getattr(api, "_axme_agent_twin", None)
    if twin is None:
        twin = type(api)(dataclasses.replace(config, idempotency_store=None), session=session)
        api._axme_agent_twin = twin  # two threads may build one each: harmless
    return twin


#: Resolve calls of one batch sent at once (:func:`resolve_jobs`): each waits on the gateway,
#: so a batch of 100 no-op handlers no longer waits for 100 round trips one after the other.
RESOLVE_THREADS = 4

Answer = tuple[AgentJob, "Mapping[str, Any] | None", bool]


def _resolve_one(api: Any, job: AgentJob) -> Answer | Exception:
    intent_id = job.intent.intent_id or ""
    try:
        answer = api.resolve_intent(
            intent_id, _resolve_body(job), idempotency_key=job.resolve_key or None
        )
    except AxmeConflictError as exc:
        logger.info("intent %s was already terminal when resolved: %s", intent_id, exc)
        return (job, None, True)
    except Exception as exc:
        return exc
    return (job, answer if isinstance(answer, Mapping) else None, False)


def resolve_jobs(jobs: list[AgentJob], *, client: Any = None) -> dict[int, Exception]:
    """:func:`resolve_job` for many ``resolving`` jobs (loaded with their intent and stored
    outcome): one resolve call each, with the stored body and key, up to
    :data:`RESOLVE_THREADS` at a time (the calls touch no database; each runs in a copy of the
    caller's context, so a deadline the caller set applies); the confirmations and the 409s
    are recorded together in one transaction
    (:func:`django_axme.sync.agent_jobs.record_resolved_many`). Returns the error of each job
    whose call failed otherwise (nothing recorded for it; the caller retries or records it).
    The client's local idempotency ledger is not used (see :func:`_without_ledger`)."""
    api = _without_ledger(_client(client))
    if len(jobs) > 1 and RESOLVE_THREADS > 1:
        with ThreadPoolExecutor(
            max_workers=min(RESOLVE_THREADS, len(jobs)), thread_name_prefix="axme-resolve"
        ) as pool:
            futures = [
                pool.submit(contextvars.copy_context().run, _resolve_one, api, job) for job in jobs
            ]
            outcomes = [f.result() for f in futures]
    else:
        outcomes = [_resolve_one(api, job) for job in jobs]
    answers: list[Answer] = []
    errors: dict[int, Exception] = {}
    for job, outcome in zip(jobs, outcomes, strict=True):
        if isinstance(outcome, Exception):
            errors[job.pk] = outcome
        else:
            answers.append(outcome)
    agent_jobs.record_resolved_many(answers)
    return errors


def decide(job: AgentJob | int, decision: str, note: str = "") -> AgentJob | None:
    """Record the answer to a waiting handler (``"approve"``/``"reject"`` from a human, or
    another agent's or tool's word); returns the job to run again, or ``None`` when it was not
    waiting. The caller enqueues the run (see :func:`django_axme.agent.decide`)."""
    pk = job.pk if isinstance(job, AgentJob) else int(job)
    return writer.decide_job(pk, decision, note)


def send_heartbeat(address: str, *, client: Any = None) -> dict[str, Any]:
    """``POST /v1/mesh/heartbeat`` for ``address`` with its real metrics (intents received,
    succeeded, failed, average receive-to-resolve latency); records the time sent."""
    metrics = writer.job_metrics(address)
    answer = _client(client)._request(
        "POST",
        "/v1/mesh/heartbeat",
        json_body={"metrics": metrics},
        owner_agent=address,
        retryable=True,
    )
    writer.mark_heartbeat(address)
    return dict(answer) if isinstance(answer, Mapping) else {}
