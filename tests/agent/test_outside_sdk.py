"""Outside check (issue 17): the official ``axme`` SDK, as another system, sends intents to the
project's address; the project's listener and handlers answer them."""

from __future__ import annotations

from typing import Any

import pytest

import django_axme.agent
from django_axme import signals
from django_axme.agent import HandlerFailed, Wait
from django_axme.agent.listener import Listener
from django_axme.models import AgentJob, HandlerRun, Intent

from .conftest import ADDRESS, send

pytestmark = pytest.mark.django_db(transaction=True)


def listen_once(env: Any) -> int:
    return Listener(ADDRESS, enqueue=env.inline).run_window()


def test_completed_with_the_handler_result(agent_env, sdk):
    seen: list[tuple[str, str]] = []

    @django_axme.agent.handler("tests.agent.echo.v1")
    def echo(intent, ctx):
        seen.append((intent.intent_id, ctx.idempotency_key))
        return {"echo": intent.payload["n"], "by": ctx.address}

    received: list[Intent] = []

    def on_received(sender, intent, event, **kwargs):
        received.append(intent)

    signals.intent_received.connect(on_received)
    try:
        intent_id = send(sdk, "tests.agent.echo.v1", {"n": 7})
        assert listen_once(agent_env) >= 1
        event = sdk.wait_for(intent_id, wait_seconds=2, timeout_seconds=10)
    finally:
        signals.intent_received.disconnect(on_received)
    assert event["status"] == "COMPLETED"
    assert event["details"]["result"] == {"echo": 7, "by": ADDRESS}
    assert seen == [(intent_id, f"axme-agent:{intent_id}")]
    assert [i.intent_id for i in received] == [intent_id]
    row = Intent.objects.get(intent_id=intent_id)
    assert row.direction == "inbound"
    assert row.status == "COMPLETED"
    job = AgentJob.objects.get(intent=row)
    assert job.state == "resolved" and job.outcome_status == "COMPLETED"
    assert job.resolve_key == f"axme-agent:{intent_id}:resolve:1"
    run = HandlerRun.objects.get(job=job)
    assert run.outcome == "succeeded" and run.duration_ms is not None


def test_failed_with_the_reason(agent_env, sdk):
    @django_axme.agent.handler("tests.agent.refuse.v1")
    def refuse(intent):
        raise HandlerFailed("out of stock", code="no_stock")

    intent_id = send(sdk, "tests.agent.refuse.v1")
    listen_once(agent_env)
    event = sdk.wait_for(intent_id, wait_seconds=2, timeout_seconds=10)
    assert event["status"] == "FAILED"
    assert event["details"]["error"]["message"] == "out of stock"
    assert event["details"]["error"]["code"] == "no_stock"
    assert Intent.objects.get(intent_id=intent_id).status == "FAILED"


def test_waits_for_a_human_then_completes_when_approved(agent_env, sdk):
    calls: list[str] = []

    @django_axme.agent.handler("tests.agent.approve.v1")
    def needs_human(intent, ctx):
        calls.append(ctx.decision)
        if ctx.decision != "approve":
            return Wait("WAITING_FOR_HUMAN", note="a clerk must check")
        return {"approved_by": ctx.decision_note}

    intent_id = send(sdk, "tests.agent.approve.v1")
    listen_once(agent_env)
    job = AgentJob.objects.get(intent__intent_id=intent_id)
    assert job.state == "waiting" and job.waiting_reason == "WAITING_FOR_HUMAN"
    assert sdk.get_intent(intent_id)["intent"]["status"] not in ("COMPLETED", "FAILED")

    assert django_axme.agent.decide(job, "approve", "alice", enqueue=agent_env.inline)
    event = sdk.wait_for(intent_id, wait_seconds=2, timeout_seconds=10)
    assert event["status"] == "COMPLETED"
    assert event["details"]["result"] == {"approved_by": "alice"}
    assert calls == ["", "approve"]
    # a second decision on a job that is no longer waiting does nothing
    assert not django_axme.agent.decide(job, "approve", enqueue=agent_env.inline)


def test_no_handler_fails_the_intent_explicitly(agent_env, sdk):
    intent_id = send(sdk, "tests.agent.unknown.v1")
    listen_once(agent_env)
    event = sdk.wait_for(intent_id, wait_seconds=2, timeout_seconds=10)
    assert event["status"] == "FAILED"
    assert event["details"]["error"]["code"] == "no_handler"
