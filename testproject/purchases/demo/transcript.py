"""The demo's transcript (what AXME reported, what the app's receivers saw) and its verdict."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from django_axme.models import ApprovalDecision, DecisionState, IntentEvent
from purchases.models import PurchaseEvent, PurchaseRequest, PurchaseStatus


def render_transcript(pks: Iterable[int]) -> str:
    """A readable transcript of the given purchase requests, oldest first."""
    lines = ["Transcript (AXME events mirrored by django-axme; signals received by purchases)"]
    purchases = PurchaseRequest.objects.filter(pk__in=list(pks)).select_related("intent")
    for purchase in purchases.order_by("pk"):
        intent = purchase.intent
        lines.append("")
        lines.append(
            f"#{purchase.pk} {purchase.item} ({purchase.amount} EUR): {purchase.status}"
            + (f"   intent {intent.intent_id} {intent.status}" if intent else "   (no intent)")
        )
        if intent is not None:
            events = IntentEvent.objects.filter(intent=intent).order_by("seq")
            lines.append(
                "  AXME events: "
                + (
                    ", ".join(
                        f"{e.seq} {e.status}" + (f"/{e.waiting_reason}" if e.waiting_reason else "")
                        for e in events
                    )
                    or "(none)"
                )
            )
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
        for p in PurchaseRequest.objects.filter(pk__in=list(expected)).select_related("intent")
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
        if not intent.is_terminal:
            problems.append(f"{label}: intent {intent.intent_id} is still {intent.status}")
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
        for name in ("intent_created", "approval_requested", "approval_decided"):
            if signals[name] > 1:
                problems.append(f"{label}: {name} received {signals[name]} times")
        if signals["intent_created"] != 1:
            problems.append(f"{label}: intent_created received {signals['intent_created']} times")
        terminal = sum(
            signals[n]
            for n in ("intent_completed", "intent_failed", "intent_canceled", "intent_timed_out")
        )
        if terminal != 1:
            problems.append(f"{label}: {terminal} terminal signals received, expected 1")
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
