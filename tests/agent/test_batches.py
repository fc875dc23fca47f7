"""The batched agent paths (issue 17 throughput): a window's items mirrored in one transaction
(``receive_batch``), new jobs run and resolved per batch (``run_jobs``), with the guarantees of
the one-item paths, and statements that do not grow with the batch."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import django_axme.agent
from django_axme import signals
from django_axme.agent.batch import run_jobs
from django_axme.agent.listener import Listener
from django_axme.models import AgentJob, AgentListener, HandlerRun, Intent
from django_axme.sync import agent as writer
from django_axme.sync.agent_receive import receive_batch

from .conftest import ADDRESS, SENDER

pytestmark = pytest.mark.django_db(transaction=True)

TYPE = "tests.agent.batch.v1"


def create(env: Any, n: int) -> list[str]:
    return [
        str(
            env.emulator.create_intent(
                {"intent_type": TYPE, "from_agent": SENDER, "to_agent": ADDRESS, "payload": {}}
            )["intent_id"]
        )
        for _ in range(n)
    ]


def read_items(env: Any, listener: Listener) -> list[dict[str, Any]]:
    """Every item the agent stream holds now (one window), without mirroring them."""
    events = listener.client._stream_window(
        listener._path,
        params={"since": "0", "wait_seconds": "1"},
        wait_seconds=1,
        trace_id=None,
        context="test",
    )
    return [item for item in events if isinstance(item, dict)]


def test_a_window_is_mirrored_once_with_statements_that_do_not_grow(agent_env):
    received: list[str] = []

    def on_received(sender, intent, **kwargs):
        received.append(intent.intent_id)

    listener = Listener(ADDRESS, enqueue=agent_env.inline)
    assert listener.claim()
    small = create(agent_env, 3)
    items = read_items(agent_env, listener)
    assert len(items) >= 6  # several items per intent
    signals.intent_received.connect(on_received)
    try:
        with CaptureQueriesContext(connection) as few:
            jobs = receive_batch(
                items, address=ADDRESS, token=listener.token, handler_of=lambda t: "h"
            )
        assert len(jobs) == 3
        big = create(agent_env, 30)
        items = read_items(agent_env, listener)
        with CaptureQueriesContext(connection) as many:
            more = receive_batch(
                items, address=ADDRESS, token=listener.token, handler_of=lambda t: "h"
            )
        # the whole stream again (a redelivery): nothing new
        again = receive_batch(items, address=ADDRESS, token=listener.token, handler_of=str)
    finally:
        signals.intent_received.disconnect(on_received)
    assert len(more) == 30 and again == []
    assert sorted(received) == sorted(small + big)  # once each
    assert AgentJob.objects.count() == 33
    assert set(Intent.objects.filter(intent_id__in=big).values_list("direction", flat=True)) == {
        "inbound"
    }
    assert AgentListener.objects.get(address=ADDRESS).cursor == max(i["seq"] for i in items)

    def own(ctx: CaptureQueriesContext) -> int:
        # the writer's statements (signal delivery runs one savepoint per receiver call)
        return sum(1 for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"])

    assert own(many) <= own(few) + 2, (own(few), own(many))


def test_a_listener_that_lost_its_lease_writes_nothing(agent_env):
    listener = Listener(ADDRESS, enqueue=agent_env.inline)
    assert listener.claim()
    create(agent_env, 2)
    items = read_items(agent_env, listener)
    AgentListener.objects.filter(address=ADDRESS).update(lease_token="someone-else")
    with pytest.raises(writer.LeaseLost):
        receive_batch(items, address=ADDRESS, token=listener.token, handler_of=str)
    assert AgentJob.objects.count() == 0
    assert AgentListener.objects.get(address=ADDRESS).cursor == 0


def test_a_batch_of_jobs_is_run_and_resolved_once(agent_env):
    calls: list[str] = []

    @django_axme.agent.handler(TYPE)
    def work(intent, ctx):
        calls.append(intent.intent_id)
        if len(calls) == 2:
            raise django_axme.agent.HandlerFailed("out of stock")
        return {"n": len(calls)}

    ids = create(agent_env, 5)
    queued: list[int] = []
    Listener(ADDRESS, enqueue_many=queued.extend).run_window()
    assert len(queued) == 5
    tokens = {pk: f"batch:{pk}" for pk in queued}
    outcomes = run_jobs(tokens)
    assert outcomes == {pk: "resolved" for pk in queued}
    # the same message delivered again, and a worker with other tokens: nothing runs again
    assert run_jobs(tokens) == {}
    assert run_jobs({pk: f"other:{pk}" for pk in queued}) == {}
    assert sorted(calls) == sorted(ids)
    statuses = [agent_env.emulator.get_intent(i)["status"] for i in ids]
    assert statuses.count("COMPLETED") == 4 and statuses.count("FAILED") == 1
    assert set(AgentJob.objects.values_list("state", flat=True)) == {"resolved"}
    assert HandlerRun.objects.count() == 5
    assert set(HandlerRun.objects.values_list("outcome", flat=True)) == {"succeeded", "failed"}
    assert all(j.resolve_key.endswith(":resolve:1") for j in AgentJob.objects.all())
    assert set(Intent.objects.filter(intent_id__in=ids).values_list("status", flat=True)) == {
        "COMPLETED",
        "FAILED",
    }


def test_a_stored_outcome_in_a_batch_is_only_resolved(agent_env):
    calls: list[str] = []

    @django_axme.agent.handler(TYPE)
    def work(intent, ctx):
        calls.append(intent.intent_id)
        return {}

    create(agent_env, 2)
    queued: list[int] = []
    Listener(ADDRESS, enqueue_many=queued.extend).run_window()
    # a worker decided the first job's outcome and died before resolving it
    job, run = writer.claim_job(queued[0], "dead", seconds=0.001)  # type: ignore[misc]
    writer.record_outcome(job, run, status="COMPLETED", result={"kept": True})
    outcomes = run_jobs({pk: f"b:{pk}" for pk in queued})
    assert outcomes == {queued[0]: "resolved", queued[1]: "resolved"}
    assert len(calls) == 1  # only the second job's handler ran
    first = AgentJob.objects.select_related("intent").get(pk=queued[0])
    assert agent_env.emulator.get_intent(first.intent.intent_id)["result"] == {"kept": True}


def test_a_job_taken_over_while_its_batch_waited_is_left_to_its_new_holder(agent_env, settings):
    settings.AXME = {**settings.AXME, "AGENT_JOB_LEASE_SECONDS": 1.5}
    calls: list[str] = []
    queued: list[int] = []

    @django_axme.agent.handler(TYPE)
    def work(intent, ctx):
        calls.append(intent.intent_id)
        if len(calls) == 1:
            # a slow first handler: meanwhile the second job's lease is taken by another worker
            AgentJob.objects.filter(pk=queued[1]).update(lease_token="another-worker")
            time.sleep(0.6)
        return {}

    ids = create(agent_env, 2)
    Listener(ADDRESS, enqueue_many=queued.extend).run_window()
    outcomes = run_jobs({pk: f"b:{pk}" for pk in queued})
    assert outcomes == {queued[0]: "resolved"}
    assert calls == [ids[0]]  # the second handler was not run by this batch
    assert AgentJob.objects.get(pk=queued[1]).lease_token == "another-worker"


def test_the_resolves_of_a_batch_run_side_by_side_and_each_is_recorded_once(agent_env):
    """``resolve_jobs`` sends up to ``RESOLVE_THREADS`` calls at once: every job is resolved
    once with its own key and body, a transient failure is returned for that job only, and
    the caller's outer deadline still applies inside the resolving threads."""
    import threading

    from django_axme.client.deadline import calls_end_by, outer_deadline
    from django_axme.client.errors import AxmeTransportError
    from django_axme.conf import get_client
    from django_axme.services import agent as services

    @django_axme.agent.handler(TYPE)
    def work(intent, ctx):
        return {"id": intent.intent_id}

    ids = create(agent_env, 9)
    queued: list[int] = []
    Listener(ADDRESS, enqueue_many=queued.extend).run_window()
    real = services._without_ledger(get_client())
    seen: list[tuple[str, str | None, bool]] = []
    busy = {"now": 0, "most": 0}
    lock = threading.Lock()

    class Watching:
        def resolve_intent(self, intent_id, body, idempotency_key=None):
            with lock:
                busy["now"] += 1
                busy["most"] = max(busy["most"], busy["now"])
                seen.append((intent_id, idempotency_key, outer_deadline() is not None))
            try:
                time.sleep(0.05)
                if intent_id == ids[4]:
                    raise AxmeTransportError("gateway away")
                return real.resolve_intent(intent_id, body, idempotency_key=idempotency_key)
            finally:
                with lock:
                    busy["now"] -= 1

    original = services._without_ledger
    services._without_ledger = lambda api: Watching()
    try:
        with calls_end_by(time.monotonic() + 30.0):
            outcomes = run_jobs({pk: f"t:{pk}" for pk in queued})
    finally:
        services._without_ledger = original
    assert busy["most"] > 1
    assert sorted(i for i, _, _ in seen) == sorted(ids)  # each job's resolve sent once
    assert all(key and key.endswith(":resolve:1") for _, key, _ in seen)
    assert all(inside for _, _, inside in seen)  # the outer deadline reached every call
    job4 = AgentJob.objects.get(intent__intent_id=ids[4])
    assert outcomes[job4.pk] == "retry" and job4.state == "resolving"
    assert [outcomes[pk] for pk in queued if pk != job4.pk] == ["resolved"] * 8
    done = [agent_env.emulator.get_intent(i) for i in ids if i != ids[4]]
    assert {d["status"] for d in done} == {"COMPLETED"}
    assert AgentJob.objects.filter(state="resolved").count() == 8
