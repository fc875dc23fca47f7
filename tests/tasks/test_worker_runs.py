"""End-to-end runs with real worker processes against the emulator's HTTP server.

50 intents are written through the outbox (``send_intent_on_commit``); half go to an agent
that asks a human (approved here through the client once the mirror shows the wait, i.e.
while the worker observes), half to an agent that just works. Every intent must end terminal
in the mirror, and every transition must be signalled exactly once in the worker, including
when the worker is SIGKILLed twice in the middle of the run (the restarted worker delivers
the signals the killed one had recorded but not delivered yet).
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import transaction

import django_axme
from django_axme.models import TERMINAL_STATUSES, Intent, IntentEvent, PendingSignal, SendState
from tests.tasks import harness, recorder
from tests.tasks.conftest import (
    APPROVER_AGENT,
    OWNER,
    WORKER_AGENT,
    WorkerFactory,
    make_client,
    redis_available,
    requires_postgres,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

N_INTENTS = 50


def _queue_intents(n: int) -> list[int]:
    pks = []
    for i in range(n):
        with transaction.atomic():
            row = django_axme.send_intent_on_commit(
                "intent.test.run.v1",
                {"n": i},
                to_agent=APPROVER_AGENT if i % 2 == 0 else WORKER_AGENT,
            )
            pks.append(row.pk)
    return pks


def _approve_waiting(client: Any, approved: set[str]) -> None:
    """Approve, through the client, each human wait the mirror (i.e. the worker) has seen."""
    waiting = Intent.objects.filter(
        to_agent=APPROVER_AGENT, status="WAITING", waiting_reason="WAITING_FOR_HUMAN"
    ).values_list("intent_id", flat=True)
    for intent_id in waiting:
        if intent_id in approved:
            continue
        client.approve_inbox_thread(intent_id, {"comment": "fine"}, owner_agent=OWNER)
        approved.add(intent_id)


def _expected_transitions(intent: Intent) -> list[tuple[int, str]]:
    """Status changes implied by the stored event log, in seq order."""
    previous = "CREATED"
    out = []
    for seq, status in (
        IntentEvent.objects.filter(intent=intent).order_by("seq").values_list("seq", "status")
    ):
        if previous in TERMINAL_STATUSES:
            break
        if status and status != previous:
            out.append((seq, status))
            previous = status
    return out


def run_fifty(
    worker: harness.Worker,
    emulator: SimpleNamespace,
    signal_log: Any,
    *,
    kills: int = 0,
    timeout: float = 150.0,
) -> None:
    client = make_client(emulator.url)
    pks = _queue_intents(N_INTENTS)
    approved: set[str] = set()
    kill_marks = [N_INTENTS // 5, N_INTENTS // 2][:kills]  # terminal counts that trigger a kill
    deadline = time.monotonic() + timeout
    kill_times: list[float] = []
    while True:
        _approve_waiting(client, approved)
        rows = Intent.objects.filter(pk__in=pks)
        terminal = rows.filter(status__in=TERMINAL_STATUSES).count()
        if terminal == N_INTENTS:
            break
        if kill_marks and terminal >= kill_marks[0]:
            kill_marks.pop(0)
            kill_times.append(time.time())
            worker.kill()
            time.sleep(0.5)
            worker.start()
        if time.monotonic() > deadline:
            states = Counter(rows.values_list("status", "send_state"))
            raise AssertionError(
                f"only {terminal}/{N_INTENTS} terminal after {timeout} s: {dict(states)}\n"
                f"{worker.log_tail(80)}"
            )
        time.sleep(0.3)
    assert len(kill_times) == kills

    rows = list(Intent.objects.filter(pk__in=pks))
    # Every intent sent exactly once: one remote intent per row, no duplicates at the gateway.
    assert all(r.send_state == SendState.SENT and r.intent_id for r in rows)
    remote = emulator.emulator.gateway.list_intents()
    by_correlation = Counter(i["correlation_id"] for i in remote)
    assert all(by_correlation[r.correlation_id] == 1 for r in rows)
    assert {r.status for r in rows} == {"COMPLETED"}
    assert len(approved) == N_INTENTS // 2

    # Signals: the after-commit deliveries of the last batches (and, after a kill, the
    # restarted worker's recovery) leave no pending signal behind; then compare.
    harness.wait_until(
        lambda: not PendingSignal.objects.exists(), 30, what="every pending signal delivered"
    )
    records = recorder.read(str(signal_log))
    status_changes = [r for r in records if r["signal"] == "intent_status_changed"]
    seen = Counter((r["intent_id"], r["seq"], r["status"]) for r in status_changes)
    duplicates = {k: v for k, v in seen.items() if v > 1}
    assert not duplicates, f"transitions signalled more than once: {duplicates}"
    lost = []
    for row in rows:
        expected = _expected_transitions(row)
        got = sorted(
            (r["seq"], r["status"]) for r in status_changes if r["intent_id"] == row.intent_id
        )
        assert set(got) <= set(expected), f"intent {row.intent_id}: unexpected signals {got}"
        assert expected[-1][1] == "COMPLETED"
        lost.extend((row.intent_id, seq) for seq, _status in set(expected) - set(got))
    # Signals are recorded with the mirror change and delivered in a transaction of their own
    # (the recorder's rows commit with it): a SIGKILL at any point loses none of them.
    assert not lost, f"signals lost (kills at {kill_times}): {sorted(lost)}"
    recovered = [int(n) for n in re.findall(r"delivered (\d+) pending signal", worker.logs())]
    if recovered:
        print(f"signals left pending by a kill and recovered: {recovered}")
    completed = Counter(r["intent_id"] for r in records if r["signal"] == "intent_completed")
    created = Counter(r["intent_id"] for r in records if r["signal"] == "intent_created")
    for counter in (completed, created):
        assert set(counter.values()) <= {1}, f"signalled twice: {counter}"
    assert len(completed) == len(created) == N_INTENTS
    waits = [r for r in status_changes if r["status"] == "WAITING" and r["intent_id"] in approved]
    assert len(waits) == N_INTENTS // 2


def _redis_worker(workers: WorkerFactory, emulator: SimpleNamespace) -> tuple[harness.Worker, str]:
    if not redis_available():
        pytest.skip(f"Redis is not reachable at {harness.redis_url()}")
    url = harness.redis_url()
    harness.flush_redis(url)
    worker = workers(axme_url=emulator.url, broker_url=url, name="redis", concurrency=16)
    return worker, url


@pytest.mark.postgres
@requires_postgres
def test_fifty_intents_redis_postgres(
    workers: WorkerFactory, live_emulator: SimpleNamespace
) -> None:
    worker, url = _redis_worker(workers, live_emulator)
    worker.start()
    with harness.use_broker(url):
        run_fifty(worker, live_emulator, workers.signal_log)


@pytest.mark.postgres
@requires_postgres
def test_fifty_intents_survive_two_sigkills(
    workers: WorkerFactory, live_emulator: SimpleNamespace
) -> None:
    worker, url = _redis_worker(workers, live_emulator)
    worker.start()
    with harness.use_broker(url):
        run_fifty(worker, live_emulator, workers.signal_log, kills=2, timeout=200)
    assert worker.starts == 3


def test_fifty_intents_filesystem_broker(
    workers: WorkerFactory, live_emulator: SimpleNamespace, var_dir: Any
) -> None:
    url, options = harness.filesystem_broker(var_dir)
    worker = workers(axme_url=live_emulator.url, broker_url=url, name="fs50", concurrency=16)
    worker.start()
    with harness.use_broker(url, options):
        run_fifty(worker, live_emulator, workers.signal_log)


def test_fifty_intents_survive_two_sigkills_filesystem_broker(
    workers: WorkerFactory, live_emulator: SimpleNamespace, var_dir: Any
) -> None:
    """The kill run on the no-server broker (and whatever DATABASE_URL says, SQLite by
    default): the broker loses the messages the killed worker held; the reconcile sweep and the
    start-up signal recovery make up for them."""
    url, options = harness.filesystem_broker(var_dir)
    worker = workers(axme_url=live_emulator.url, broker_url=url, name="fskill", concurrency=16)
    worker.start()
    with harness.use_broker(url, options):
        run_fifty(worker, live_emulator, workers.signal_log, kills=2, timeout=200)
    assert worker.starts == 3


def test_fifty_intents_rabbitmq(workers: WorkerFactory, live_emulator: SimpleNamespace) -> None:
    import kombu

    url = harness.amqp_url()
    try:
        with kombu.Connection(url, connect_timeout=2) as conn:
            conn.connect()
    except Exception:
        pytest.skip(f"RabbitMQ is not reachable at {url}")
    queue = f"axme-test-{uuid.uuid4().hex[:8]}"
    worker = workers(
        axme_url=live_emulator.url,
        broker_url=url,
        name="amqp",
        concurrency=16,
        extra_env={"AXME_TEST_QUEUE": queue},
    )
    worker.start()
    try:
        with harness.use_broker(url, queue=queue):
            run_fifty(worker, live_emulator, workers.signal_log)
    finally:
        worker.stop()
        with kombu.Connection(url) as conn:  # the run's queue is not left behind
            conn.default_channel.queue_delete(queue)
