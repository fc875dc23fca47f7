"""Simulated agents: scripts that move intents through their lifecycle on the emulator.

Like the real gateway, the emulator never finishes an intent on its own: an intent is CREATED,
SUBMITTED and then waits. A *script* attached to a ``to_agent`` address or an ``intent_type``
plays the receiving agent (or the human behind it). Scripts are chosen only by that
configuration, never by anything in the intent's payload.

Every delayed step runs on the emulator's one :class:`~django_axme.emulator.scheduler.Scheduler`
thread; delays are seconds (floats, 0 allowed). A step whose delay is ``None`` waits for
:meth:`AgentHost.advance`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar, Protocol

from django_axme.emulator.scheduler import Scheduler, Timer

__all__ = [
    "SCRIPT_KINDS",
    "AgentContext",
    "AgentHost",
    "ApprovalScript",
    "DeadlineScript",
    "FailingScript",
    "Script",
    "Step",
    "WorkerScript",
    "parse_agent_spec",
    "parse_script",
]

logger = logging.getLogger(__name__)

TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELED", "TIMED_OUT"})

#: The next status :meth:`AgentHost.advance` moves an intent with no script to.
MANUAL_NEXT = {
    "CREATED": "SUBMITTED",
    "SUBMITTED": "DELIVERED",
    "DELIVERED": "IN_PROGRESS",
    "ACKNOWLEDGED": "IN_PROGRESS",
    "WAITING": "IN_PROGRESS",
    "IN_PROGRESS": "COMPLETED",
}


class GatewayControl(Protocol):
    """The part of :class:`~django_axme.emulator.core.Gateway` the agents use."""

    def get_intent(self, intent_id: str) -> dict[str, Any]: ...

    def transition(
        self,
        intent_id: str,
        status: str,
        *,
        waiting_reason: str | None = None,
        actor: str = "agent",
        details: dict[str, Any] | None = None,
        event_type: str | None = None,
    ) -> dict[str, Any]: ...

    def resolve(
        self,
        intent_id: str,
        status: str = "COMPLETED",
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        reason: str | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]: ...

    def open_human_task(
        self,
        intent_id: str,
        *,
        owner_agent: str,
        title: str,
        description: str | None = None,
        allowed_outcomes: list[str] | None = None,
        required_comment: bool = False,
        task_type: str = "approval",
    ) -> dict[str, Any]: ...

    def add_listener(self, callback: Callable[[str, dict[str, Any]], None]) -> None: ...


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _error(code: str, message: str, category: str, *, retryable: bool = False) -> dict[str, Any]:
    """An ``intent.error.v1`` object."""
    return {
        "code": code,
        "message": message,
        "category": category,
        "retryable": retryable,
        "at": _now(),
    }


@dataclass
class AgentContext:
    """What a script step may do to its intent (a thin view over the gateway)."""

    gateway: GatewayControl
    intent_id: str
    actor: str

    def status(self) -> str:
        """The intent's current status."""
        return str(self.gateway.get_intent(self.intent_id)["status"])

    def intent(self) -> dict[str, Any]:
        """The intent as ``GET /v1/intents/{id}`` returns it (the ``intent`` object)."""
        return self.gateway.get_intent(self.intent_id)

    def transition(self, status: str, **kwargs: Any) -> dict[str, Any] | None:
        """Move to ``status`` unless the intent is already there or terminal; returns the event."""
        current = self.status()
        if current == status or current in TERMINAL:
            return None
        kwargs.setdefault("actor", self.actor)
        return self.gateway.transition(self.intent_id, status, **kwargs)

    def resolve(self, status: str = "COMPLETED", **kwargs: Any) -> dict[str, Any] | None:
        """Finish the intent unless it is already terminal; returns the resolve answer."""
        if self.status() in TERMINAL:
            return None
        kwargs.setdefault("actor", self.actor)
        return self.gateway.resolve(self.intent_id, status, **kwargs)


