"""Approvals (inbox threads waiting for a human) and the decisions taken on them.

When is a thread an approval?
    A thread becomes (or refreshes) an :class:`~django_axme.models.Approval` while its intent
    waits for a human. If the intent is mirrored, the mirror decides (``status`` ``WAITING`` with
    ``waiting_reason`` ``WAITING_FOR_HUMAN``), so refresh the intent before its thread. If it is
    not mirrored (an intent sent to us by someone else), the thread itself must say so
    (:func:`thread_asks_for_human`). The inbox can be newer than the mirror;
    :func:`django_axme.refresh.ingest_inbox_thread` reads the intent first when the two
    disagree, and every path that reads the inbox goes through it.
    ``approval_requested`` is sent once per approval, when its row is created.

Life of a decision (one live decision per approval, enforced by the database):
    ``record_decision`` -> ``recorded``; ``decision_sent`` (the gateway accepted it) -> ``sent``
    and the approval ``sent``; ``decision_failed`` -> ``failed`` (a new decision may be
    recorded); ``decision_superseded`` (someone decided first, e.g. a 409) -> ``superseded`` and
    the approval ``closed``. A decision left ``recorded`` (a crash between recording and
    sending) is found by :func:`django_axme.querysets.unsent_decisions` and resent by the
    reconcile sweep with its own idempotency key; the answer moves it on as above (a gateway
    that already took it answers the repeat as the first time; one whose thread has moved on
    answers 409).

When is a decision confirmed?
    A ``sent`` decision is confirmed (decision ``confirmed``; approval ``approved`` or
    ``rejected``; ``approval_decided`` sent once, after commit) as soon as the gateway shows
    that the human step is over:

    - the intent's events move it out of ``WAITING_FOR_HUMAN`` (any transition to another
      status or waiting reason), whether that news arrives before or after ``decision_sent``;
    - or the thread, refreshed with :func:`ingest_thread`, no longer waits for a human, is
      ``done``, or shows the same decision in its timeline.

    If the thread's timeline shows the opposite decision, the local one is superseded. An open
    approval without a live decision whose human step ends is ``closed`` (decided elsewhere,
    canceled or timed out) without ``approval_decided``; the intent signals tell what happened.
    An approval that was decided or closed is not reopened if the same thread later waits for a
    human again (a known limitation: one approval per thread).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from django_axme import signals
from django_axme.exceptions import DecisionConflict, InvalidDecision
from django_axme.models import (
    Approval,
    ApprovalDecision,
    ApprovalStatus,
    DecisionChoice,
    DecisionState,
    Intent,
)
from django_axme.sync.dispatch import Outgoing, queue_signals
from django_axme.sync.remote import clean_json, clip, parse_timestamp, storable_id

logger = logging.getLogger("django_axme.sync")

__all__ = [
    "decision_failed",
    "decision_sent",
    "decision_superseded",
    "ingest_thread",
    "intent_waits_for_human",
    "live_decision",
    "record_decision",
    "settle_after_intents_moved",
    "thread_asks_for_human",
]

_OPEN = (ApprovalStatus.PENDING, ApprovalStatus.SENT)
_DEAD_STATES = (DecisionState.FAILED, DecisionState.SUPERSEDED)
_WORD = re.compile(r"[a-z]+")


def intent_waits_for_human(intent: Intent) -> bool:
    """What the mirror says: the intent is ``WAITING`` with ``WAITING_FOR_HUMAN``."""
    return intent.status == "WAITING" and intent.waiting_reason == "WAITING_FOR_HUMAN"


def thread_asks_for_human(thread: Mapping[str, Any]) -> bool:
    """What the thread alone says: it is not ``done``, asks for a human (a ``waiting_reason``
    of ``WAITING_FOR_HUMAN``, a ``human_task`` object or ``pending_with.type == "human"``) and
    its timeline shows no approve/reject decision yet."""
    if not isinstance(thread, Mapping) or thread.get("status") == "done":
        return False
    pending_with = thread.get("pending_with")
    asks = (
        thread.get("waiting_reason") == "WAITING_FOR_HUMAN"
        or isinstance(thread.get("human_task"), Mapping)
        or (isinstance(pending_with, Mapping) and pending_with.get("type") == "human")
    )
    return asks and _timeline_decision(thread.get("timeline")) is None


def _waits_for_human(intent: Intent | None, thread: Mapping[str, Any]) -> bool:
    if thread.get("status") == "done":
        return False
    if intent is not None:
        return intent_waits_for_human(intent)
    return thread_asks_for_human(thread)


def live_decision(approval: Approval) -> ApprovalDecision | None:
    """The approval's live decision (not failed, not superseded), if any."""
    return (
        ApprovalDecision.objects.filter(approval=approval)
        .exclude(state__in=_DEAD_STATES)
        .select_related("user")
        .first()
    )


