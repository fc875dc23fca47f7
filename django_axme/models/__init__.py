"""The local mirror of AXME intents, their events and human approvals, the idempotency
ledger, stored sync cursors and the signal outbox (:mod:`~django_axme.models.mirror`); the
webhook audit log (:mod:`~django_axme.models.webhooks`); the agent side's listeners, jobs and
handler runs (:mod:`~django_axme.models.agent`). Every name is importable from
``django_axme.models``.

Only ``django_axme.sync`` (the one writer) writes these models; everything else reads.
"""

from __future__ import annotations

from django_axme.models.agent import (
    AgentJob,
    AgentJobState,
    AgentListener,
    HandlerRun,
)
from django_axme.models.mirror import (
    TERMINAL_STATUSES,
    Approval,
    ApprovalDecision,
    ApprovalStatus,
    DecisionChoice,
    DecisionState,
    IdempotencyRecord,
    Intent,
    IntentEvent,
    IntentStatus,
    PendingSignal,
    SendState,
    SyncCursor,
    WaitingReason,
)
from django_axme.models.webhooks import (
    WebhookDelivery,
    WebhookOutcome,
)

__all__ = [
    "TERMINAL_STATUSES",
    "AgentJob",
    "AgentJobState",
    "AgentListener",
    "Approval",
    "ApprovalDecision",
    "ApprovalStatus",
    "DecisionChoice",
    "DecisionState",
    "HandlerRun",
    "IdempotencyRecord",
    "Intent",
    "IntentEvent",
    "IntentStatus",
    "PendingSignal",
    "SendState",
    "SyncCursor",
    "WaitingReason",
    "WebhookDelivery",
    "WebhookOutcome",
]
