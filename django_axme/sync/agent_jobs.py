"""The agent job writes of a batch of jobs, a fixed number of SQL statements per batch (issue 17).

The same rules as the one-job functions of :mod:`django_axme.sync.agent`, for many jobs at once:

- :func:`claim_jobs`: each job is claimed for its own lease token under a row lock
  (:func:`~django_axme.sync.agent.claim_action` decides, as for one job); one ``SELECT ... FOR
  UPDATE``, at most two ``UPDATE``\\ s and one ``INSERT`` of the handler runs;
- :func:`renew_job_leases`: extends the leases a batch still holds (one ``UPDATE``), so jobs
  waiting their turn in a batch are not taken for lost;
- :func:`record_outcomes`: stores the outcomes and resolve keys (state ``resolving``) before
  any resolve call, and closes the runs; a job already ``resolving`` or ``resolved`` keeps its
  stored outcome. One transaction;
- :func:`record_resolved_many`: ends the confirmed jobs (a job already ``resolved`` is left
  alone) and mirrors the terminal events the answers carry through
  :func:`django_axme.sync.ingest_batch` (each transition signalled once, after commit).

Nothing here calls the network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from django.db import connections, models, router, transaction
from django.utils import timezone

from django_axme.models import AgentJob, AgentJobState, HandlerRun
from django_axme.sync.agent import claim_action
from django_axme.sync.batch import ingest_batch
from django_axme.sync.bulk import insert_returning, update_values

__all__ = [
    "Decided",
    "claim_jobs",
    "record_outcomes",
    "record_resolved_many",
    "renew_job_leases",
]


@dataclass
class Decided:
    """An outcome a handler (or the missing handler) decided, to store before resolving."""

    job: AgentJob
    run: HandlerRun | None
    status: str
    result: Mapping[str, Any] | None = None
    error: Mapping[str, Any] | None = None


def claim_jobs(
    tokens: Mapping[int, str], *, seconds: float, worker: str = ""
) -> list[tuple[AgentJob, HandlerRun | None]]:
    """Claim the jobs ``tokens`` names (job pk -> its lease token), in pk order. Returns the
    claimed ones as :func:`~django_axme.sync.agent.claim_job` does (``run`` None: only
    re-resolve); the jobs come with their intent."""
    now = timezone.now()
    until = now + timedelta(seconds=seconds)
    with transaction.atomic():
        jobs = list(
            AgentJob.objects.select_for_update(of=("self",))
            .select_related("intent")
            .filter(pk__in=list(tokens))
            .order_by("pk")
        )
        resolve: list[AgentJob] = []
        run: list[AgentJob] = []
        lost: list[int] = []
        for job in jobs:
            action = claim_action(job, tokens[job.pk], now)
            if action == "resolve":
                resolve.append(job)
            elif action == "run":
                if job.state == AgentJobState.RUNNING:
                    lost.append(job.pk)
                run.append(job)
        if lost:
            HandlerRun.objects.filter(job_id__in=lost, finished_at__isnull=True).update(
                outcome="lost", error="worker lost (lease expired)", finished_at=now
            )
        for job in resolve:
            job.lease_token, job.lease_until = tokens[job.pk], until
        for job in run:
            job.state = AgentJobState.RUNNING
            job.attempts += 1
            job.lease_token, job.lease_until = tokens[job.pk], until
        if resolve:
            _update_each(
                AgentJob,
                {j.pk: {"lease_token": j.lease_token} for j in resolve},
                constants={"lease_until": until, "updated_at": now},
            )
        if run:
            _update_each(
                AgentJob,
                {j.pk: {"lease_token": j.lease_token, "attempts": j.attempts} for j in run},
                constants={"state": AgentJobState.RUNNING, "lease_until": until, "updated_at": now},
            )
        runs = [
            HandlerRun(
                job=j, attempt=j.attempts, handler=j.handler, worker=worker[:255], started_at=now
            )
            for j in run
        ]
        insert_returning(HandlerRun, runs)
    run_of = {r.job_id: r for r in runs}
    return [(j, run_of.get(j.pk)) for j in jobs if j in resolve or j.pk in run_of]


def renew_job_leases(tokens: Mapping[int, str], *, seconds: float) -> set[int]:
    """Extend the leases of the running or resolving jobs still held by their tokens; returns
    the pks renewed (a job missing from it was taken over: leave it alone)."""
    if not tokens:
        return set()
    now = timezone.now()
    held = [
        pk
        for pk, token in AgentJob.objects.filter(
            pk__in=list(tokens), state__in=[AgentJobState.RUNNING, AgentJobState.RESOLVING]
        ).values_list("pk", "lease_token")
        if token == tokens[pk]
    ]
    if held:
        AgentJob.objects.filter(pk__in=held).update(lease_until=now + timedelta(seconds=seconds))
    return set(held)


def record_outcomes(decided: Sequence[Decided]) -> list[AgentJob]:
    """Store each decided outcome and its resolve key (``axme-agent:<intent>:resolve:<attempt>``;
    state ``resolving``) and close the runs, in one transaction. Returns the jobs to resolve,
    with their stored outcome (a job that was already ``resolving`` keeps the outcome it had)."""
    if not decided:
        return []
    now = timezone.now()
    with transaction.atomic():
        states = dict(
            AgentJob.objects.select_for_update()
            .filter(pk__in=[d.job.pk for d in decided])
            .values_list("pk", "state")
        )
        fresh = [d for d in decided if states.get(d.job.pk) not in _DONE]
        again = [d.job.pk for d in decided if states.get(d.job.pk) == AgentJobState.RESOLVING]
        changes: dict[int, dict[str, Any]] = {}
        for d in fresh:
            job = d.job
            job.state = AgentJobState.RESOLVING
            job.outcome_status = d.status
            job.result = dict(d.result) if d.result is not None else None
            job.error = dict(d.error) if d.error is not None else None
            job.waiting_reason = ""
            job.resolve_key = f"axme-agent:{job.intent.intent_id}:resolve:{job.attempts}"[:128]
            changes[job.pk] = {
                "outcome_status": job.outcome_status,
                "result": job.result,
                "error": job.error,
                "resolve_key": job.resolve_key,
            }
        if fresh:
            _update_each(
                AgentJob,
                changes,
                constants={
                    "state": AgentJobState.RESOLVING,
                    "waiting_reason": "",
                    "updated_at": now,
                },
            )
        closing = {d.run.pk: _closed(d, now) for d in fresh if d.run is not None}
        if closing:
            _update_each(HandlerRun, closing)
    stored = list(AgentJob.objects.select_related("intent").filter(pk__in=again)) if again else []
    return [d.job for d in fresh] + stored


_DONE = (AgentJobState.RESOLVING, AgentJobState.RESOLVED)


def _update_each(
    model: type[models.Model],
    rows: Mapping[int, Mapping[str, Any]],
    constants: Mapping[str, Any] | None = None,
) -> None:
    """Set ``rows[pk]`` (and ``constants``) on each row: on PostgreSQL one ``UPDATE ... FROM
    jsonb_to_recordset`` per set of field names (:func:`django_axme.sync.bulk.update_values`);
    elsewhere one parameterised ``UPDATE`` sent for all rows at once (``executemany``), so
    building it costs little whatever the batch size. Values go through each field's
    ``get_db_prep_save``."""
    if not rows:
        return
    using = router.db_for_write(model)
    if update_values(model, rows, constants, using=using):  # PostgreSQL: one statement
        return
    connection = connections[using]
    qn = connection.ops.quote_name
    opts = model._meta
    constants = dict(constants or {})
    const_fields = [_field(opts, n) for n in constants]
    const_values = [
        f.get_db_prep_save(v, connection)
        for f, v in zip(const_fields, constants.values(), strict=True)
    ]
    groups: dict[tuple[str, ...], list[int]] = {}
    for pk, values in rows.items():
        groups.setdefault(tuple(values), []).append(pk)
    with connection.cursor() as cursor:
        for names, pks in groups.items():
            fields = [_field(opts, n) for n in names]
            assigned = ", ".join(f"{qn(str(f.column))} = %s" for f in [*fields, *const_fields])
            # Names come from the model's metadata; every value is a bound parameter.
            table, key = qn(opts.db_table), qn(str(_field(opts, "id").column))
            sql = f"UPDATE {table} SET {assigned} WHERE {key} = %s"  # noqa: S608
            params = [
                [
                    *(
                        f.get_db_prep_save(rows[pk][n], connection)
                        for f, n in zip(fields, names, strict=True)
                    ),
                    *const_values,
                    pk,
                ]
                for pk in pks
            ]
            cursor.executemany(sql, params)


def _field(opts: Any, name: str) -> models.Field[Any, Any]:
    return cast("models.Field[Any, Any]", opts.get_field(name))


def _closed(d: Decided, now: Any) -> dict[str, Any]:
    assert d.run is not None
    error = "" if d.error is None else str(d.error.get("message") or d.error)[:2000]
    return {
        "outcome": "succeeded" if d.status == "COMPLETED" else "failed",
        "error": error,
        "result": d.job.result,
        "finished_at": now,
        "duration_ms": (now - d.run.started_at).total_seconds() * 1000.0,
    }


def record_resolved_many(answers: Sequence[tuple[AgentJob, Mapping[str, Any] | None, bool]]) -> int:
    """The gateway confirmed these resolves: ``(job, answer, conflict)`` (``conflict``: it
    answered 409, already terminal). Ends the jobs not resolved yet and mirrors the terminal
    events of the answers; one transaction. Returns how many jobs were ended."""
    if not answers:
        return 0
    now = timezone.now()
    with transaction.atomic():
        states = dict(
            AgentJob.objects.select_for_update()
            .filter(pk__in=[job.pk for job, _, _ in answers])
            .values_list("pk", "state")
        )
        todo = [a for a in answers if states.get(a[0].pk, AgentJobState.RESOLVED) != "resolved"]
        if not todo:
            return 0
        _update_each(
            AgentJob,
            {
                job.pk: {
                    "resolve_response": dict(answer) if answer is not None else None,
                    "resolve_conflict": conflict,
                }
                for job, answer, conflict in todo
            },
            constants={
                "state": AgentJobState.RESOLVED,
                "resolved_at": now,
                "lease_token": "",
                "lease_until": None,
                "updated_at": now,
            },
        )
        events = [
            (job.intent, [answer["event"]])
            for job, answer, _ in todo
            if answer is not None and isinstance(answer.get("event"), Mapping)
        ]
        if events:
            ingest_batch(events)
    return len(todo)