def _timeline_decision(timeline: Any) -> str | None:
    """The last approve/reject decision visible in a thread timeline, if any."""
    found: str | None = None
    if not isinstance(timeline, list):
        return None
    for item in timeline:
        if not isinstance(item, Mapping):
            continue
        details = item.get("details") if isinstance(item.get("details"), Mapping) else {}
        decision = details.get("decision") if isinstance(details, Mapping) else None
        if decision in ("approve", "approved"):
            found = DecisionChoice.APPROVE
            continue
        if decision in ("reject", "rejected"):
            found = DecisionChoice.REJECT
            continue
        words = set(_WORD.findall(str(item.get("event_type", "")).lower()))
        if words & {"approve", "approved"}:
            found = DecisionChoice.APPROVE
        elif words & {"reject", "rejected"}:
            found = DecisionChoice.REJECT
    return found


def _thread_fields(
    thread: Mapping[str, Any], human_task: Mapping[str, Any] | None, intent_id: str
) -> dict[str, Any]:
    """Model field values of a thread, made storable at the parsing edge (text and JSON
    cleaned, unusable timestamps dropped; see :mod:`django_axme.sync.remote`)."""
    raw = clean_json(dict(thread), field=f"thread {thread['thread_id']}", intent_id=intent_id)
    fields: dict[str, Any] = {
        "owner_agent": clip(thread.get("owner_agent"), 383),
        "from_agent": clip(thread.get("from_agent"), 383),
        "to_agent": clip(thread.get("to_agent"), 383),
        "thread_status": clip(thread.get("status"), 32),
        "raw": raw if isinstance(raw, dict) else {},
    }
    if isinstance(fields["raw"].get("timeline"), list):
        fields["timeline"] = list(fields["raw"]["timeline"])
    for key, field in (("created_at", "remote_created_at"), ("updated_at", "remote_updated_at")):
        parsed = parse_timestamp(thread.get(key), field=f"thread {key}", intent_id=intent_id)
        if parsed is not None:
            fields[field] = parsed
    if human_task:
        fields["title"] = clip(human_task.get("title"), 255)
        fields["description"] = clip(human_task.get("description"), 100_000)
        fields["task_type"] = clip(human_task.get("task_type"), 64)
        outcomes = human_task.get("allowed_outcomes")
        fields["allowed_outcomes"] = (
            [clip(o, 1000) for o in outcomes[:1000]] if isinstance(outcomes, list) else []
        )
        fields["comment_required"] = bool(human_task.get("required_comment", False))
    return fields


