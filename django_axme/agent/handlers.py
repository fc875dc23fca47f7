"""The handler registry: which function handles which inbound intent type (issue 17).

Handlers are registered with :func:`handler` in an ``axme_handlers.py`` module of any installed
app; :func:`autodiscover` imports those modules (once per process, like ``admin.py``).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django_axme.client.errors import AxmeError

__all__ = [
    "HANDLERS_MODULE",
    "WAITING_REASONS",
    "Handler",
    "HandlerContext",
    "HandlerFailed",
    "Registry",
    "TransientError",
    "Wait",
    "autodiscover",
    "handler",
    "registry",
]

#: The module looked for in every installed app.
HANDLERS_MODULE = "axme_handlers"

#: The protocol's waiting reasons (reference 2.1).
WAITING_REASONS = frozenset(
    {"WAITING_FOR_HUMAN", "WAITING_FOR_TOOL", "WAITING_FOR_AGENT", "WAITING_FOR_TIME"}
)

F = TypeVar("F", bound=Callable[..., Any])


class HandlerFailed(AxmeError):
    """Raise from a handler to resolve the intent FAILED with ``reason`` (sent as the error
    ``message``, with ``code`` and any JSON-serialisable ``details``). Not retried."""

    def __init__(self, reason: str, *, code: str = "handler_failed", details: Any = None) -> None:
        super().__init__(reason)
        self.reason = str(reason)
        self.code = str(code)
        self.details = details

    def as_error(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.reason[:2000]}
        if self.details is not None:
            error["details"] = self.details
        return error


class TransientError(AxmeError):
    """Raise from a handler for a failure worth retrying (with backoff, up to
    ``AXME["TASK_MAX_RETRIES"]``); other unexpected exceptions fail the run at once (the admin
    can run it again)."""

    @property
    def retryable(self) -> bool:
        return True


@dataclass(frozen=True)
class Wait:
    """Return from a handler to leave the intent open and wait.

    ``reason`` is one of :data:`WAITING_REASONS`. ``WAITING_FOR_TIME`` needs ``until`` (an
    aware datetime) or ``seconds``: the handler runs again then. The other reasons wait for
    :func:`django_axme.agent.decide` (the admin's approve/reject for a human); the handler then
    runs again with ``ctx.decision`` set.
    """

    reason: str = "WAITING_FOR_HUMAN"
    until: datetime | None = None
    seconds: float | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.reason not in WAITING_REASONS:
            raise ValueError(
                f"reason must be one of {sorted(WAITING_REASONS)}, got {self.reason!r}"
            )
        if self.reason == "WAITING_FOR_TIME" and self.until is None and self.seconds is None:
            raise ValueError("WAITING_FOR_TIME needs until= or seconds=")

    def wake_at(self, now: datetime) -> datetime | None:
        if self.until is not None:
            return self.until
        if self.seconds is not None:
            return now + timedelta(seconds=float(self.seconds))
        return None


@dataclass
class HandlerContext:
    """What a handler may use besides the intent.

    ``idempotency_key`` is the same on every attempt and redelivery of the intent: pass it to
    your own side effects (a payment, a row with a unique key) so that a re-run after a crash
    does not apply them twice. ``decision``/``decision_note`` carry the answer after a
    :class:`Wait`. ``progress()`` records a note on this run (kept locally: the protocol has
    no agent-side progress call).
    """

    idempotency_key: str
    attempt: int
    address: str
    decision: str = ""
    decision_note: str = ""
    _progress: Callable[[str, Mapping[str, Any] | None], None] | None = field(
        default=None, repr=False
    )

    def progress(self, message: str, **data: Any) -> None:
        if self._progress is not None:
            self._progress(message, data or None)


@dataclass(frozen=True)
class Handler:
    """One registered handler."""

    intent_type: str
    func: Callable[..., Any]
    addresses: frozenset[str] | None
    takes_context: bool

    @property
    def name(self) -> str:
        return f"{self.func.__module__}.{self.func.__qualname__}"

    def serves(self, address: str) -> bool:
        return self.addresses is None or address in self.addresses

    def __call__(self, intent: Any, ctx: HandlerContext) -> Any:
        return self.func(intent, ctx) if self.takes_context else self.func(intent)


def _takes_context(func: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return False
    positional = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in positional)


class Registry:
    """Handlers by intent type. Thread-safe; one handler per (intent type, address)."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        self._lock = threading.Lock()

    def register(
        self, intent_type: str, func: Callable[..., Any], addresses: Iterable[str] | None = None
    ) -> Handler:
        """Register ``func``; raises ``ValueError`` when another function already handles
        ``intent_type`` for every address (both unscoped) or for an overlapping set of addresses
        (a scoped handler beside an unscoped one is fine: it wins at its addresses).
        Re-registering the same function (a module imported twice) is a no-op."""
        if not isinstance(intent_type, str) or not intent_type.strip():
            raise ValueError("intent_type must be a non-empty string")
        if isinstance(addresses, str):
            addresses = [addresses]
        scope = frozenset(addresses) if addresses is not None else None
        new = Handler(intent_type, func, scope, _takes_context(func))
        with self._lock:
            existing = self._handlers.setdefault(intent_type, [])
            for old in existing:
                if old.name == new.name and old.addresses == new.addresses:
                    existing.remove(old)
                    break
            for old in existing:
                both_general = old.addresses is None and scope is None
                if both_general or (old.addresses and scope and old.addresses & scope):
                    raise ValueError(
                        f"{intent_type!r} is already handled by {old.name} for overlapping "
                        f"addresses; limit one of them with addresses=[...]"
                    )
            existing.append(new)
        return new

    def lookup(self, intent_type: str, address: str) -> Handler | None:
        """The handler for ``intent_type`` at ``address``: one limited to the address first,
        then one for every address; ``None`` when there is none."""
        with self._lock:
            candidates = list(self._handlers.get(intent_type, ()))
        for h in candidates:
            if h.addresses is not None and address in h.addresses:
                return h
        for h in candidates:
            if h.addresses is None:
                return h
        return None

    def all(self) -> list[Handler]:
        """Every handler, sorted by intent type then name."""
        with self._lock:
            found = [h for hs in self._handlers.values() for h in hs]
        return sorted(found, key=lambda h: (h.intent_type, h.name))

    def clear(self) -> None:
        with self._lock:
            self._handlers.clear()

    def unregister(self, intent_type: str) -> None:
        with self._lock:
            self._handlers.pop(intent_type, None)


#: The process-wide registry used by :func:`handler`.
registry = Registry()
_discovered = False
_discover_lock = threading.Lock()


def handler(intent_type: str, *, addresses: Iterable[str] | None = None) -> Callable[[F], F]:
    """Register the decorated function as the handler of ``intent_type`` (optionally only for
    some of ``AXME["AGENT_ADDRESSES"]``). The function receives the mirrored inbound
    :class:`~django_axme.models.Intent` (and a :class:`HandlerContext` when it takes a second
    positional argument) and returns the result (resolved COMPLETED with it), raises
    :class:`HandlerFailed` (resolved FAILED), or returns a :class:`Wait`."""

    def decorate(func: F) -> F:
        registry.register(intent_type, func, addresses)
        return func

    return decorate


def autodiscover(*, force: bool = False) -> None:
    """Import ``axme_handlers`` of every installed app (once per process unless ``force``)."""
    global _discovered
    with _discover_lock:
        if _discovered and not force:
            return
        from django.utils.module_loading import autodiscover_modules

        autodiscover_modules(HANDLERS_MODULE)
        _discovered = True
