"""Celery tasks of the agent side (re-exported from :mod:`django_axme.tasks`).

- ``django_axme.tasks.run_agent_handler(job_pk, force=False)``: runs the handler of one inbound
  intent (:func:`django_axme.agent.runner.run_job`); ``acks_late``; transient errors are
  retried with exponential backoff up to ``AXME["TASK_MAX_RETRIES"]``. The Celery task id is
  the job's lease token, so a retry continues the attempt it belongs to.
- ``django_axme.tasks.agent_listen(address, seconds=None)``: one slice of a durable listener
  (:class:`django_axme.agent.listener.Listener`) that re-enqueues itself while it holds the
  address's lease. Started at worker start for every ``AXME["AGENT_ADDRESSES"]`` when
  ``AXME["AGENT_LISTEN_IN_WORKER"]`` is true (a second slice for an address held by a live
  listener ends at once). A worker's warm shutdown ends its running slices after their current
  stream window, releasing the lease (threads, solo, gevent and eventlet pools).
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from typing import Any

from celery import shared_task
from celery.signals import worker_ready, worker_shutting_down

from django_axme.conf import get_setting

logger = logging.getLogger("django_axme.agent")

RUN_AGENT_HANDLER_TASK = "django_axme.tasks.run_agent_handler"
RUN_AGENT_HANDLERS_TASK = "django_axme.tasks.run_agent_handlers"
AGENT_LISTEN_TASK = "django_axme.tasks.agent_listen"

__all__ = [
    "agent_listen",
    "enqueue_jobs",
    "run_agent_handler",
    "run_agent_handlers",
    "start_agent_listeners",
]

#: Most jobs handed to one ``run_agent_handlers`` message; a burst is split into chunks so
#: the worker's threads share it.
JOBS_PER_TASK = 100

#: Set when this worker process starts its shutdown: running listener slices end after their
#: current stream window and give their lease up, so a warm shutdown (SIGTERM) takes at most
#: one window (``AGENT_WINDOW_SECONDS``) instead of the rest of the slice, and the next
#: worker takes the address over at once instead of after the lease.
shutting_down = threading.Event()


def _backoff(retries: int) -> float:
    cap = float(get_setting("TASK_RETRY_BACKOFF_MAX_SECONDS"))
    ceiling = min(cap, float(2 ** min(retries, 20)))
    return random.uniform(ceiling / 2, ceiling)


@shared_task(
    name=RUN_AGENT_HANDLER_TASK, bind=True, acks_late=True, ignore_result=True, max_retries=None
)
def run_agent_handler(self: Any, job_pk: int, force: bool = False) -> str:
    """Run the handler of agent job ``job_pk`` once in effect (see the runner's docstring).
    Returns ``"skipped"``, ``"resolved"``, ``"waiting"`` or ``"error"``."""
    from django_axme.agent.runner import RetryLater, run_job

    max_retries = int(get_setting("TASK_MAX_RETRIES"))
    retries = int(self.request.retries or 0)
    token = str(self.request.id or uuid.uuid4().hex)
    try:
        outcome = run_job(job_pk, token=token, force=force, final=retries >= max_retries)
    except RetryLater as exc:
        if retries >= max_retries:
            logger.error("agent job %s: retries spent: %s", job_pk, exc)
            return "error"
        raise self.retry(exc=exc.cause, countdown=_backoff(retries), max_retries=None) from exc
    if outcome == "waiting":
        _schedule_wake(job_pk)
    return outcome


@shared_task(name=RUN_AGENT_HANDLERS_TASK, bind=True, acks_late=True, ignore_result=True)
def run_agent_handlers(self: Any, job_pks: list[int]) -> dict[str, int]:
    """Run the handlers of several new jobs in one task
    (:func:`django_axme.agent.batch.run_jobs`). Each job's lease token is ``<task id>:<pk>``,
    so a redelivered message continues the same attempts. A job that hit a transient error is
    handed to ``run_agent_handler`` with its token as task id (it continues that attempt, with
    backoff); a waiting job is scheduled for its wake time. Returns counts by outcome."""
    from django_axme.agent.batch import run_jobs

    base = str(self.request.id or uuid.uuid4().hex)
    tokens = {int(pk): f"{base}:{int(pk)}"[:64] for pk in job_pks}
    outcomes = run_jobs(tokens)
    counts: dict[str, int] = {}
    for pk, outcome in outcomes.items():
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome == "retry":
            run_agent_handler.apply_async((pk,), task_id=tokens[pk], countdown=_backoff(0))
        elif outcome == "waiting":
            _schedule_wake(pk)
    return counts


def enqueue_jobs(job_pks: list[int], *, per_task: int = JOBS_PER_TASK) -> int:
    """Hand new jobs to workers, ``per_task`` jobs per ``run_agent_handlers`` message (one
    message for a single job); returns the messages sent."""
    pks = [int(pk) for pk in job_pks]
    chunks = [pks[i : i + per_task] for i in range(0, len(pks), max(per_task, 1))]
    for chunk in chunks:
        run_agent_handlers.apply_async((chunk,))
    return len(chunks)


def _schedule_wake(job_pk: int) -> None:
    from django.utils import timezone

    from django_axme.models import AgentJob

    wake_at = AgentJob.objects.filter(pk=job_pk).values_list("wake_at", flat=True).first()
    if wake_at is not None:
        delay = max(0.0, (wake_at - timezone.now()).total_seconds())
        run_agent_handler.apply_async((job_pk,), countdown=delay)


@shared_task(name=AGENT_LISTEN_TASK, bind=True, acks_late=True, ignore_result=True)
def agent_listen(
    self: Any, address: str, seconds: float | None = None, takeover: bool = True
) -> int:
    """Listen on ``address`` for ``seconds`` (default ``AXME["AGENT_LISTEN_SLICE_SECONDS"]``),
    then enqueue the next slice. Returns items received.

    When another listener holds the address, the slice comes back once just after that lease
    ends (``takeover``): if the holder was killed, it takes over; if the holder renewed its
    lease (it is alive), the slice ends for good. So at most one chain of slices per address
    keeps going, and a killed listener is replaced within one lease."""
    import time

    from django.utils import timezone

    from django_axme.agent.listener import Listener
    from django_axme.models import AgentListener

    listener = Listener(address)
    if not listener.claim():
        if takeover:
            until = (
                AgentListener.objects.filter(address=address)
                .values_list("lease_until", flat=True)
                .first()
            )
            wait = 0.0 if until is None else (until - timezone.now()).total_seconds()
            agent_listen.apply_async(
                (address,), {"seconds": seconds, "takeover": False}, countdown=max(0.0, wait) + 0.5
            )
        return 0
    span = float(seconds if seconds is not None else get_setting("AGENT_LISTEN_SLICE_SECONDS"))
    got = listener.run(until=time.monotonic() + span, stop=shutting_down)
    # Also when shutting down: the next slice waits in the broker for the next worker.
    agent_listen.apply_async((address,), {"seconds": seconds})
    return got


def start_agent_listeners() -> int:
    """Enqueue one listener slice per ``AXME["AGENT_ADDRESSES"]``; returns how many."""
    addresses = list(get_setting("AGENT_ADDRESSES"))
    for address in addresses:
        agent_listen.apply_async((address,))
    return len(addresses)


@worker_ready.connect(dispatch_uid="django_axme.agent.start_listeners")
def start_listeners_at_worker_start(**kwargs: Any) -> int:
    """At worker start, when ``AXME["AGENT_LISTEN_IN_WORKER"]`` is true, start the listeners
    (errors are logged, never stop the worker)."""
    try:
        if not get_setting("AGENT_LISTEN_IN_WORKER"):
            return 0
        return start_agent_listeners()
    except Exception as exc:
        logger.warning("agent listeners not started at worker start: %s", exc)
        return 0


@worker_shutting_down.connect(dispatch_uid="django_axme.agent.stop_listeners")
def stop_listeners_at_worker_shutdown(**kwargs: Any) -> None:
    """At a worker's shutdown (in its main process: the ``threads``, ``solo``, ``gevent`` and
    ``eventlet`` pools run the slices there), end the running listener slices after their
    current window. Prefork pool children do not receive it: their slice runs to its end
    (``AGENT_LISTEN_SLICE_SECONDS``) or is killed, and the lease then expires."""
    shutting_down.set()