def ingest_thread(thread: Mapping[str, Any]) -> Approval | None:
    """Mirror an inbox thread as an approval while it waits for a human (see module doc).

    Returns the approval (created, refreshed or settled), or ``None`` for a thread that does
    not wait for a human and has no approval, and for a malformed thread (logged). One
    transaction; idempotent; ``approval_requested`` is sent once per approval.

    Malformed means: not an object, or a ``thread_id`` that cannot be used as it came (not a
    string, blank or whitespace, longer than 64 characters, a NUL or a surrogate): the
    decisions taken on the approval are sent to that id. An ``intent_id`` that cannot be
    stored is ignored (logged; the thread is judged on its own). Other values are made
    storable (see :mod:`django_axme.sync.remote`). Never raises for bad thread data: should
    the database still refuse the row, the thread is skipped (logged as an ERROR).
    """
    if not isinstance(thread, Mapping) or storable_id(thread.get("thread_id")) is None:
        logger.warning("skipped a malformed inbox thread: %.200r", thread)
        return None
    try:
        return _ingest_thread(thread)
    except DataError as exc:
        logger.error(
            "inbox thread %s: skipped, the database refused it (%s)", thread["thread_id"], exc
        )
        return None


def _ingest_thread(thread: Mapping[str, Any]) -> Approval | None:
    thread_id: str = thread["thread_id"]
    raw_intent_id = thread.get("intent_id")
    remote_intent_id = storable_id(raw_intent_id) or ""
    if raw_intent_id not in (None, "") and not remote_intent_id:
        logger.warning(
            "inbox thread %s: unusable intent_id %.80r ignored", thread_id, clip(raw_intent_id, 80)
        )
    with transaction.atomic():
        # Locked like the event writer does, so the intent's state cannot change between
        # this read and the approval's creation (it would leave the approval open).
        intent = (
            Intent.objects.select_for_update().filter(intent_id=remote_intent_id).first()
            if remote_intent_id
            else None
        )
        waiting = _waits_for_human(intent, thread)
        human_task = None
        if intent is not None and isinstance(intent.human_task, Mapping):
            human_task = intent.human_task
        elif isinstance(thread.get("human_task"), Mapping):
            human_task = thread["human_task"]
        fields = _thread_fields(thread, human_task, remote_intent_id)
        if waiting:
            found, created = Approval.objects.get_or_create(
                thread_id=thread_id,
                defaults={**fields, "intent": intent, "remote_intent_id": remote_intent_id[:64]},
            )
        else:
            created = False
            existing = Approval.objects.filter(thread_id=thread_id).first()
            if existing is None:
                return None
            found = existing
        approval = Approval.objects.select_for_update().get(pk=found.pk)
        if not created:
            for name, value in fields.items():
                setattr(approval, name, value)
            if approval.intent_id is None and intent is not None:
                approval.intent = intent
            approval.save()
        if created:
            queue_signals(
                [
                    Outgoing(
                        signals.approval_requested,
                        approval=approval,
                        remote_intent_id=remote_intent_id[:64],
                    )
                ]
            )
        elif approval.status in _OPEN:
            _settle_from_thread(approval, waiting, _timeline_decision(approval.timeline))
    return approval


def _settle_from_thread(approval: Approval, waiting: bool, shown: str | None) -> None:
    live = live_decision(approval)
    if live is not None and live.state == DecisionState.SENT:
        if shown is not None and shown != live.decision:
            _supersede(live, approval, "the thread shows the opposite decision")
        elif shown is not None or not waiting:
            _confirm(approval, live)
    elif not waiting and live is None:
        _close(approval)


def settle_after_intents_moved(intents: Sequence[Intent]) -> None:
    """Settle the open approvals of intents that just moved (called by the event writer).

    Runs in the caller's transaction; one query finds the open approvals of all ``intents``.
    Skips the intents that wait for a human.
    """
    moved = [i.pk for i in intents if not intent_waits_for_human(i)]
    if not moved:
        return
    for approval in Approval.objects.select_for_update().filter(intent__in=moved, status__in=_OPEN):
        live = live_decision(approval)
        if live is None:
            _close(approval)
        elif live.state == DecisionState.SENT:
            _confirm(approval, live)
        # a decision still being sent (``recorded``) is confirmed by decision_sent()