@dataclass
class Step:
    """One action of a script, run ``delay`` seconds after the previous one (``None``: on advance).

    ``waits_for_decision`` marks the step after which the script pauses until a human decision
    (an inbox approve/reject, an approvals decision or a resume) arrives.
    """

    name: str
    delay: float | None
    action: Callable[[AgentContext], Any]
    waits_for_decision: bool = False


def _delay(value: Any, name: str) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}") from None
    if seconds < 0:
        raise ValueError(f"{name} must be >= 0 seconds, got {value!r}")
    return seconds


class Script:
    """Base class of simulated-agent scripts.

    Subclasses return the steps to run for a new intent from :meth:`plan`, and (for scripts that
    wait for a human) the steps to run after a decision from :meth:`after_decision`.
    """

    kind: ClassVar[str] = "script"
    #: option name (as used in ``--agent`` specs) -> constructor argument
    options: ClassVar[Mapping[str, str]] = {}
    actor: str = "agent"

    def plan(self, intent: Mapping[str, Any]) -> list[Step]:  # pragma: no cover - abstract
        raise NotImplementedError

    def after_decision(
        self, intent: Mapping[str, Any], decision: str, comment: str | None
    ) -> list[Step]:
        """Steps to run once a human decided (``"approve"`` or ``"reject"``). Default: none."""
        return []

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> Script:
        """Build the script from ``--agent`` spec options (strings), naming any unknown one."""
        kwargs: dict[str, Any] = {}
        for key, value in options.items():
            if key not in cls.options:
                known = ", ".join(sorted(cls.options)) or "none"
                raise ValueError(f"unknown option {key!r} for {cls.kind} script (known: {known})")
            kwargs[cls.options[key]] = value
        return cls(**kwargs)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class WorkerScript(Script):
    """An agent that does the work: DELIVERED, IN_PROGRESS, then COMPLETED with ``result``."""

    kind = "worker"
    options = {
        "delivered": "delivered",
        "in_progress": "in_progress",
        "completed": "completed",
        "delay": "delay",
        "actor": "actor",
    }

    def __init__(
        self,
        delivered: float | None = 0.0,
        in_progress: float | None = 0.0,
        completed: float | None = 0.0,
        *,
        delay: float | None = None,
        result: Mapping[str, Any] | None = None,
        actor: str = "agent",
    ) -> None:
        if delay is not None:
            delivered = in_progress = completed = delay
        self.delivered = _delay(delivered, "delivered")
        self.in_progress = _delay(in_progress, "in_progress")
        self.completed = _delay(completed, "completed")
        self.result = dict(result) if result is not None else {"ok": True}
        self.actor = actor

    def plan(self, intent: Mapping[str, Any]) -> list[Step]:
        return [
            Step("delivered", self.delivered, lambda c: c.transition("DELIVERED")),
            Step("in_progress", self.in_progress, lambda c: c.transition("IN_PROGRESS")),
            Step(
                "completed",
                self.completed,
                lambda c: c.resolve("COMPLETED", result=dict(self.result)),
            ),
        ]


