"""The one writer for the agent side (issue 17): inbound intents, agent jobs, handler runs and
the per-address listener cursor and lease.

Guarantees:

- **received once**: :func:`receive_inbound` (one item; the listener uses its batched twin
  :func:`django_axme.sync.agent_receive.receive_batch`) mirrors an intent from the agent
  stream through the existing writer (:func:`~django_axme.sync.ingest_intent` and
  :func:`~django_axme.sync.ingest_events`), marks it ``direction="inbound"``, creates its
  :class:`~django_axme.models.AgentJob` and records ``intent_received`` exactly once per
  intent, and advances the listener's cursor, all in ONE transaction. A redelivery (same or
  later stream seq) creates nothing and signals nothing.
- **one runner at a time**: a job is claimed with a row lock and a time lease
  (:func:`claim_job`); a claimed job whose lease expired (a killed worker) can be claimed again.
- **outcome before resolve**: :func:`record_outcome` stores the result (or error) and the
  resolve idempotency key before the resolve call; a job in ``resolving`` is never run again,
  only re-resolved with the stored body and key. :func:`record_resolved` ends the job.
- Listener leases are one conditional ``UPDATE`` (free, expired or ours), so at most one
  listener per address holds the lease at a time.

Nothing here calls the network.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from django_axme import signals
from django_axme.client.errors import AxmeError
from django_axme.models import AgentJob, AgentJobState, AgentListener, HandlerRun, Intent
from django_axme.sync.dispatch import Outgoing, queue_signals
from django_axme.sync.events import ingest_events
from django_axme.sync.intents import ingest_intent, lock_intent
from django_axme.sync.remote import RemoteDataError, clip, storable_id

logger = logging.getLogger("django_axme.sync")

__all__ = [
    "LeaseLost",
    "Received",
    "claim_action",
    "claim_job",
    "claim_listener",
    "decide_job",
    "due_jobs",
    "finish_run",
    "inbound_intent",
    "ingest_resolve_answer",
    "job_metrics",
    "listener_cursor",
    "mark_heartbeat",
    "receive_inbound",
    "record_handler_error",
    "record_outcome",
    "record_progress",
    "record_resolve_refused",
    "record_resolved",
    "record_wait",
    "release_listener",
    "run_again",
]


class LeaseLost(AxmeError, RuntimeError):
    """The listener's lease on its address was taken over: it must stop writing."""


@dataclass(frozen=True)
class Received:
    """What :func:`receive_inbound` did: the job, and whether it is new (enqueue it)."""

    job: AgentJob | None
    created: bool


# -- listener cursor and lease ------------------------------------------------------------------


def claim_listener(address: str, token: str, holder: str, seconds: float) -> bool:
    """Claim or renew the listener lease of ``address`` for ``token`` (one conditional UPDATE).

    True when ``token`` holds it now (it was free, expired or already ``token``'s)."""
    AgentListener.objects.get_or_create(address=address)
    now = timezone.now()
    updated = AgentListener.objects.filter(
        Q(address=address)
        & (Q(lease_until__isnull=True) | Q(lease_until__lte=now) | Q(lease_token=token))
    ).update(lease_token=token, lease_until=now + timedelta(seconds=seconds), holder=holder[:255])
    return updated == 1


def release_listener(address: str, token: str) -> bool:
    """Give the lease up (only if ``token`` holds it)."""
    return (
        AgentListener.objects.filter(address=address, lease_token=token).update(
            lease_token="", lease_until=None, holder=""
        )
        == 1
    )


def listener_cursor(address: str) -> int:
    """The stored stream cursor of ``address`` (0 when never listened)."""
    row = AgentListener.objects.filter(address=address).values_list("cursor", flat=True).first()
    return int(row or 0)


def mark_heartbeat(address: str) -> None:
    AgentListener.objects.filter(address=address).update(last_heartbeat_at=timezone.now())


def _advance_cursor(address: str, token: str, seq: int) -> None:
    held = AgentListener.objects.filter(address=address, lease_token=token)
    if not held.exists():
        raise LeaseLost(f"listener lease on {address} lost")
    held.filter(cursor__lt=seq).update(cursor=seq)


# -- receiving ---------------------------------------------------------------------------------


