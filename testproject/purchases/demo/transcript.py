"""The demo's transcript (what AXME reported, what the app's receivers saw) and its verdict."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from django_axme.models import AgentJob, ApprovalDecision, DecisionState, Intent, IntentEvent
from purchases.models import PurchaseEvent, PurchaseOrder, PurchaseRequest, PurchaseStatus


def _intents_of(purchase: PurchaseRequest) -> list[tuple[str, Intent]]:
    """The request's intents: the first one (the approval, or the fulfilment itself) and the
    fulfilment intent sent after an approval."""
    found: list[tuple[str, Intent]] = []
    if purchase.intent is not None:
        same = purchase.intent_id == purchase.fulfilment_intent_id
        found.append(("fulfilment" if same else "approval", purchase.intent))
    fulfilment = purchase.fulfilment_intent
    if fulfilment is not None and purchase.fulfilment_intent_id != purchase.intent_id:
        found.append(("fulfilment", fulfilment))
    return found


def render_transcript(pks: Iterable[int]) -> str:
    """A readable transcript of the given purchase requests, oldest first."""
    lines = ["Transcript (AXME events mirrored by django-axme; signals received by purchases)"]
    purchases = PurchaseRequest.objects.filter(pk__in=list(pks)).select_related(
        "intent", "fulfilment_intent"
    )
    for purchase in purchases.order_by("pk"):
        intent = purchase.intent
        lines.append("")
        lines.append(
            f"#{purchase.pk} {purchase.item} ({purchase.amount} EUR): {purchase.status}"
            + (f"   intent {intent.intent_id} {intent.status}" if intent else "   (no intent)")
        )
        for label, row in _intents_of(purchase):
            events = IntentEvent.objects.filter(intent=row).order_by("seq")
            lines.append(
                f"  AXME events ({label} {(row.intent_id or '')[:8]}, {row.direction}): "
                + (
                    ", ".join(
                        f"{e.seq} {e.status}" + (f"/{e.waiting_reason}" if e.waiting_reason else "")
                        for e in events
                    )
                    or "(none)"
                )
            )
        order = PurchaseOrder.objects.filter(purchase=purchase).first()
        if order is not None:
            lines.append(f"  order {order.reference} placed by this project as {order.placed_by}")
        for event in PurchaseEvent.objects.filter(purchase=purchase).order_by("created_at", "id"):
            move = (
                f"{event.from_status} -> {event.to_status}"
                if event.changed_status
                else f"({event.to_status})"
            )
            lines.append(
                f"  {event.created_at:%H:%M:%S.%f}"[:-3]
                + f"  {event.signal:<22} {move:<32} {event.message}"
            )
    return "\n".join(lines)


def check_outcome(
    expected: Mapping[int, str], decided: Mapping[int, str], *, username: str
) -> list[str]:
    """Problems with the run, as sentences (an empty list means everything happened).

    ``expected`` maps each purchase pk to its expected final status; ``decided`` maps the pks
    decided in the admin to ``"approve"``/``"reject"``.
    """
    problems: list[str] = []
    purchases = {
        p.pk: p
        for p in PurchaseRequest.objects.filter(pk__in=list(expected)).select_related(
            "intent", "fulfilment_intent"
        )
    }
    for pk, want in expected.items():
        purchase = purchases.get(pk)
        if purchase is None:
            problems.append(f"purchase #{pk} is missing")
            continue
        label = f"#{pk} {purchase.item}"
        intent = purchase.intent
        if intent is None or not intent.intent_id:
            problems.append(f"{label}: its intent was never sent to AXME")
            continue
        intents = [row for _role, row in _intents_of(purchase)]
        for row in intents:
            if not row.is_terminal:
                problems.append(f"{label}: intent {row.intent_id} is still {row.status}")
        if purchase.status != want:
            problems.append(f"{label}: status is {purchase.status}, expected {want}")
        events = list(PurchaseEvent.objects.filter(purchase=purchase))
        if not events:
            problems.append(f"{label}: the purchases receivers never ran")
            continue
        signals = Counter(e.signal for e in events)
        transitions = Counter(e.message for e in events if e.signal == "intent_status_changed")
        repeated = [t for t, n in transitions.items() if n > 1]
        if repeated:
            problems.append(f"{label}: transitions signalled more than once: {repeated}")
        for name in ("approval_requested", "approval_decided", "intent_received"):
            if signals[name] > 1:
                problems.append(f"{label}: {name} received {signals[name]} times")
        if signals["intent_created"] != len(intents):
            problems.append(
                f"{label}: intent_created received {signals['intent_created']} times, "
                f"expected {len(intents)}"
            )
        terminal = sum(
            signals[n]
            for n in ("intent_completed", "intent_failed", "intent_canceled", "intent_timed_out")
        )
        if terminal != len(intents):
            problems.append(
                f"{label}: {terminal} terminal signals received, expected {len(intents)}"
            )
        if want == PurchaseStatus.FULFILLED:
            problems.extend(_agent_side_problems(label, purchase, signals))
        if not transitions:
            problems.append(f"{label}: no intent_status_changed signal received")
        decision = decided.get(pk)
        if decision is None:
            if signals["approval_requested"]:
                problems.append(f"{label}: asked for an approval it should not need")
            continue
        if signals["approval_requested"] != 1:
            problems.append(f"{label}: approval_requested not received")
        if signals["approval_decided"] != 1:
            problems.append(f"{label}: approval_decided not received")
        moved = {e.to_status for e in events if e.changed_status}
        if decision == "approve" and PurchaseStatus.APPROVED not in moved:
            problems.append(f"{label}: never marked approved")
        confirmed = ApprovalDecision.objects.filter(
            approval__intent=intent,
            decision=decision,
            state=DecisionState.CONFIRMED,
            user__username=username,
        )
        if not confirmed.exists():
            problems.append(
                f"{label}: no confirmed {decision} decision by {username} in the mirror"
            )
    return problems


def _agent_side_problems(label: str, purchase: PurchaseRequest, signals: Counter[str]) -> list[str]:
    """A fulfilled request: this project received its fulfilment intent as the agent
    (``intent_received`` once), ran the handler, resolved the intent once, placed one order."""
    problems: list[str] = []
    fulfilment = purchase.fulfilment_intent
    if fulfilment is None:
        return [f"{label}: no fulfilment intent was sent"]
    if fulfilment.direction != "inbound":
        problems.append(f"{label}: the fulfilment intent was not received by this project")
    if signals["intent_received"] != 1:
        problems.append(f"{label}: intent_received received {signals['intent_received']} times")
    job = AgentJob.objects.filter(intent=fulfilment).first()
    if job is None or job.state != "resolved" or job.outcome_status != "COMPLETED":
        problems.append(f"{label}: the agent job is {job.state if job else 'missing'}")
    elif job.resolve_conflict:
        problems.append(f"{label}: the fulfilment intent was resolved twice (409)")
    if PurchaseOrder.objects.filter(purchase=purchase).count() != 1:
        problems.append(f"{label}: no order placed")
    return problems