class ApprovalScript(Script):
    """A human approval: DELIVERED, IN_PROGRESS, then WAITING (WAITING_FOR_HUMAN) with an inbox
    thread for ``owner_agent``; approve -> IN_PROGRESS -> COMPLETED, reject -> FAILED
    (or ``reject_status``). A resume of the waiting intent counts as approval.
    """

    kind = "approval"
    options = {
        "owner": "owner_agent",
        "owner_agent": "owner_agent",
        "title": "title",
        "description": "description",
        "delivered": "delivered",
        "in_progress": "in_progress",
        "ask": "ask",
        "completed": "completed",
        "reject_status": "reject_status",
        "required_comment": "required_comment",
        "actor": "actor",
    }

    def __init__(
        self,
        owner_agent: str | None = None,
        title: str = "Approval required",
        *,
        description: str | None = None,
        allowed_outcomes: list[str] | None = None,
        required_comment: bool | str = False,
        delivered: float | None = 0.0,
        in_progress: float | None = 0.0,
        ask: float | None = 0.0,
        completed: float | None = 0.0,
        reject_status: str = "FAILED",
        result: Mapping[str, Any] | None = None,
        actor: str = "agent",
    ) -> None:
        if not owner_agent:
            raise ValueError(
                "ApprovalScript needs owner_agent (the approver's inbox address), "
                "e.g. 'approval:owner=agent://boss'"
            )
        if reject_status not in ("FAILED", "CANCELED"):
            raise ValueError(f"reject_status must be FAILED or CANCELED, got {reject_status!r}")
        self.owner_agent = owner_agent
        self.title = title
        self.description = description
        self.allowed_outcomes = list(allowed_outcomes) if allowed_outcomes else None
        if isinstance(required_comment, str):
            required_comment = required_comment.lower() in ("1", "true", "yes", "on")
        self.required_comment = bool(required_comment)
        self.delivered = _delay(delivered, "delivered")
        self.in_progress = _delay(in_progress, "in_progress")
        self.ask = _delay(ask, "ask")
        self.completed = _delay(completed, "completed")
        self.reject_status = reject_status
        self.result = dict(result) if result is not None else {"approved": True}
        self.actor = actor

    def _open_task(self, ctx: AgentContext) -> None:
        if ctx.status() in TERMINAL:
            return
        ctx.gateway.open_human_task(
            ctx.intent_id,
            owner_agent=self.owner_agent,
            title=self.title,
            description=self.description,
            allowed_outcomes=self.allowed_outcomes,
            required_comment=self.required_comment,
        )

    def plan(self, intent: Mapping[str, Any]) -> list[Step]:
        return [
            Step("delivered", self.delivered, lambda c: c.transition("DELIVERED")),
            Step("in_progress", self.in_progress, lambda c: c.transition("IN_PROGRESS")),
            Step("ask", self.ask, self._open_task, waits_for_decision=True),
        ]

    def after_decision(
        self, intent: Mapping[str, Any], decision: str, comment: str | None
    ) -> list[Step]:
        if decision == "approve":
            result = dict(self.result)
            if comment:
                result.setdefault("comment", comment)
            return [
                Step("resumed", 0.0, lambda c: c.transition("IN_PROGRESS")),
                Step("completed", self.completed, lambda c: c.resolve("COMPLETED", result=result)),
            ]
        message = f"rejected by {self.owner_agent}" + (f": {comment}" if comment else "")
        if self.reject_status == "CANCELED":
            return [Step("rejected", 0.0, lambda c: c.resolve("CANCELED", reason=message))]
        error = _error("approval_rejected", message, "policy")
        return [Step("rejected", 0.0, lambda c: c.resolve("FAILED", error=error))]


class FailingScript(Script):
    """An agent that fails: DELIVERED, IN_PROGRESS, then FAILED with ``error``."""

    kind = "failing"
    options = {
        "delivered": "delivered",
        "in_progress": "in_progress",
        "failed": "failed",
        "delay": "delay",
        "code": "code",
        "message": "message",
        "actor": "actor",
    }

    def __init__(
        self,
        delivered: float | None = 0.0,
        in_progress: float | None = 0.0,
        failed: float | None = 0.0,
        *,
        delay: float | None = None,
        code: str = "internal_error",
        message: str = "simulated agent failure",
        category: str = "internal",
        retryable: bool = False,
        actor: str = "agent",
    ) -> None:
        if delay is not None:
            delivered = in_progress = failed = delay
        self.delivered = _delay(delivered, "delivered")
        self.in_progress = _delay(in_progress, "in_progress")
        self.failed = _delay(failed, "failed")
        self.code = code
        self.message = message
        self.category = category
        self.retryable = retryable
        self.actor = actor

    def plan(self, intent: Mapping[str, Any]) -> list[Step]:
        def fail(c: AgentContext) -> None:
            c.resolve(
                "FAILED",
                error=_error(self.code, self.message, self.category, retryable=self.retryable),
            )

        return [
            Step("delivered", self.delivered, lambda c: c.transition("DELIVERED")),
            Step("in_progress", self.in_progress, lambda c: c.transition("IN_PROGRESS")),
            Step("failed", self.failed, fail),
        ]


