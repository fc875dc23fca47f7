"""Delivery and exactly-once guarantees of the agent side (issue 17), against the emulator."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

import django_axme.agent
from django_axme import signals
from django_axme.agent.handlers import Registry
from django_axme.agent.listener import Listener
from django_axme.agent.runner import run_job
from django_axme.models import AgentJob, AgentListener, HandlerRun, Intent
from django_axme.services import agent as services
from django_axme.sync import agent as writer

from .conftest import ADDRESS, SENDER

pytestmark = pytest.mark.django_db(transaction=True)


def create(env: Any, intent_type: str = "tests.agent.work.v1") -> str:
    answer = env.emulator.create_intent(
        {"intent_type": intent_type, "from_agent": SENDER, "to_agent": ADDRESS, "payload": {}}
    )
    return str(answer["intent_id"])


def test_redelivery_runs_the_handler_and_signals_once(agent_env):
    calls: list[str] = []

    @django_axme.agent.handler("tests.agent.work.v1")
    def work(intent):
        calls.append(intent.intent_id)
        return {"ok": True}

    received: list[str] = []

    def on_received(sender, intent, **kwargs):
        received.append(intent.intent_id)

    signals.intent_received.connect(on_received)
    try:
        intent_id = create(agent_env)
        listener = Listener(ADDRESS, enqueue=agent_env.inline)
        listener.run_window()
        # the gateway delivers everything again (cursor lost): nothing runs twice
        AgentListener.objects.filter(address=ADDRESS).update(cursor=0)
        listener.run_window()
    finally:
        signals.intent_received.disconnect(on_received)
    assert calls == [intent_id]
    assert received == [intent_id]
    assert AgentJob.objects.count() == 1
    assert agent_env.emulator.get_intent(intent_id)["status"] == "COMPLETED"


def test_cursor_is_stored_and_listening_resumes_after_it(agent_env):
    @django_axme.agent.handler("tests.agent.work.v1")
    def work(intent):
        return {}

    create(agent_env)
    first = Listener(ADDRESS, enqueue=agent_env.inline)
    first.run_window()
    first.release()  # a clean shutdown
    cursor = AgentListener.objects.get(address=ADDRESS).cursor
    assert cursor >= 2  # CREATED and SUBMITTED items of the per-agent feed at least
    second = create(agent_env)
    fresh = Listener(ADDRESS, enqueue=agent_env.inline)  # a new process
    assert fresh.run_window() >= 1
    assert AgentListener.objects.get(address=ADDRESS).cursor > cursor
    assert Intent.objects.get(intent_id=second).status == "COMPLETED"


def test_two_listeners_never_both_hold_an_address_and_an_expired_one_is_taken_over(agent_env):
    first = Listener(ADDRESS, enqueue=agent_env.inline)
    second = Listener(ADDRESS, enqueue=agent_env.inline)
    assert first.claim()
    assert not second.claim()
    assert second.run_window() == 0  # reads nothing without the lease
    AgentListener.objects.filter(address=ADDRESS).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )  # the first one was killed and stopped renewing
    assert second.claim()
    assert not first.claim()
    with pytest.raises(writer.LeaseLost):
        writer.receive_inbound(
            {"seq": 99, "intent_id": "x" * 8}, address=ADDRESS, token=first.token, handler_name=""
        )


def test_a_killed_run_is_run_again_after_its_lease_with_the_same_key(agent_env):
    keys: list[tuple[int, str]] = []

    @django_axme.agent.handler("tests.agent.work.v1")
    def work(intent, ctx):
        keys.append((ctx.attempt, ctx.idempotency_key))
        return {"attempt": ctx.attempt}

    queued: list[int] = []
    intent_id = create(agent_env)
    Listener(ADDRESS, enqueue=queued.append).run_window()
    (pk,) = queued
    # a worker claims the job and dies in the handler (no outcome stored)
    claimed = writer.claim_job(pk, "dead-worker", seconds=300)
    assert claimed is not None and claimed[1] is not None
    assert run_job(pk, token="other") == "skipped"  # its lease is live
    assert writer.due_jobs(stale_pending_seconds=300) == []
    AgentJob.objects.filter(pk=pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert writer.due_jobs(stale_pending_seconds=300) == [pk]
    assert run_job(pk, token="other") == "resolved"
    assert keys == [(2, f"axme-agent:{intent_id}")]
    runs = list(HandlerRun.objects.filter(job_id=pk).values_list("attempt", "outcome"))
    assert runs == [(1, "lost"), (2, "succeeded")]
    assert agent_env.emulator.get_intent(intent_id)["status"] == "COMPLETED"


def test_a_stored_outcome_is_resolved_without_running_the_handler_again(agent_env):
    calls: list[int] = []

    @django_axme.agent.handler("tests.agent.work.v1")
    def work(intent):
        calls.append(1)
        return {"n": 1}

    queued: list[int] = []
    intent_id = create(agent_env)
    Listener(ADDRESS, enqueue=queued.append).run_window()
    (pk,) = queued
    job, run = writer.claim_job(pk, "w1", seconds=300)  # type: ignore[misc]
    writer.record_outcome(job, run, status="COMPLETED", result={"n": 1})
    # the worker dies before the resolve; its lease expires; the job is handed over again
    AgentJob.objects.filter(pk=pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert run_job(pk, token="w2") == "resolved"
    assert calls == []
    assert agent_env.emulator.get_intent(intent_id)["status"] == "COMPLETED"
    assert run_job(pk, token="w3") == "skipped"


def test_a_409_on_an_already_terminal_intent_is_recorded_not_raised(agent_env):
    @django_axme.agent.handler("tests.agent.work.v1")
    def work(intent):
        return {"n": 1}

    queued: list[int] = []
    intent_id = create(agent_env)
    Listener(ADDRESS, enqueue=queued.append).run_window()
    (pk,) = queued
    agent_env.emulator.resolve(intent_id, "CANCELED", reason="sender gave up")
    assert run_job(pk, token="w") == "resolved"
    job = AgentJob.objects.get(pk=pk)
    assert job.state == "resolved" and job.resolve_conflict


def test_unexpected_error_fails_the_run_and_run_again_retries_it(agent_env):
    attempts: list[int] = []

    @django_axme.agent.handler("tests.agent.work.v1")
    def work(intent, ctx):
        attempts.append(ctx.attempt)
        if ctx.attempt == 1:
            raise RuntimeError("bug")
        return {"fixed": True}

    queued: list[int] = []
    intent_id = create(agent_env)
    Listener(ADDRESS, enqueue=queued.append).run_window()
    (pk,) = queued
    assert run_job(pk, token="w") == "error"
    job = AgentJob.objects.get(pk=pk)
    assert job.state == "failed"
    assert "RuntimeError: bug" in HandlerRun.objects.get(job=job).error
    assert agent_env.emulator.get_intent(intent_id)["status"] not in ("COMPLETED", "FAILED")
    assert django_axme.agent.run_again(job, enqueue=agent_env.inline)
    assert attempts == [1, 2]
    assert agent_env.emulator.get_intent(intent_id)["status"] == "COMPLETED"


def test_transient_error_keeps_the_job_for_a_retry(agent_env):
    from django_axme.agent import TransientError
    from django_axme.agent.runner import RetryLater

    @django_axme.agent.handler("tests.agent.work.v1")
    def work(intent, ctx):
        if ctx.attempt == 1:
            raise TransientError("supplier busy")
        return {}

    queued: list[int] = []
    create(agent_env)
    Listener(ADDRESS, enqueue=queued.append).run_window()
    (pk,) = queued
    with pytest.raises(RetryLater):
        run_job(pk, token="task-1")
    assert AgentJob.objects.get(pk=pk).state == "pending"
    assert run_job(pk, token="task-1") == "resolved"  # the Celery retry (same task id)


def test_wait_for_time_is_due_and_run_again(agent_env):
    @django_axme.agent.handler("tests.agent.work.v1")
    def work(intent, ctx):
        if ctx.attempt == 1:
            return django_axme.agent.Wait("WAITING_FOR_TIME", seconds=0)
        return {"later": True}

    queued: list[int] = []
    intent_id = create(agent_env)
    Listener(ADDRESS, enqueue=queued.append).run_window()
    (pk,) = queued
    assert run_job(pk, token="w") == "waiting"
    assert writer.due_jobs(stale_pending_seconds=300) == [pk]
    assert run_job(pk, token="w2") == "resolved"
    assert agent_env.emulator.get_intent(intent_id)["status"] == "COMPLETED"


def test_mesh_heartbeat_carries_real_metrics(agent_env):
    @django_axme.agent.handler("tests.agent.work.v1")
    def work(intent):
        return {}

    @django_axme.agent.handler("tests.agent.bad.v1")
    def bad(intent):
        raise django_axme.agent.HandlerFailed("no")

    create(agent_env)
    create(agent_env)
    create(agent_env, "tests.agent.bad.v1")
    Listener(ADDRESS, enqueue=agent_env.inline).run_window()
    services.send_heartbeat(ADDRESS)
    mesh = agent_env.emulator.gateway.agents[ADDRESS]["mesh"]
    metrics = mesh["metrics"]
    assert metrics["intents_total"] == 3
    assert metrics["intents_succeeded"] == 2
    assert metrics["intents_failed"] == 1
    assert metrics["avg_latency_ms"] > 0
    assert AgentListener.objects.get(address=ADDRESS).last_heartbeat_at is not None


def test_registry_scopes_and_refuses_overlaps():
    reg = Registry()

    def a(intent):
        return None

    def b(intent, ctx):
        return None

    reg.register("x.y.v1", a, ["agent://o/w/one"])
    reg.register("x.y.v1", b)
    assert reg.lookup("x.y.v1", "agent://o/w/one").func is a
    assert reg.lookup("x.y.v1", "agent://o/w/two").func is b
    assert reg.lookup("x.y.v1", "agent://o/w/two").takes_context
    assert not reg.lookup("x.y.v1", "agent://o/w/one").takes_context
    with pytest.raises(ValueError):
        reg.register("x.y.v1", lambda i: None)
    reg.register("x.y.v1", b)  # the same function again (module imported twice): fine
    assert reg.lookup("z.z.v1", "agent://o/w/one") is None


def test_list_command_shows_handlers(handlers, settings, capsys):
    settings.AXME = {"API_KEY": "k", "AGENT_ADDRESSES": [ADDRESS]}

    @django_axme.agent.handler("tests.agent.listed.v1", addresses=[ADDRESS])
    def listed(intent):
        return {}

    call_command("axme_agent", "--list")
    out = capsys.readouterr().out
    assert "tests.agent.listed.v1" in out and "listed" in out and ADDRESS in out
