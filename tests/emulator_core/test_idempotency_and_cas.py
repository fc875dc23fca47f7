"""Idempotency keys on every POST/PATCH and the policy_generation compare-and-set."""

from __future__ import annotations

import pytest

from django_axme.emulator.core import EmulatorConflict, Gateway

from .conftest import API_KEY, call, intent_body


def _post_intent(gw, body, key, api_key=API_KEY):
    return call(gw, "POST", "/v1/intents", body, headers={"Idempotency-Key": key}, api_key=api_key)


def test_same_key_same_body_replays_the_original_answer(gw):
    body = intent_body()
    first = _post_intent(gw, body, "k-1")
    # same canonical JSON in another key order
    second = _post_intent(gw, dict(reversed(list(body.items()))), "k-1")
    assert first.status == second.status == 200
    assert first.body == second.body
    assert len(gw.list_intents()) == 1
    assert len(gw.events(first.body["intent_id"])) == 2


def test_same_key_other_body_is_409(gw):
    body = intent_body()
    assert _post_intent(gw, body, "k-2").status == 200
    conflict = _post_intent(gw, dict(body, payload={"text": "different"}), "k-2")
    assert conflict.status == 409
    assert conflict.body["error"]["code"] == "idempotency_conflict"
    assert conflict.body["detail"] == "idempotency key reused with different payload"
    assert len(gw.list_intents()) == 1


def test_keys_expire_after_24_hours(gw, clock):
    body = intent_body()
    first = _post_intent(gw, body, "k-3")
    clock.advance(hours=23, minutes=59)
    assert _post_intent(gw, body, "k-3").body == first.body
    assert _post_intent(gw, dict(body, payload={}), "k-3").status == 409
    clock.advance(minutes=2)
    later = _post_intent(gw, body, "k-3")
    assert later.status == 200 and later.body["intent_id"] != first.body["intent_id"]


def test_keys_are_scoped_by_api_key_and_route(clock):
    gw = Gateway(["key-a", "key-b"], clock=clock)
    body = intent_body()
    a = _post_intent(gw, body, "shared", api_key="key-a")
    b = _post_intent(gw, body, "shared", api_key="key-b")
    assert a.body["intent_id"] != b.body["intent_id"]
    iid = a.body["intent_id"]
    resolved = call(
        gw,
        "POST",
        f"/v1/intents/{iid}/resolve",
        {"status": "COMPLETED"},
        headers={"Idempotency-Key": "shared"},
        api_key="key-a",
    )
    assert resolved.status == 200
    replay = call(
        gw,
        "POST",
        f"/v1/intents/{iid}/resolve",
        {"status": "COMPLETED"},
        headers={"Idempotency-Key": "shared"},
        api_key="key-a",
    )
    assert replay.status == 200 and replay.body == resolved.body  # not a 409 terminal error


def test_failed_requests_are_not_stored(gw):
    bad = _post_intent(gw, intent_body(intent_type="nope"), "k-4")
    assert bad.status == 422
    good = _post_intent(gw, intent_body(), "k-4")
    assert good.status == 200


def test_idempotency_on_other_routes(gw):
    iid = gw.create_intent(intent_body())["intent_id"]
    q = {"owner_agent": "agent://tests/receiver"}
    first = call(
        gw,
        "POST",
        f"/v1/inbox/{iid}/reply",
        {"message": "hi"},
        query=q,
        headers={"Idempotency-Key": "r-1"},
    )
    second = call(
        gw,
        "POST",
        f"/v1/inbox/{iid}/reply",
        {"message": "hi"},
        query=q,
        headers={"Idempotency-Key": "r-1"},
    )
    assert first.body == second.body
    assert len(gw.thread(iid)["timeline"]) == 2  # intent_received + one reply
    other = call(
        gw,
        "POST",
        f"/v1/inbox/{iid}/reply",
        {"message": "other"},
        query=q,
        headers={"Idempotency-Key": "r-1"},
    )
    assert other.status == 409


