"""Approval decisions: record first, then send, then record the answer.

Used by the admin (``django_axme.admin.decisions`` and ``django_axme.decisions`` re-export
this module), by any view of a project (DRF, Slack, a plain Django view: check the same
permissions the admin does, ``django_axme.decide_approval``, then call :func:`decide`) and by
the reconcile sweep, which resends decisions a crash left recorded; it does not need
``django.contrib.admin``.

The sequence is always the same, for a single decision and for every row of a bulk action:

1. ``sync.record_decision`` writes the live decision row (committed before anything is sent).
   The database allows one live decision per approval, so a double submit or a second admin
   racing the first gets :class:`~django_axme.exceptions.DecisionConflict` here and nothing is
   sent twice.
2. The client approves or rejects the inbox thread with ``idempotency_key`` taken from that
   row, so a retry of the same row can never decide twice on the gateway either.
3. ``sync.decision_sent`` / ``decision_superseded`` (HTTP 409: decided elsewhere) /
   ``decision_failed`` (anything else, an unexpected non-``AxmeError`` included) records the
   answer. A failed decision is not live, so a new one can be recorded: that is how "retry"
   works. A decision left ``recorded`` (the process died between steps 1 and 3) is resent
   with the same key by the reconcile sweep (``tasks.reconcile_open_intents``), which
   records the answer the same way.

Nothing here writes a model directly: the one writer (``django_axme.sync``) does.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _

from django_axme.models import Approval, ApprovalDecision, ApprovalStatus, DecisionChoice

if TYPE_CHECKING:  # pragma: no cover
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

logger = logging.getLogger("django_axme.admin")


class Outcome(enum.Enum):
    """How one decision attempt ended, from the admin user's point of view."""

    SENT = "sent"  # recorded and accepted by the gateway; waiting for its confirming event
    ALREADY_DECIDED = "already_decided"  # another live decision exists (double submit, race)
    NOT_PENDING = "not_pending"  # the approval is no longer waiting for a decision
    SUPERSEDED = "superseded"  # the gateway answered 409: decided elsewhere first
    FAILED = "failed"  # the gateway could not be reached or refused; can be retried
    INVALID = "invalid"  # the decision does not fit the task (outcome, required note)


@dataclass(frozen=True)
class DecisionResult:
    """The outcome of :func:`decide` and the sentence to show the user."""

    outcome: Outcome
    message: str
    decision: ApprovalDecision | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SENT


def decision_payload(note: str, outcome: str) -> dict[str, Any]:
    """The JSON body of the inbox approve/reject call for a note and an optional outcome."""
    payload: dict[str, Any] = {}
    if note:
        payload["comment"] = note
    if outcome:
        payload["outcome"] = outcome
    return payload


#: Outcomes that count as a rejection when a task's result is sent (the decision's label).
REJECTING_OUTCOMES = frozenset({"reject", "rejected", "deny", "denied", "decline", "declined"})


def task_result_payload(outcome: str, comment: str, data: dict[str, Any]) -> dict[str, Any]:
    """The ``task_result`` object of a human task's resume: only the parts that are set."""
    result: dict[str, Any] = {}
    if outcome:
        result["outcome"] = outcome
    if comment:
        result["comment"] = comment
    if data:
        result["data"] = data
    return result


def decision_for_outcome(outcome: str) -> str:
    """``"reject"`` for a rejecting outcome (:data:`REJECTING_OUTCOMES`), else ``"approve"``."""
    return (
        DecisionChoice.REJECT
        if outcome.strip().lower() in REJECTING_OUTCOMES
        else DecisionChoice.APPROVE
    )


def decide(
    approval: Approval,
    *,
    user: AbstractBaseUser | AnonymousUser,
    decision: str,
    note: str = "",
    outcome: str = "",
    task_result: dict[str, Any] | None = None,
    client: Any | None = None,
) -> DecisionResult:
    """Record and send one decision on ``approval``; never raises for expected failures.

    Guarantees: at most one live decision per approval (database constraint, checked by the
    one writer); the remote call is made only after the decision row is committed, outside any
    transaction, with the row's idempotency key; every outcome is recorded on the row
    (:func:`send_decision`), so no error leaves a decision ``recorded`` and the approval
    blocked; a decision a crash left ``recorded`` is resent by the reconcile sweep.
    With ``task_result`` (``{"outcome", "comment", "data"}``: a human task with a form, see
    :func:`task_result_payload`) the decision is sent as the task's result through the
    intent's resume call instead of the inbox approve/reject call; it is stored on the
    decision row, so a resend by the reconcile sweep sends the same result.
    ``client`` defaults to ``django_axme.get_client()``. Permission checks are the caller's:
    the admin requires ``django_axme.decide_approval`` (see ``docs/admin.rst``).
    """
    from django_axme import sync
    from django_axme.exceptions import DecisionConflict, InvalidDecision

    if decision not in DecisionChoice.values:
        raise ValueError(f"decision must be one of {DecisionChoice.values}, not {decision!r}")
    if approval.status != ApprovalStatus.PENDING:
        return DecisionResult(
            Outcome.NOT_PENDING,
            _("“%(approval)s” is no longer pending (%(status)s); nothing was sent.")
            % {"approval": approval, "status": approval.get_status_display()},
        )
    try:
        record = sync.record_decision(
            approval,
            user=user,
            decision=decision,
            note=note,
            outcome=outcome,
            task_result=task_result,
        )
    except DecisionConflict as exc:
        return DecisionResult(
            Outcome.ALREADY_DECIDED, _already_decided_message(approval, exc.existing)
        )
    except InvalidDecision as exc:
        return DecisionResult(Outcome.INVALID, str(exc))

    return send_decision(record, client=client)