class DeadlineScript(Script):
    """An agent that never answers: DELIVERED, then TIMED_OUT (event ``intent.timed_out``)
    ``after`` seconds later (``after=None``: at the intent's ``deadline_at``, if any).
    """

    kind = "deadline"
    options = {"after": "after", "delivered": "delivered", "actor": "actor"}

    def __init__(
        self, after: float | None = 1.0, *, delivered: float | None = 0.0, actor: str = "scheduler"
    ) -> None:
        self.after = _delay(after, "after")
        self.delivered = _delay(delivered, "delivered")
        self.actor = actor

    def _seconds_left(self, intent: Mapping[str, Any]) -> float | None:
        if self.after is not None:
            return self.after
        deadline = intent.get("deadline_at")
        if not deadline:
            return None
        try:
            due = datetime.fromisoformat(str(deadline).replace("Z", "+00:00"))
        except ValueError:
            logger.warning(
                "intent %s has an unreadable deadline_at %r", intent.get("intent_id"), deadline
            )
            return None
        return max(0.0, (due - datetime.now(timezone.utc)).total_seconds())

    def plan(self, intent: Mapping[str, Any]) -> list[Step]:
        def time_out(c: AgentContext) -> None:
            if c.status() in TERMINAL:
                return
            c.gateway.transition(
                c.intent_id,
                "TIMED_OUT",
                actor=self.actor,
                event_type="intent.timed_out",
                details={
                    "error": _error("intent_timeout", "deadline passed", "timeout", retryable=True)
                },
            )

        return [
            Step("delivered", self.delivered, lambda c: c.transition("DELIVERED")),
            Step("timed_out", self._seconds_left(intent), time_out),
        ]


SCRIPT_KINDS: dict[str, type[Script]] = {
    "worker": WorkerScript,
    "approval": ApprovalScript,
    "failing": FailingScript,
    "fail": FailingScript,
    "deadline": DeadlineScript,
}

_OPTION_SPLIT = re.compile(r"[:,](?=[A-Za-z_][A-Za-z0-9_]*=)")


def parse_script(spec: str) -> Script:
    """Parse ``KIND[:option=value[:option=value...]]`` (e.g. ``approval:owner=agent://boss``).

    Options may also be separated by commas. Values may contain ``:`` (agent addresses).
    Raises ``ValueError`` naming the unknown kind or option.
    """
    parts = _OPTION_SPLIT.split(spec.strip())
    kind = parts[0].strip().lower()
    if kind not in SCRIPT_KINDS:
        raise ValueError(
            f"unknown agent script {kind!r} in {spec!r} (known: {', '.join(sorted(SCRIPT_KINDS))})"
        )
    options: dict[str, str] = {}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        options[key.strip()] = value.strip()
    return SCRIPT_KINDS[kind].from_options(options)


def parse_agent_spec(spec: str) -> tuple[str, Script]:
    """Parse ``MATCH=KIND[:options]`` (``MATCH`` is a ``to_agent`` address or an intent type)."""
    match, sep, script = spec.partition("=")
    if not sep or not match.strip() or not script.strip():
        raise ValueError(
            f"agent spec {spec!r} must look like 'agent://name=worker' or "
            "'agent://name=approval:owner=agent://approver'"
        )
    return match.strip(), parse_script(script)


@dataclass
class _Run:
    """The progress of one scripted intent."""

    intent_id: str
    script: Script
    intent: dict[str, Any]
    queue: deque[Step] = field(default_factory=deque)
    timer: Timer | None = None
    waiting_for_decision: bool = False
    done: bool = False


