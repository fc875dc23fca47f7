"""Intent lifecycle rules of the AXME protocol (reference section 2) as data.

The emulator allows exactly the moves of :data:`TRANSITIONS`, plus two documented exceptions:
``resolve`` may end any non-terminal intent (the conformance suite resolves a fresh SUBMITTED
intent), and a deadline (TIMED_OUT) may end any non-terminal intent. WAITING may move to WAITING
with a different waiting reason (for example an approval that starts waiting for time).
Terminal states are final.
"""

from __future__ import annotations

__all__ = [
    "EVENT_TYPE_FOR_STATUS",
    "LEGACY_STATUS",
    "RESOLVE_STATUSES",
    "STATUSES",
    "TERMINAL_STATUSES",
    "TRANSITIONS",
    "WAITING_REASONS",
    "check_transition",
]

STATUSES = (
    "CREATED",
    "SUBMITTED",
    "DELIVERED",
    "ACKNOWLEDGED",
    "IN_PROGRESS",
    "WAITING",
    "COMPLETED",
    "FAILED",
    "CANCELED",
    "TIMED_OUT",
)
TERMINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "CANCELED", "TIMED_OUT"})
RESOLVE_STATUSES = ("COMPLETED", "FAILED", "CANCELED")
WAITING_REASONS = (
    "WAITING_FOR_HUMAN",
    "WAITING_FOR_TOOL",
    "WAITING_FOR_AGENT",
    "WAITING_FOR_TIME",
)

TRANSITIONS: dict[str, frozenset[str]] = {
    "CREATED": frozenset({"SUBMITTED"}),
    "SUBMITTED": frozenset({"DELIVERED", "IN_PROGRESS", "WAITING", "FAILED", "CANCELED"}),
    "DELIVERED": frozenset({"ACKNOWLEDGED", "IN_PROGRESS", "WAITING", "FAILED", "CANCELED"}),
    "ACKNOWLEDGED": frozenset({"IN_PROGRESS", "WAITING", "FAILED", "CANCELED"}),
    "IN_PROGRESS": frozenset({"WAITING", "COMPLETED", "FAILED", "CANCELED"}),
    "WAITING": frozenset({"WAITING", "IN_PROGRESS", "FAILED", "CANCELED"}),
}

EVENT_TYPE_FOR_STATUS = {
    "CREATED": "intent.created",
    "SUBMITTED": "intent.submitted",
    "DELIVERED": "intent.delivered",
    "ACKNOWLEDGED": "intent.acknowledged",
    "IN_PROGRESS": "intent.in_progress",
    "WAITING": "intent.waiting",
    "COMPLETED": "intent.completed",
    "FAILED": "intent.failed",
    "CANCELED": "intent.canceled",
    "TIMED_OUT": "intent.timed_out",
}

#: Deprecated ``legacy_status`` projection (reference 2.4, inferred mapping).
LEGACY_STATUS = {
    "CREATED": "accepted",
    "SUBMITTED": "accepted",
    "DELIVERED": "accepted",
    "ACKNOWLEDGED": "accepted",
    "IN_PROGRESS": "running",
    "WAITING": "blocked",
    "COMPLETED": "done",
    "FAILED": "failed",
    "CANCELED": "done",
    "TIMED_OUT": "failed",
}


def check_transition(current: str, new: str, *, resolving: bool = False) -> str | None:
    """Return ``None`` when ``current -> new`` is allowed, else a reason for the refusal.

    ``resolving`` allows any non-terminal status to end in COMPLETED/FAILED/CANCELED.
    """
    if current in TERMINAL_STATUSES:
        return f"intent already in terminal state {current}"
    if new == "TIMED_OUT":
        return None
    if resolving and new in RESOLVE_STATUSES:
        return None
    if new not in TRANSITIONS.get(current, frozenset()):
        return f"transition {current} -> {new} is not allowed"
    return None
