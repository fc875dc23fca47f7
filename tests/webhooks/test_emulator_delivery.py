"""The emulator delivers real signed HTTP POSTs: signature, retries with backoff, dead letter,
true counters, and the fault injection (drop, duplicate, delay, reorder). No Django."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from django_axme.emulator import Emulator
from django_axme.emulator.webhook_delivery import WebhookFaults
from tests.webhooks.receiver import Receiver

SECRET = "emulator-secret-0123456789"
OWNER = "agent://test/approvers"


@pytest.fixture
def receiver():
    rec = Receiver()
    yield rec
    rec.close()


def make_emulator(**webhooks):
    options = {"backoff_seconds": 0.05, "max_attempts": 3, "timeout_seconds": 1.0, **webhooks}
    return Emulator(api_key=None, webhooks=options)


def subscribe(emulator, url, event_types=("inbox.thread_created", "inbox.thread_updated")):
    from django_axme.emulator.http_types import EmulatorRequest

    body = json.dumps(
        {"callback_url": url, "event_types": list(event_types), "secret": SECRET}
    ).encode()
    response = emulator.handle(
        EmulatorRequest(
            "POST", "/v1/webhooks/subscriptions", query={}, headers={"x-api-key": "k"}, body=body
        )
    )
    assert response.status == 200, response.body


def publish(emulator, event_type="inbox.thread_updated", payload=None):
    import json

    from django_axme.emulator.http_types import EmulatorRequest

    body = json.dumps(
        {"event_type": event_type, "source": "tests", "payload": payload or {"thread_id": "t"}}
    ).encode()
    response = emulator.handle(
        EmulatorRequest(
            "POST", "/v1/webhooks/events", query={}, headers={"x-api-key": "k"}, body=body
        )
    )
    assert response.status == 200, response.body
    return json.loads(response.body)


def open_task(emulator, n=1):
    created = emulator.create_intent(
        {
            "intent_type": "test.approval.v1",
            "to_agent": "agent://test/worker",
            "from_agent": "agent://test/shop",
            "payload": {"n": n},
        }
    )
    emulator.gateway.transition(created["intent_id"], "IN_PROGRESS")
    emulator.gateway.open_human_task(created["intent_id"], owner_agent=OWNER, title=f"ok {n}?")
    return created["intent_id"]


def test_inbox_change_is_posted_signed_with_the_subscription_secret(receiver):
    with make_emulator() as emulator:
        subscribe(emulator, receiver.url)
        intent_id = open_task(emulator)
        assert emulator.webhooks.wait_idle(5)
    # The subscription has no owner scope: it gets every owner's threads (the worker's too).
    mine = [(h, raw) for h, raw in receiver.requests if json.loads(raw)["owner_agent"] == OWNER]
    headers, raw = mine[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert headers["x-axme-signature"] == expected
    body = json.loads(raw)
    assert headers["x-axme-delivery"] == body["delivery_id"]
    assert body["event_type"] == "inbox.thread_created"
    assert body["payload"]["thread_id"] == intent_id
    assert body["sent_at"].endswith("Z") and body["attempt"] == 1


def test_non_2xx_is_retried_with_the_same_delivery_id_then_delivered():
    receiver = Receiver(answer=lambda n: 500 if n < 3 else 200)
    try:
        with make_emulator() as emulator:
            subscribe(emulator, receiver.url, ["custom.event"])
            answer = publish(emulator, "custom.event")
            assert (answer["queued_deliveries"], answer["pending"]) == (1, 1)
            assert emulator.webhooks.wait_idle(5)
            counters = emulator.webhooks.counters(answer["event_id"])
    finally:
        receiver.close()
    bodies = receiver.bodies()
    assert [b["attempt"] for b in bodies] == [1, 2, 3]
    assert len({b["delivery_id"] for b in bodies}) == 1
    assert counters == {
        "queued_deliveries": 1,
        "processed_deliveries": 1,
        "delivered": 1,
        "pending": 0,
        "dead_lettered": 0,
    }


def test_failing_receiver_is_dead_lettered_after_max_attempts_and_timeouts_count():
    receiver = Receiver(answer=lambda n: 503)
    slow = Receiver(sleep=1.5)
    try:
        with make_emulator(timeout_seconds=0.3) as emulator:
            subscribe(emulator, receiver.url, ["custom.event"])
            subscribe(emulator, slow.url, ["custom.event"])
            answer = publish(emulator, "custom.event")
            assert answer["queued_deliveries"] == 2
            assert emulator.webhooks.wait_idle(10)
            counters = emulator.webhooks.counters(answer["event_id"])
    finally:
        receiver.close()
        slow.close()
    assert len(receiver.requests) == 3  # max_attempts
    assert counters["dead_lettered"] == 2 and counters["delivered"] == 0
    assert counters["pending"] == 0 and counters["processed_deliveries"] == 2


def test_replay_makes_new_deliveries_and_counts_them(receiver):
    from django_axme.emulator.http_types import EmulatorRequest

    with make_emulator() as emulator:
        subscribe(emulator, receiver.url, ["custom.event"])
        event_id = publish(emulator, "custom.event")["event_id"]
        assert emulator.webhooks.wait_idle(5)
        response = emulator.handle(
            EmulatorRequest(
                "POST",
                f"/v1/webhooks/events/{event_id}/replay",
                query={},
                headers={"x-api-key": "k"},
                body=b"",
            )
        )
        assert response.status == 200
        assert emulator.webhooks.wait_idle(5)
        counters = emulator.webhooks.counters(event_id)
    ids = [b["delivery_id"] for b in receiver.bodies()]
    assert len(ids) == 2 and ids[0] != ids[1]
    assert {b["event_id"] for b in receiver.bodies()} == {event_id}
    assert counters["queued_deliveries"] == 2 and counters["delivered"] == 2


def test_unsubscribed_and_revoked_subscriptions_get_nothing(receiver):
    with make_emulator() as emulator:
        subscribe(emulator, receiver.url, ["custom.event"])
        open_task(emulator)  # inbox events: not subscribed
        sub = next(iter(emulator.gateway.table("webhook_subscriptions").values()))
        sub["active"] = False
        publish(emulator, "custom.event")
        assert emulator.webhooks.wait_idle(5)
    assert receiver.requests == []


def test_intent_events_only_as_the_emulator_option(receiver):
    with make_emulator(deliver_intent_events=True) as emulator:
        subscribe(emulator, receiver.url, ["intent.lifecycle"])
        intent_id = open_task(emulator)
        assert emulator.webhooks.wait_idle(5)
    seqs = [b["payload"]["seq"] for b in receiver.bodies()]
    assert sorted(seqs) == list(range(1, len(seqs) + 1)) and len(seqs) >= 4
    assert {b["payload"]["intent_id"] for b in receiver.bodies()} == {intent_id}
    other = Receiver()
    try:
        with make_emulator() as emulator:
            subscribe(emulator, other.url, ["intent.lifecycle"])
            open_task(emulator)
            assert emulator.webhooks.wait_idle(5)
    finally:
        other.close()
    assert other.requests == []


def test_faults_drop_duplicate_delay_and_reorder(receiver):
    faults = WebhookFaults(seed=1, drop=1.0, event_types=("custom.event",))
    with make_emulator(faults=faults) as emulator:
        subscribe(emulator, receiver.url, ["custom.event", "other.event"])
        dropped = publish(emulator, "custom.event")["event_id"]
        publish(emulator, "other.event")
        assert emulator.webhooks.wait_idle(5)
        # A dropped delivery is lost in transit: AXME counts it delivered.
        assert emulator.webhooks.counters(dropped)["delivered"] == 1
        assert [b["event_type"] for b in receiver.bodies()] == ["other.event"]
        assert faults.log[0][0] == "drop"

        faults.drop, faults.duplicate = 0.0, 1.0
        publish(emulator, "custom.event")
        assert emulator.webhooks.wait_idle(5)
        twice = receiver.bodies()[-2:]
        assert twice[0]["delivery_id"] == twice[1]["delivery_id"]

        faults.duplicate, faults.reorder, faults.reorder_hold_seconds = 0.0, 1.0, 0.3
        first = publish(emulator, "custom.event")["event_id"]
        faults.reorder = 0.0
        second = publish(emulator, "custom.event")["event_id"]
        assert emulator.webhooks.wait_idle(5)
        order = [b["event_id"] for b in receiver.bodies()[-2:]]
        assert order == [second, first]

        faults.delay, faults.delay_seconds = 1.0, 0.5
        started = time.monotonic()
        publish(emulator, "custom.event")
        assert emulator.webhooks.wait_idle(5)
        assert time.monotonic() - started >= 0.5