class AgentHost:
    """Runs the scripts attached to addresses and intent types against one gateway.

    Guarantees: steps of one intent run one at a time and in order; a step that finds its intent
    terminal (for example resolved by a test) ends that intent's script quietly; a failing step is
    logged and ends the script. Gateway notifications are only queued here (never run inline).
    """

    def __init__(self, gateway: GatewayControl, scheduler: Scheduler) -> None:
        self._gateway = gateway
        self._scheduler = scheduler
        self._scripts: dict[str, Script] = {}
        self._runs: dict[str, _Run] = {}
        self._served: set[str] = set()
        self._lock = threading.RLock()
        gateway.add_listener(self._on_gateway_event)

    def close(self) -> None:
        """Stop listening to the gateway and drop every pending step."""
        remove = getattr(self._gateway, "remove_listener", None)
        if remove is not None:
            remove(self._on_gateway_event)
        with self._lock:
            for run in self._runs.values():
                if run.timer is not None:
                    run.timer.cancel()
                run.done = True

    # -- configuration --------------------------------------------------------------------
    def attach(self, match: str, script: Script | str) -> Script:
        """Attach ``script`` (or a spec string like ``"worker"``) to a to_agent or intent_type."""
        if not match:
            raise ValueError("match must be a to_agent address or an intent_type")
        if isinstance(script, str):
            script = parse_script(script)
        if not isinstance(script, Script):
            raise TypeError(
                f"script must be a Script or a spec string, got {type(script).__name__}"
            )
        with self._lock:
            self._scripts[match] = script
        return script

    def detach(self, match: str) -> None:
        """Remove the script attached to ``match`` (running intents keep their script)."""
        with self._lock:
            self._scripts.pop(match, None)

    def attached(self) -> dict[str, Script]:
        """A copy of the configured ``match -> script`` table."""
        with self._lock:
            return dict(self._scripts)

    def serve(self, address: str) -> None:
        """Mark ``address`` as served by a real agent (a project listening on its stream): no
        simulated script runs for intents addressed to it, whatever is attached."""
        with self._lock:
            self._served.add(address)

    def served(self) -> frozenset[str]:
        """The addresses marked with :meth:`serve`."""
        with self._lock:
            return frozenset(self._served)

    def script_for(self, intent: Mapping[str, Any]) -> Script | None:
        """The script for an intent: none for a served address, else its ``to_agent`` first,
        then its ``intent_type``."""
        with self._lock:
            if intent.get("to_agent") in self._served:
                return None
            for key in (intent.get("to_agent"), intent.get("intent_type")):
                if key and key in self._scripts:
                    return self._scripts[key]
        return None

    # -- manual control -------------------------------------------------------------------
    def advance(self, intent_id: str) -> str:
        """Run the next step of the intent's script now; returns the intent's new status.

        For an intent waiting for a human decision, ``advance`` approves. For an intent with no
        script, it moves one status along CREATED -> SUBMITTED -> DELIVERED -> IN_PROGRESS ->
        COMPLETED (WAITING -> IN_PROGRESS). Raises ``ValueError`` for a terminal intent.
        """
        with self._lock:
            run = self._runs.get(intent_id)
            if run is not None and not run.done:
                if run.waiting_for_decision:
                    self._decide(run, "approve", None)
                if run.timer is not None:
                    run.timer.cancel()
                    run.timer = None
                if run.queue:
                    self._run_step(run)
                    return self._status(intent_id)
        status = self._status(intent_id)
        if status in TERMINAL:
            raise ValueError(f"intent {intent_id} is already terminal ({status})")
        target = MANUAL_NEXT[status]
        ctx = AgentContext(self._gateway, intent_id, "emulator")
        if target == "COMPLETED":
            ctx.resolve("COMPLETED", result={"ok": True})
        else:
            ctx.transition(target)
        return self._status(intent_id)

    def forget(self, intent_id: str) -> None:
        """Stop the intent's script (pending steps are dropped)."""
        with self._lock:
            run = self._runs.pop(intent_id, None)
            if run and run.timer:
                run.timer.cancel()

    def is_running(self, intent_id: str) -> bool:
        """True while the intent has a script with steps left or a decision pending."""
        with self._lock:
            run = self._runs.get(intent_id)
            return bool(run and not run.done)

    # -- internals ------------------------------------------------------------------------
    def _status(self, intent_id: str) -> str:
        return str(self._gateway.get_intent(intent_id)["status"])

    def _on_gateway_event(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "intent.created":
            intent = dict(data.get("intent") or {})
            if intent.get("intent_id"):
                self._scheduler.call_later(0.0, lambda: self._start(intent))
        elif kind == "thread.decision":
            intent_id = data.get("intent_id") or data.get("thread_id")
            decision = str(data.get("decision") or "")
            comment = data.get("comment")
            if intent_id and decision in ("approve", "reject"):
                self._scheduler.call_later(
                    0.0, lambda: self._on_decision(str(intent_id), decision, comment)
                )
        elif kind == "intent.resumed":
            intent_id = data.get("intent_id")
            if intent_id:
                decision = _decision_from_resume(data.get("body"))
                self._scheduler.call_later(
                    0.0, lambda: self._on_decision(str(intent_id), decision, None)
                )

    def _start(self, intent: dict[str, Any]) -> None:
        script = self.script_for(intent)
        if script is None:
            return
        intent_id = str(intent["intent_id"])
        with self._lock:
            if intent_id in self._runs:
                return
            try:
                steps = script.plan(intent)
            except Exception:
                logger.exception("agent script %r could not plan intent %s", script, intent_id)
                return
            run = _Run(intent_id, script, intent, deque(steps))
            self._runs[intent_id] = run
            self._schedule_next(run)

    def _on_decision(self, intent_id: str, decision: str, comment: str | None) -> None:
        with self._lock:
            run = self._runs.get(intent_id)
            if run is None or run.done or not run.waiting_for_decision:
                return
            self._decide(run, decision, comment)
            self._schedule_next(run)

    def _decide(self, run: _Run, decision: str, comment: str | None) -> None:
        run.waiting_for_decision = False
        run.queue.extend(run.script.after_decision(run.intent, decision, comment))
        if not run.queue:
            run.done = True

    def _schedule_next(self, run: _Run) -> None:
        if run.done or run.waiting_for_decision:
            return
        if not run.queue:
            run.done = True
            return
        delay = run.queue[0].delay
        if delay is None:
            return  # waits for advance()

        def fire() -> None:
            with self._lock:
                if run.timer is not timer_box[0] or run.done:
                    return
                run.timer = None
                self._run_step(run)

        timer_box: list[Timer | None] = [None]
        run.timer = timer_box[0] = self._scheduler.call_later(delay, fire)

    def _run_step(self, run: _Run) -> None:
        step = run.queue.popleft()
        ctx = AgentContext(self._gateway, run.intent_id, run.script.actor)
        try:
            if ctx.status() in TERMINAL:
                run.done = True
                run.queue.clear()
                return
            step.action(ctx)
        except Exception as exc:  # the gateway refused: the intent moved on without the script
            logger.warning(
                "agent script %s step %r on intent %s stopped: %s",
                run.script.kind,
                step.name,
                run.intent_id,
                exc,
            )
            run.done = True
            run.queue.clear()
            return
        if step.waits_for_decision:
            run.waiting_for_decision = True
            return
        self._schedule_next(run)


def _decision_from_resume(body: Any) -> str:
    """A resume releases a human wait: approve, unless its ``task_result.outcome`` says reject."""
    if isinstance(body, Mapping):
        task_result = body.get("task_result")
        if isinstance(task_result, Mapping):
            outcome = str(task_result.get("outcome") or "").lower()
            if outcome in ("reject", "rejected", "deny", "denied"):
                return "reject"
        if body.get("approve_current_step") is False:
            return "reject"
    return "approve"