def _close(approval: Approval) -> None:
    approval.status = ApprovalStatus.CLOSED
    approval.decided_at = approval.decided_at or timezone.now()
    approval.save(update_fields=["status", "decided_at", "updated_at"])


def _confirm(approval: Approval, decision: ApprovalDecision) -> None:
    """sent -> confirmed; approval approved/rejected; ``approval_decided`` once (after commit)."""
    now = timezone.now()
    decision.state = DecisionState.CONFIRMED
    decision.confirmed_at = now
    decision.save(update_fields=["state", "confirmed_at"])
    approval.status = (
        ApprovalStatus.APPROVED
        if decision.decision == DecisionChoice.APPROVE
        else ApprovalStatus.REJECTED
    )
    approval.decided_at = now
    approval.save(update_fields=["status", "decided_at", "updated_at"])
    queue_signals(
        [
            Outgoing(
                signals.approval_decided,
                approval=approval,
                decision=decision,
                remote_intent_id=approval.remote_intent_id,
            )
        ]
    )


def _supersede(decision: ApprovalDecision, approval: Approval, detail: str) -> None:
    decision.state = DecisionState.SUPERSEDED
    decision.error = detail
    decision.save(update_fields=["state", "error"])
    _close(approval)


def record_decision(
    approval: Approval, *, user: Any, decision: str, note: str = "", outcome: str = "", **more: Any
) -> ApprovalDecision:
    """Create the approval's live decision (state ``recorded``) with a fresh idempotency key;
    ``task_result=`` (a JSON object) is stored on it, to be sent as the task's result.

    Raises :class:`~django_axme.exceptions.InvalidDecision` for a decision other than
    ``approve``/``reject``, an outcome not in ``allowed_outcomes``, or a missing required note;
    :class:`~django_axme.exceptions.DecisionConflict` when the approval already has a live
    decision (the database's one-live-decision constraint decides between racing callers) or
    is no longer open. Also :class:`~django_axme.exceptions.InvalidDecision` for an approval
    whose thread id could never be sent (blank, whitespace, over-long: a row written before
    :func:`ingest_thread` refused such ids), so no decision is recorded that cannot be sent.
    Sends no signal (``approval_decided`` waits for confirmation).
    """
    if set(more) - {"task_result"}:
        raise TypeError(f"record_decision() got unexpected arguments {sorted(more)}")
    if decision not in DecisionChoice.values:
        raise InvalidDecision(
            f"decision must be one of {', '.join(DecisionChoice.values)}, got {decision!r}"
        )
    if outcome and approval.allowed_outcomes and outcome not in approval.allowed_outcomes:
        raise InvalidDecision(
            f"outcome {outcome!r} is not one of the allowed outcomes "
            f"{', '.join(map(str, approval.allowed_outcomes))}"
        )
    if approval.comment_required and not note.strip():
        raise InvalidDecision("this approval requires a note")
    if storable_id(approval.thread_id) is None:
        raise InvalidDecision(
            f"this approval's inbox thread id {approval.thread_id!r} cannot be sent to AXME"
        )
    with transaction.atomic():
        locked = Approval.objects.select_for_update().get(pk=approval.pk)
        if locked.status not in _OPEN:
            raise DecisionConflict(locked, live_decision(locked))
        try:
            with transaction.atomic():
                row = ApprovalDecision.objects.create(
                    approval=locked,
                    user=user if getattr(user, "pk", None) else None,
                    decision=decision,
                    outcome=outcome[:64],
                    note=note,
                    task_result=more.get("task_result"),
                    idempotency_key=f"django-axme-decision-{uuid.uuid4().hex}",
                )
        except IntegrityError:
            existing = live_decision(locked)
            if existing is None:  # pragma: no cover - not the live-decision constraint
                raise
            raise DecisionConflict(locked, existing) from None
    return row