def test_control_api_create_is_idempotent(gw):
    body = intent_body()
    first = gw.create_intent(body, idempotency_key="c-1")
    assert gw.create_intent(body, idempotency_key="c-1") == first
    with pytest.raises(EmulatorConflict):
        gw.create_intent(dict(body, payload={"x": 1}), idempotency_key="c-1")


def test_controls_cas(gw):
    iid = gw.create_intent(intent_body())["intent_id"]
    assert gw.get_intent(iid)["policy_generation"] == 0
    ok = call(
        gw,
        "POST",
        f"/v1/intents/{iid}/controls",
        {"controls_patch": {"timeout_seconds": 60}, "expected_policy_generation": 0},
    )
    assert ok.status == 200
    assert ok.body["applied"] is True and ok.body["policy_generation"] == 1
    stale = call(
        gw,
        "POST",
        f"/v1/intents/{iid}/controls",
        {"controls_patch": {"timeout_seconds": 30}, "expected_policy_generation": 0},
    )
    assert stale.status == 409
    assert stale.body["reason"] == "stale_policy_generation"
    assert stale.body["policy_generation"] == 1
    assert stale.body["error"]["code"] == "stale_policy_generation"
    assert "detail" in stale.body
    intent = gw.get_intent(iid)
    assert intent["controls"] == {"timeout_seconds": 60} and intent["policy_generation"] == 1
    unconditional = call(
        gw, "POST", f"/v1/intents/{iid}/controls", {"controls_patch": {"timeout_seconds": 90}}
    )
    assert unconditional.body["policy_generation"] == 2


def test_policy_cas_and_validation(gw):
    iid = gw.create_intent(intent_body())["intent_id"]
    grants = {"delegate:agent://ops": {"allow": ["resume"]}}
    ok = call(
        gw,
        "POST",
        f"/v1/intents/{iid}/policy",
        {
            "grants_patch": grants,
            "envelope_patch": {"max_retry_count": 3},
            "expected_policy_generation": 0,
        },
    )
    assert ok.body["policy_generation"] == 1
    assert ok.body["policy"] == {"grants": grants, "envelope": {"max_retry_count": 3}}
    stale = call(
        gw,
        "POST",
        f"/v1/intents/{iid}/policy",
        {"envelope_patch": {"max_retry_count": 1}, "expected_policy_generation": 0},
    )
    assert stale.status == 409 and stale.body["policy_generation"] == 1
    empty = call(gw, "POST", f"/v1/intents/{iid}/policy", {})
    assert empty.status == 422 and "grants_patch" in empty.body["error"]["message"]
    assert empty.body["detail"][0]["loc"] == ["body", "grants_patch"]
    bad = call(gw, "POST", f"/v1/intents/{iid}/controls", {"controls_patch": []})
    assert bad.status == 422 and "controls_patch" in bad.body["detail"][0]["msg"]
    gw.resolve(iid, "COMPLETED")
    assert (
        call(
            gw, "POST", f"/v1/intents/{iid}/controls", {"controls_patch": {"timeout_seconds": 1}}
        ).status
        == 409
    )


def test_resume_and_resolve_check_the_generation(gw):
    iid = gw.create_intent(intent_body())["intent_id"]
    stale = call(gw, "POST", f"/v1/intents/{iid}/resume", {"expected_policy_generation": 4})
    assert stale.status == 409 and stale.body["reason"] == "stale_policy_generation"
    stale = call(
        gw,
        "POST",
        f"/v1/intents/{iid}/resolve",
        {"status": "COMPLETED", "expected_policy_generation": 2},
    )
    assert stale.status == 409
    assert (
        call(
            gw,
            "POST",
            f"/v1/intents/{iid}/resolve",
            {"status": "COMPLETED", "expected_policy_generation": 0},
        ).status
        == 200
    )