def send_decision(
    record: ApprovalDecision, *, keep_on_transient: bool = False, client: Any | None = None
) -> DecisionResult:
    """Send a recorded decision with its own idempotency key and record the gateway's answer.

    Steps 2 and 3 of the module docstring, shared by :func:`decide` and the reconcile sweep
    (which resends decisions left ``recorded`` by a crash or an unexpected error; the same key
    makes a resend of a decision the gateway already took a harmless repeat). Never raises for
    a failure of the send: HTTP 409 supersedes the decision; any other error, including one
    that is not an ``AxmeError`` (a broken configuration, a bug), marks it ``failed`` (logged,
    a new decision may be recorded), except that with ``keep_on_transient`` an error the
    client calls retryable (``AxmeError.retryable``: transport, 408, 429, 5xx other than
    501/505) leaves it ``recorded`` for the next sweep. If recording a successful answer
    fails, the decision stays ``recorded`` (logged) and the next sweep records it. The
    result carries the decision as it was saved.
    """
    from django_axme import get_client, sync
    from django_axme.adapter import get_adapter
    from django_axme.exceptions import AxmeConflictError, AxmeError

    approval = record.approval
    try:
        if client is None:
            client = get_client()
        adapter = get_adapter()
        owner_agent = adapter.owner_agent_for(record.user, approval)
        if record.task_result is not None:
            response = client.resume_intent(
                approval.remote_intent_id or approval.thread_id,
                {
                    "approve_current_step": True,
                    "actor": adapter.actor_for(record.user)[:255],
                    "task_result": record.task_result,
                },
                owner_agent=owner_agent,
                idempotency_key=record.idempotency_key,
            )
            if isinstance(response, dict) and response.get("applied") is False:
                raise AxmeConflictError(
                    409, f"the task was not resumed ({response.get('reason') or 'not applied'})"
                )
        else:
            send = (
                client.approve_inbox_thread
                if record.decision == DecisionChoice.APPROVE
                else client.reject_inbox_thread
            )
            response = send(
                approval.thread_id,
                decision_payload(record.note, record.outcome),
                owner_agent=owner_agent,
                idempotency_key=record.idempotency_key,
            )
    except AxmeConflictError as exc:
        record = sync.decision_superseded(record, str(exc))
        return DecisionResult(
            Outcome.SUPERSEDED,
            _(
                "“%(approval)s” was already decided elsewhere (the gateway answered: %(error)s). "
                "Your decision was not applied."
            )
            % {"approval": approval, "error": exc},
            record,
        )
    except AxmeError as exc:
        if not (keep_on_transient and exc.retryable):
            return _failed(record, approval, exc)
        logger.info("decision on thread %s not sent yet: %s", approval.thread_id, exc)
        return DecisionResult(
            Outcome.FAILED,
            _("Could not send the decision on “%(approval)s” yet: %(error)s.")
            % {"approval": approval, "error": exc},
            record,
        )
    except Exception as exc:
        logger.exception(
            "decision on thread %r: unexpected error while sending", approval.thread_id
        )
        return _failed(record, approval, exc)
    try:
        record = sync.decision_sent(record, response if isinstance(response, dict) else {})
    except Exception:
        logger.exception(
            "decision on thread %s was accepted but not recorded as sent; the reconcile sweep "
            "resends it with the same key and records it",
            approval.thread_id,
        )
    return DecisionResult(Outcome.SENT, _sent_message(record, approval), record)


def _sent_message(record: ApprovalDecision, approval: Approval) -> str:
    """What to tell the person who decided; true whatever the page shows next (the gateway's
    confirmation may arrive before the page is drawn)."""
    from django_axme.models import DecisionState

    approve = record.decision == DecisionChoice.APPROVE
    if record.state == DecisionState.CONFIRMED:
        message = (
            _("Approved “%(approval)s”; AXME confirmed it.")
            if approve
            else _("Rejected “%(approval)s”; AXME confirmed it.")
        )
    else:
        message = (
            _("Approved “%(approval)s” and sent it to AXME.")
            if approve
            else _("Rejected “%(approval)s” and sent it to AXME.")
        )
    return message % {"approval": approval}


def _failed(record: ApprovalDecision, approval: Approval, exc: Exception) -> DecisionResult:
    """Mark ``record`` failed (a new decision may follow) and say so."""
    from django_axme import sync

    logger.warning("decision on thread %r failed: %s", approval.thread_id, exc)
    detail = str(exc) or type(exc).__name__
    record = sync.decision_failed(record, detail)
    return DecisionResult(
        Outcome.FAILED,
        _(
            "Could not send the decision on “%(approval)s” to AXME: %(error)s. "
            "Nothing was decided; you can try again."
        )
        % {"approval": approval, "error": detail},
        record,
    )


def _already_decided_message(approval: Approval, live: ApprovalDecision | None) -> str:
    if live is None:
        return _("“%(approval)s” is no longer open (%(status)s); nothing was sent.") % {
            "approval": approval,
            "status": approval.get_status_display(),
        }
    message = (
        _(
            "“%(approval)s” was already approved by %(user)s (%(state)s); "
            "your decision was not sent."
        )
        if live.decision == DecisionChoice.APPROVE
        else _(
            "“%(approval)s” was already rejected by %(user)s (%(state)s); "
            "your decision was not sent."
        )
    )
    return message % {
        "approval": approval,
        "user": live.user or _("unknown user"),
        "state": live.get_state_display(),
    }