def _lock_decision(decision: ApprovalDecision) -> tuple[ApprovalDecision, Approval]:
    """Lock the decision's intent, decision and approval rows, in that order.

    The event writer locks the intent first too (then the approvals), so a decision update
    and an event batch of the same intent run one after the other and never deadlock; this is
    what lets a confirmation that races with the send's answer be seen by exactly one of them.
    """
    intent_pk = (
        ApprovalDecision.objects.filter(pk=decision.pk)
        .values_list("approval__intent_id", flat=True)
        .first()
    )
    if intent_pk is not None:
        list(Intent.objects.select_for_update().filter(pk=intent_pk).values_list("pk"))
    # ``of=("self",)``: the joined user/intent are nullable, and PostgreSQL cannot lock the
    # nullable side of an outer join; only the decision and approval rows need the lock.
    row = (
        ApprovalDecision.objects.select_for_update(of=("self",))
        .select_related("user")
        .get(pk=decision.pk)
    )
    approval = (
        Approval.objects.select_for_update(of=("self",))
        .select_related("intent")
        .get(pk=row.approval_id)
    )
    return row, approval


def _human_step_over(approval: Approval) -> bool:
    intent = approval.intent
    if intent is None:
        return False
    return not intent_waits_for_human(intent)


def decision_sent(decision: ApprovalDecision, response: Mapping[str, Any]) -> ApprovalDecision:
    """The gateway accepted the decision: ``recorded``/``failed`` -> ``sent``.

    Stores the answer; the approval becomes ``sent``. If the mirror already shows the human
    step over, the decision is confirmed at once (``approval_decided`` after commit).
    Idempotent: a decision already sent or confirmed is left as it is, and so is a failed
    one whose approval has a newer live decision (there is one live decision per approval).
    """
    with transaction.atomic():
        row, approval = _lock_decision(decision)
        if row.state not in (DecisionState.RECORDED, DecisionState.FAILED):
            return row
        if row.state == DecisionState.FAILED:
            live = live_decision(approval)
            if live is not None and live.pk != row.pk:
                logger.warning(
                    "decision #%s on thread %s was accepted after it failed, but decision #%s "
                    "was recorded since; left failed",
                    row.pk,
                    approval.thread_id,
                    live.pk,
                )
                return row
        row.state = DecisionState.SENT
        row.sent_at = timezone.now()
        row.remote_response = dict(response)
        row.error = ""
        row.save(update_fields=["state", "sent_at", "remote_response", "error"])
        if approval.status in _OPEN:
            approval.status = ApprovalStatus.SENT
            approval.save(update_fields=["status", "updated_at"])
            if _human_step_over(approval):
                _confirm(approval, row)
    return row


def decision_failed(decision: ApprovalDecision, error: str) -> ApprovalDecision:
    """Sending failed for good: ``recorded``/``sent`` -> ``failed`` (a new decision may follow).

    The approval is pending again, or ``closed`` if its human step is already over.
    A confirmed or superseded decision is left as it is.
    """
    with transaction.atomic():
        row, approval = _lock_decision(decision)
        if row.state not in (DecisionState.RECORDED, DecisionState.SENT):
            return row
        row.state = DecisionState.FAILED
        row.error = str(error)
        row.save(update_fields=["state", "error"])
        if approval.status in _OPEN:
            if _human_step_over(approval):
                _close(approval)
            else:
                approval.status = ApprovalStatus.PENDING
                approval.save(update_fields=["status", "updated_at"])
    return row


def decision_superseded(decision: ApprovalDecision, detail: str) -> ApprovalDecision:
    """Someone decided first (e.g. the gateway answered 409): -> ``superseded``; the approval
    is ``closed``. A confirmed decision is left as it is."""
    with transaction.atomic():
        row, approval = _lock_decision(decision)
        if row.state in (DecisionState.CONFIRMED, DecisionState.SUPERSEDED):
            return row
        if approval.status in _OPEN:
            _supersede(row, approval, str(detail))
        else:
            row.state = DecisionState.SUPERSEDED
            row.error = str(detail)
            row.save(update_fields=["state", "error"])
    return row
