"""Status vocabulary and the SDK 0.1 README call-style translations."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

TERMINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "CANCELED", "TIMED_OUT"})
TERMINAL_EVENT_TYPES = frozenset(
    {"intent.completed", "intent.failed", "intent.canceled", "intent.timed_out"}
)
# Status names from the 0.1 README and docs prose, mapped to the canonical ones.
STATUS_ALIASES = {"RESOLVED": "COMPLETED", "CANCELLED": "CANCELED", "EXPIRED": "TIMED_OUT"}
_EVENT_TYPE_FOR_STATUS = {
    "COMPLETED": "intent.completed",
    "FAILED": "intent.failed",
    "CANCELED": "intent.canceled",
    "TIMED_OUT": "intent.timed_out",
}


def canonical_statuses(states: Iterable[str]) -> frozenset[str]:
    """Upper-case ``states`` and map the aliases (RESOLVED, CANCELLED, EXPIRED)."""
    if isinstance(states, str):
        states = [states]
    result = set()
    for state in states:
        if not isinstance(state, str) or not state.strip():
            raise ValueError(f"terminal_states must contain status names, got {state!r}")
        upper = state.strip().upper()
        result.add(STATUS_ALIASES.get(upper, upper))
    if not result:
        raise ValueError("terminal_states must not be empty")
    return frozenset(result)


def is_terminal_event(
    event: Mapping[str, Any], extra_statuses: frozenset[str] = frozenset()
) -> bool:
    """True for an event with a terminal status or terminal event type, or a status in
    ``extra_statuses``."""
    status = event.get("status")
    if isinstance(status, str) and (status in TERMINAL_STATUSES or status in extra_statuses):
        return True
    event_type = event.get("event_type")
    if not isinstance(event_type, str):
        return False
    if event_type in TERMINAL_EVENT_TYPES:
        return True
    return any(_EVENT_TYPE_FOR_STATUS.get(s) == event_type for s in extra_statuses)


def controls_body(payload: dict[str, Any], policy_generation: int | None) -> dict[str, Any]:
    """Translate the 0.1 README form of a controls/policy update to the wire fields:
    ``controls`` -> ``controls_patch``, ``policy_generation`` -> ``expected_policy_generation``."""
    body = dict(payload)
    if "controls" in body and "controls_patch" not in body:
        body["controls_patch"] = body.pop("controls")
    if "policy_generation" in body and "expected_policy_generation" not in body:
        body["expected_policy_generation"] = body.pop("policy_generation")
    if policy_generation is not None:
        if isinstance(policy_generation, bool) or not isinstance(policy_generation, int):
            raise ValueError("policy_generation must be an integer")
        if policy_generation < 0:
            raise ValueError(f"policy_generation must be >= 0, got {policy_generation}")
        existing = body.get("expected_policy_generation")
        if existing is not None and existing != policy_generation:
            raise ValueError(
                "policy_generation does not match expected_policy_generation in the payload"
            )
        body["expected_policy_generation"] = policy_generation
    return body


def decision_body(payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """The body of an inbox approve/reject: the 0.1 README's ``note`` becomes ``comment``."""
    body = dict(payload or {})
    if "note" in body and "comment" not in body:
        body["comment"] = body.pop("note")
    return body


class InboxListing(dict[str, Any]):
    """The ``list_inbox()`` answer; ``listing["items"]`` (0.1 README) reads ``threads``."""

    def __missing__(self, key: str) -> Any:
        if key == "items" and "threads" in self:
            return self["threads"]
        raise KeyError(key)


class IntentAnswer(dict[str, Any]):
    """The ``get_intent()`` answer ``{ok, intent}``; a key missing at the top level is read from
    ``intent`` (the SDK 0.2 README reads ``get_intent(id)["payload"]``)."""

    def __missing__(self, key: str) -> Any:
        intent = self.get("intent")
        if isinstance(intent, dict) and key in intent:
            return intent[key]
        raise KeyError(key)