def _intent_event(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """The intent-level event carried by an agent stream item (its own ``intent_seq``)."""
    intent_seq = item.get("intent_seq")
    if not isinstance(intent_seq, int) or isinstance(intent_seq, bool) or intent_seq < 1:
        return None
    event = {
        k: item.get(k) for k in ("event_type", "status", "waiting_reason", "actor", "at", "details")
    }
    event["seq"] = intent_seq
    event["intent_id"] = item.get("intent_id")
    return event


def receive_inbound(
    item: Mapping[str, Any],
    *,
    address: str,
    token: str,
    handler_name: str,
    snapshot: Mapping[str, Any] | None = None,
) -> Received:
    """Mirror one agent stream item and advance the listener cursor, in one transaction.

    ``snapshot`` is the intent as the gateway shows it (the item's ``intent`` when absent).
    Raises :class:`LeaseLost` (nothing written) when ``token`` no longer holds the address,
    :class:`~django_axme.sync.remote.RemoteDataError` for an item without a usable intent id.
    """
    intent_id = storable_id(item.get("intent_id"))
    if intent_id is None:
        raise RemoteDataError(f"agent stream item without a usable intent_id: {clip(item, 120)}")
    seq = item.get("seq")
    snap = snapshot if snapshot is not None else item.get("intent")
    with transaction.atomic():
        if isinstance(seq, int) and not isinstance(seq, bool):
            _advance_cursor(address, token, seq)
        if isinstance(snap, Mapping) and snap.get("intent_id") == intent_id:
            ingest_intent(snap)
        event = _intent_event(item)
        if event is not None:
            ingest_events(intent_id, [event])
        row, _created = lock_intent(intent_id)
        if row.direction != "inbound":
            row.direction = "inbound"
            row.save(update_fields=["direction"])
        if row.is_terminal:
            return Received(AgentJob.objects.filter(intent=row).first(), False)
        job, created = AgentJob.objects.get_or_create(
            intent=row, defaults={"address": address, "handler": handler_name[:255]}
        )
        if created:
            ev = row.events.filter(seq=event["seq"]).first() if event else None
            queue_signals([Outgoing(signals.intent_received, intent=row, event=ev)])
    return Received(job, created)


# -- running -----------------------------------------------------------------------------------


def claim_job(
    job_pk: int, token: str, *, seconds: float, worker: str = "", force: bool = False
) -> tuple[AgentJob, HandlerRun | None] | None:
    """Claim the job for one attempt. Returns ``(job, run)``:

    - ``run`` is a new :class:`HandlerRun` when the handler must run (state ``pending``, a
      ``running`` job whose lease expired, a ``waiting`` job that was decided or is due);
    - ``run`` is ``None`` when the job is ``resolving``: only the resolve is re-sent.

    Returns ``None`` (nothing to do) for a resolved or failed job, a job another worker holds a
    live lease on, or a job still waiting. One transaction, with the job row locked.
    """
    now = timezone.now()
    with transaction.atomic():
        job = AgentJob.objects.select_for_update().filter(pk=job_pk).first()
        if job is None:
            return None
        action = claim_action(job, token, now, force=force)
        if action == "skip":
            return None
        if action == "resolve":
            job.lease_token, job.lease_until = token, now + timedelta(seconds=seconds)
            job.save(update_fields=["lease_token", "lease_until", "updated_at"])
            return job, None
        if job.state == AgentJobState.RUNNING:
            # the previous attempt's worker died: close its run
            HandlerRun.objects.filter(job=job, finished_at__isnull=True).update(
                outcome="lost", error="worker lost (lease expired)", finished_at=now
            )
        job.state = AgentJobState.RUNNING
        job.attempts += 1
        job.lease_token, job.lease_until = token, now + timedelta(seconds=seconds)
        job.save()
        run = HandlerRun.objects.create(
            job=job, attempt=job.attempts, handler=job.handler, worker=worker[:255], started_at=now
        )
    return job, run


def claim_action(job: AgentJob, token: str, now: datetime, *, force: bool = False) -> str:
    """What claiming the (locked) ``job`` for ``token`` means: ``"skip"`` (resolved, failed,
    still waiting, or another worker's live lease), ``"resolve"`` (the outcome is stored: only
    re-send it) or ``"run"`` (run the handler, a new attempt)."""
    lease_live = job.lease_until is not None and job.lease_until > now
    state = job.state
    if state == AgentJobState.RESOLVED:
        return "skip"
    if state == AgentJobState.RESOLVING:
        return "skip" if lease_live and job.lease_token != token else "resolve"
    if state == AgentJobState.FAILED and not force:
        return "skip"
    if state == AgentJobState.RUNNING and lease_live and job.lease_token != token:
        return "skip"
    if state == AgentJobState.WAITING and not force:
        due = job.wake_at is not None and job.wake_at <= now
        if not job.decision and not due:
            return "skip"
    return "run"


def _close_run(run: HandlerRun, outcome: str, *, error: str = "", result: Any = None) -> None:
    now = timezone.now()
    run.outcome = outcome
    run.error = error
    run.result = result
    run.finished_at = now
    run.duration_ms = (now - run.started_at).total_seconds() * 1000.0
    run.save()


def record_outcome(
    job: AgentJob,
    run: HandlerRun | None,
    *,
    status: str,
    result: Mapping[str, Any] | None = None,
    error: Mapping[str, Any] | None = None,
) -> AgentJob:
    """Store the decided outcome (COMPLETED with ``result`` or FAILED with ``error``) and the
    resolve key (derived from the intent and the attempt that decided it); state ``resolving``.
    One transaction; the run (if any) is closed with it."""
    with transaction.atomic():
        locked = AgentJob.objects.select_for_update().select_related("intent").get(pk=job.pk)
        if locked.state in (AgentJobState.RESOLVING, AgentJobState.RESOLVED):
            return locked
        locked.state = AgentJobState.RESOLVING
        locked.outcome_status = status
        locked.result = dict(result) if result is not None else None
        locked.error = dict(error) if error is not None else None
        locked.waiting_reason = ""
        locked.resolve_key = f"axme-agent:{locked.intent.intent_id}:resolve:{locked.attempts}"[:128]
        locked.save()
        if run is not None:
            _close_run(
                run,
                "succeeded" if status == "COMPLETED" else "failed",
                result=locked.result,
                error="" if error is None else str(error.get("message") or error)[:2000],
            )
    return locked


def record_wait(
    job: AgentJob, run: HandlerRun, *, reason: str, wake_at: datetime | None, note: str = ""
) -> None:
    """The handler asked to wait: state ``waiting`` until a decision (human, agent, tool) or
    ``wake_at`` (time). Clears a previous decision so the next run sees only a new one."""
    with transaction.atomic():
        AgentJob.objects.filter(pk=job.pk).update(
            state=AgentJobState.WAITING,
            waiting_reason=reason,
            wake_at=wake_at,
            decision="",
            lease_token="",
            lease_until=None,
            updated_at=timezone.now(),
        )
        _close_run(run, "waiting", error=note)


def record_handler_error(job: AgentJob, run: HandlerRun, *, error: str, final: bool) -> None:
    """The handler raised. ``final``: the job becomes ``failed`` (shown in the admin, "run
    again" possible); otherwise ``pending`` with its lease kept (the retry re-claims it)."""
    with transaction.atomic():
        fields: dict[str, Any] = {"updated_at": timezone.now()}
        if final:
            fields.update(state=AgentJobState.FAILED, lease_token="", lease_until=None)
        else:
            fields.update(state=AgentJobState.PENDING)
        AgentJob.objects.filter(pk=job.pk).update(**fields)
        _close_run(run, "error" if final else "retry", error=error[:4000])


def finish_run(run: HandlerRun, outcome: str, error: str = "") -> None:
    """Close a run with ``outcome`` (used for runs that ended without a resolve)."""
    _close_run(run, outcome, error=error)


def record_progress(run: HandlerRun, message: str, data: Mapping[str, Any] | None = None) -> None:
    """Append a progress note to the run (kept locally: the protocol has no agent-side
    progress call)."""
    entry: dict[str, Any] = {"at": timezone.now().isoformat(), "message": str(message)[:500]}
    if data:
        entry["data"] = dict(data)
    run.progress = [*(run.progress or []), entry]
    HandlerRun.objects.filter(pk=run.pk).update(progress=run.progress)


def ingest_resolve_answer(intent_id: str, answer: Mapping[str, Any]) -> None:
    """Mirror the terminal event a resolve answer carries (idempotent, signals once)."""
    event = answer.get("event") if isinstance(answer, Mapping) else None
    if isinstance(event, Mapping):
        ingest_events(intent_id, [event])


def record_resolved(job: AgentJob, answer: Mapping[str, Any] | None, *, conflict: bool) -> None:
    """The gateway confirmed the resolve (or answered 409: already terminal, recorded as
    ``resolve_conflict``). Ends the job; mirrors the terminal event. One transaction."""
    with transaction.atomic():
        locked = AgentJob.objects.select_for_update().select_related("intent").get(pk=job.pk)
        if locked.state == AgentJobState.RESOLVED:
            return
        now = timezone.now()
        locked.state = AgentJobState.RESOLVED
        locked.resolve_response = dict(answer) if answer is not None else None
        locked.resolve_conflict = conflict
        locked.resolved_at = now
        locked.lease_token, locked.lease_until = "", None
        locked.save()
        if answer is not None and locked.intent.intent_id:
            ingest_resolve_answer(locked.intent.intent_id, answer)


def record_resolve_refused(job: AgentJob, error: str) -> None:
    """The gateway refused the resolve for good (not a 409): the job becomes ``failed`` with
    the error on its last run; "run again" runs the handler again."""
    with transaction.atomic():
        AgentJob.objects.filter(pk=job.pk).update(
            state=AgentJobState.FAILED, lease_token="", lease_until=None, updated_at=timezone.now()
        )
        last = HandlerRun.objects.filter(job_id=job.pk).order_by("-attempt").first()
        if last is not None:
            HandlerRun.objects.filter(pk=last.pk).update(
                outcome="refused", error=f"resolve refused: {error}"[:4000]
            )


def decide_job(job_pk: int, decision: str, note: str = "") -> AgentJob | None:
    """Record a decision (``approve``/``reject`` by a human, or any word another agent or tool
    answered) on a waiting job; returns the job when it should run again, else ``None``."""
    with transaction.atomic():
        job = AgentJob.objects.select_for_update().filter(pk=job_pk).first()
        if job is None or job.state != AgentJobState.WAITING:
            return None
        job.decision = decision[:16]
        job.decision_note = note
        job.state = AgentJobState.PENDING
        job.save()
    return job


def run_again(job_pk: int) -> AgentJob | None:
    """Put a ``failed`` job back to ``pending`` (the admin's "run again"); ``None`` if the job
    is not failed."""
    with transaction.atomic():
        updated = AgentJob.objects.filter(pk=job_pk, state=AgentJobState.FAILED).update(
            state=AgentJobState.PENDING, lease_token="", lease_until=None
        )
    return AgentJob.objects.filter(pk=job_pk).first() if updated else None


def due_jobs(*, stale_pending_seconds: float, limit: int = 500) -> list[int]:
    """Jobs to hand to a worker again: running/resolving with an expired lease (a killed
    worker), pending without a live lease for ``stale_pending_seconds`` (a lost message),
    waiting for a time that has come. Ordered by pk."""
    now = timezone.now()
    expired = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    q = (
        (Q(state__in=[AgentJobState.RUNNING, AgentJobState.RESOLVING]) & expired)
        | (
            Q(state=AgentJobState.PENDING)
            & expired
            & Q(updated_at__lte=now - timedelta(seconds=stale_pending_seconds))
        )
        | Q(state=AgentJobState.WAITING, wake_at__lte=now)
    )
    return list(AgentJob.objects.filter(q).order_by("pk").values_list("pk", flat=True)[:limit])


def job_metrics(address: str) -> dict[str, Any]:
    """The mesh heartbeat metrics of ``address``: intents received, resolved COMPLETED,
    resolved FAILED, and the average receive-to-resolve latency in milliseconds."""
    jobs = AgentJob.objects.filter(address=address)
    counts = jobs.aggregate(
        total=Count("pk"),
        succeeded=Count("pk", filter=Q(state=AgentJobState.RESOLVED, outcome_status="COMPLETED")),
        failed=Count(
            "pk",
            filter=Q(state=AgentJobState.RESOLVED, outcome_status="FAILED")
            | Q(state=AgentJobState.FAILED),
        ),
    )
    recent = jobs.filter(resolved_at__isnull=False).order_by("-resolved_at")[:1000]
    spans = [
        (done - got).total_seconds()
        for got, done in recent.values_list("received_at", "resolved_at")
        if done is not None
    ]
    avg_ms = 1000.0 * sum(spans) / len(spans) if spans else 0.0
    return {
        "intents_total": counts["total"],
        "intents_succeeded": counts["succeeded"],
        "intents_failed": counts["failed"],
        "avg_latency_ms": round(avg_ms, 3),
    }


def inbound_intent(intent_id: str) -> Intent | None:
    return Intent.objects.filter(intent_id=intent_id, direction="inbound").first()
