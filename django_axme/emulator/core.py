"""The emulator core: a thread-safe, in-memory AXME gateway with no Django dependency.

:class:`Gateway` keeps all state in memory behind one re-entrant lock. Every HTTP request goes
through :meth:`Gateway.handle` (front doors translate to and from
:class:`~django_axme.emulator.http_types.EmulatorRequest`); programs, simulated agents and tests
use the Python control API (``create_intent``, ``transition``, ``resolve``, ...).

Guarantees:

* Each intent has an event log with ``seq`` 1, 2, 3, ... (gap-free, ordered, replayable).
* A request's state change and its idempotency record happen atomically under the lock.
* Listeners (:meth:`Gateway.add_listener`) are called after the lock is released, in the order
  the changes happened, on the thread that made the change.
* Streams never hold the lock while waiting: they wait on per-intent (per-agent) conditions
  that are notified on each new event, so thousands of idle streams cost no CPU.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from . import (
    routes_agents,
    routes_directory,
    routes_enterprise,
    routes_inbox,
    routes_intents,
    routes_mcp,
)
from .http_types import EmulatorRequest, EmulatorResponse
from .routes_table import RequestContext, Route, Router
from .state_errors import (
    EmulatorAuthError,
    EmulatorConflict,
    EmulatorError,
    EmulatorNotFound,
    EmulatorValidationError,
)
from .state_idempotency import IdempotencyStore
from .state_util import canonical_json, format_ts, new_id, sha256_hex, utc_now

__all__ = [
    "EmulatorAuthError",
    "EmulatorConflict",
    "EmulatorError",
    "EmulatorNotFound",
    "EmulatorValidationError",
    "Gateway",
]

logger = logging.getLogger(__name__)

Listener = Callable[[str, dict[str, Any]], None]

_MUTATING = frozenset({"POST", "PATCH"})
#: Methods whose body is parsed as a JSON object (PUT carries raw upload bytes).
_JSON_BODY_METHODS = frozenset({"POST", "PATCH", "DELETE"})
_CONTROL_SCOPE = "control-api"

#: Owner given to webhook subscriptions created without an owner scope (reference 3.10).
DEFAULT_WEBHOOK_OWNER = "agent://emulator/default-owner"


class Gateway:
    """In-memory AXME gateway state plus the protocol's HTTP routes.

    ``api_keys=None`` accepts any non-empty key. ``clock`` returns an aware UTC ``datetime``
    and drives timestamps, idempotency expiry and deadlines (inject one in tests).
    ``keepalive_seconds`` is the interval of ``: keep-alive`` comments on idle streams.
    ``seed_empty_inboxes`` creates one welcome thread the first time an owner with no threads
    lists its inbox (the conformance suite needs a thread for an owner nobody writes to).
    ``public_base_url`` is used to build invite, upload and download URLs.
    """

    def __init__(
        self,
        api_keys: Iterable[str] | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        keepalive_seconds: float = 10.0,
        seed_empty_inboxes: bool = True,
        public_base_url: str = "http://127.0.0.1:8765",
    ) -> None:
        self._api_keys = {k for k in api_keys if k} if api_keys is not None else None
        self.clock: Callable[[], datetime] = clock or utc_now
        if keepalive_seconds <= 0:
            raise ValueError("keepalive_seconds must be > 0")
        self.keepalive_seconds = float(keepalive_seconds)
        self.seed_empty_inboxes = seed_empty_inboxes
        self.public_base_url = public_base_url.rstrip("/")
        self.lock = threading.RLock()
        self._depth = 0
        self._pending_notes: list[tuple[str, dict[str, Any]]] = []
        self._listeners: list[Listener] = []
        self.idempotency = IdempotencyStore(self.clock)
        # intents
        self.intents: dict[str, dict[str, Any]] = {}
        self.intent_events: dict[str, list[dict[str, Any]]] = {}
        self.intent_conditions: dict[str, threading.Condition] = {}
        self.deadlines: dict[str, datetime] = {}
        # inbox
        self.threads: dict[tuple[str, str], dict[str, Any]] = {}
        self.thread_owners: dict[str, list[str]] = {}
        self.thread_changes: dict[str, OrderedDict[str, int]] = {}
        self.change_seq = 0
        self.seeded_owners: set[str] = set()
        self.approvals: dict[str, dict[str, Any]] = {}
        # agents
        self.agents: dict[str, dict[str, Any]] = {}
        self.agent_feeds: dict[str, list[dict[str, Any]]] = {}
        self.agent_conditions: dict[str, threading.Condition] = {}
        # every other family: name -> id -> record
        self.tables: dict[str, dict[str, dict[str, Any]]] = {}
        # outbound webhooks (a webhook_delivery.WebhookDeliverer attaches itself here)
        self.webhooks: Any = None
        self._router = Router.from_modules(
            routes_intents,
            routes_inbox,
            routes_agents,
            routes_directory,
            routes_enterprise,
            routes_mcp,
        )

    # ------------------------------------------------------------------ infrastructure

    def now(self) -> datetime:
        """The gateway clock."""
        return self.clock()

    def now_ts(self) -> str:
        """The gateway clock as an RFC 3339 UTC string."""
        return format_ts(self.clock())

    def grant_api_key(self, key: str) -> None:
        """Accept ``key`` from now on (no effect when every key is accepted)."""
        with self.lock:
            if self._api_keys is not None:
                self._api_keys.add(key)

    def revoke_api_key(self, key: str) -> None:
        """Stop accepting ``key`` (no effect when every key is accepted)."""
        with self.lock:
            if self._api_keys is not None:
                self._api_keys.discard(key)

    def table(self, name: str) -> dict[str, dict[str, Any]]:
        """The in-memory table ``name`` (created on first use); call with the lock held."""
        return self.tables.setdefault(name, {})

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the state lock; listener notes queued inside fire after the outermost exit."""
        with self.lock:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                notes: list[tuple[str, dict[str, Any]]] = []
                if self._depth == 0 and self._pending_notes:
                    notes, self._pending_notes = self._pending_notes, []
        if notes:
            self._fire(notes)

    def notify(self, kind: str, data: dict[str, Any], *, position: int | None = None) -> None:
        """Queue a listener call; must be called inside :meth:`transaction`.

        ``position`` (from :meth:`note_position`) inserts the note before later ones.
        """
        if position is None:
            self._pending_notes.append((kind, data))
        else:
            self._pending_notes.insert(position, (kind, data))

    def note_position(self) -> int:
        """The position the next queued listener note will take."""
        return len(self._pending_notes)

    def add_listener(self, callback: Listener) -> None:
        """Register ``callback(kind, data)``; it runs after the lock is released.

        Kinds: ``intent.created`` {intent}, ``intent.event`` {intent_id, event},
        ``thread.decision`` {thread_id, intent_id, decision, comment, owner_agent},
        ``intent.resumed`` {intent_id, body}. A failing listener is logged and skipped.
        """
        with self.lock:
            self._listeners.append(callback)

    def remove_listener(self, callback: Listener) -> None:
        """Unregister a listener (no error when it is not registered)."""
        with self.lock:
            if callback in self._listeners:
                self._listeners.remove(callback)

    def _fire(self, notes: list[tuple[str, dict[str, Any]]]) -> None:
        with self.lock:
            listeners = list(self._listeners)
        for kind, data in notes:
            for listener in listeners:
                try:
                    listener(kind, data)
                except Exception:
                    logger.exception("emulator listener %r failed on %s", listener, kind)

    # ------------------------------------------------------------------ HTTP entry point

    def handle(self, req: EmulatorRequest) -> EmulatorResponse:
        """Answer one request. Never raises: errors become JSON error responses.

        Bad input gives 400/401/404/405/409/413/422 in the shape
        ``{"error": {"code", "message"}, "detail": message}``; only a bug in the emulator gives
        500 (and is logged).
        """
        request_id = new_id()
        trace_id = req.headers.get("x-trace-id") or None
        headers = {"x-request-id": request_id}
        if trace_id:
            headers["x-trace-id"] = trace_id[:128]
        try:
            response = self._handle(req, trace_id)
        except EmulatorError as exc:
            response = EmulatorResponse.json(exc.status, exc.body())
        except Exception:
            logger.exception("emulator bug while handling %s %s", req.method, req.path)
            response = EmulatorResponse.json(
                500,
                {
                    "error": {"code": "internal_error", "message": "internal emulator error"},
                    "detail": "internal emulator error",
                },
            )
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response

    def _handle(self, req: EmulatorRequest, trace_id: str | None) -> EmulatorResponse:
        method = req.method.upper()
        path = req.path.split("?", 1)[0] or "/"
        matched, params, path_known = self._router.match(method, path)
        if matched is None:
            if path_known:
                raise EmulatorError(
                    f"method {method} not allowed on {path}", status=405, code="method_not_allowed"
                )
            raise EmulatorNotFound(f"no such route: {method} {path}")
        scope = self._authenticate(req) if matched.auth else "anonymous"
        body = {} if matched.raw else self._parse_body(req, method)
        ctx = RequestContext(
            request=req,
            params=params,
            body=body,
            scope=scope,
            owner_agent=_owner_from(req),
            idempotency_key=(req.headers.get("idempotency-key") or "").strip() or None,
            trace_id=trace_id,
        )
        if matched.stream:
            result = matched.handler(self, ctx)
        else:
            with self.transaction():
                self.expire_deadlines()
                if method in _MUTATING and ctx.idempotency_key:
                    result = self._idempotent(f"{method} {path}", ctx, matched)
                else:
                    result = matched.handler(self, ctx)
        if isinstance(result, EmulatorResponse):
            return result
        status, payload = result
        return EmulatorResponse.json(status, payload)

    def _idempotent(self, operation: str, ctx: RequestContext, matched: Route) -> Any:
        key = ctx.idempotency_key or ""
        if len(key) > 255:
            raise EmulatorValidationError(
                "Idempotency-Key: must be at most 255 characters", field="Idempotency-Key"
            )
        # Parsed bodies compare as canonical JSON; raw bodies (MCP, uploads) byte for byte.
        raw_digest = hashlib.sha256(ctx.request.body or b"").hexdigest() if matched.raw else ""
        fingerprint = sha256_hex(
            canonical_json(
                {"body": ctx.body, "raw": raw_digest, "query": sorted(ctx.query.items())}
            )
        )
        return self.run_idempotent(
            ctx.scope, operation, key, fingerprint, lambda: matched.handler(self, ctx)
        )

    def run_idempotent(
        self,
        scope: str,
        operation: str,
        key: str,
        fingerprint: str,
        action: Callable[[], Any],
    ) -> Any:
        """Run ``action`` once per key: replay the stored answer or raise 409 on a changed body."""
        with self.transaction():
            hit = self.idempotency.lookup(scope, operation, key)
            if hit is not None:
                if hit.fingerprint != fingerprint:
                    raise EmulatorConflict(
                        "idempotency key reused with different payload",
                        code="idempotency_conflict",
                        field="Idempotency-Key",
                    )
                return hit.status, json.loads(json.dumps(hit.payload))
            status, payload = action()
            if 200 <= status < 300:
                self.idempotency.record(
                    scope, operation, key, fingerprint, status, json.loads(json.dumps(payload))
                )
            return status, payload

    def _authenticate(self, req: EmulatorRequest) -> str:
        api_key = (req.headers.get("x-api-key") or "").strip()
        authorization = (req.headers.get("authorization") or "").strip()
        bearer = ""
        if authorization[:7].lower() == "bearer ":
            bearer = authorization[7:].strip()
        if not api_key and not bearer:
            raise EmulatorAuthError(
                "missing API key: send the x-api-key header or Authorization: Bearer <key>",
                code="missing_platform_api_key",
            )
        if self._api_keys is None:
            chosen = api_key or bearer
        elif api_key:
            if api_key not in self._api_keys:
                raise EmulatorAuthError("invalid API key", code="invalid_platform_api_key")
            chosen = api_key
        elif bearer in self._api_keys:
            chosen = bearer
        else:
            raise EmulatorAuthError("invalid API key", code="invalid_platform_api_key")
        # Scope idempotency by a digest so the key itself is never stored.
        return "key:" + sha256_hex(chosen)[:24]

    @staticmethod
    def _parse_body(req: EmulatorRequest, method: str) -> dict[str, Any]:
        raw = req.body or b""
        if not raw.strip():
            return {}
        if method not in _JSON_BODY_METHODS:
            return {}
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise EmulatorValidationError(
                "malformed JSON body: not UTF-8", status=400, code="malformed_json", field="body"
            ) from None
        except ValueError as exc:
            raise EmulatorValidationError(
                f"malformed JSON body: {exc}", status=400, code="malformed_json", field="body"
            ) from None
        if not isinstance(data, dict):
            raise EmulatorValidationError(
                "request body must be a JSON object",
                status=400,
                code="malformed_json",
                field="body",
            )
        return data

    # ------------------------------------------------------------------ control API

    def create_intent(
        self, body: dict[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Create an intent exactly like ``POST /v1/intents`` and return the same answer.

        Emits seq 1 ``intent.created`` and seq 2 ``intent.submitted``. Raises
        :class:`EmulatorValidationError` for a bad body, :class:`EmulatorConflict` when the key
        was used with another body.
        """
        return routes_intents.create_intent_control(self, body, idempotency_key=idempotency_key)

    def get_intent(self, intent_id: str) -> dict[str, Any]:
        """The intent as ``GET /v1/intents/{id}`` shows it (404 error if unknown)."""
        with self.transaction():
            return routes_intents.intent_view(self, routes_intents.get_record(self, intent_id))

    def events(self, intent_id: str, since: int = 0) -> list[dict[str, Any]]:
        """Copies of the intent's events with ``seq > since``, ascending."""
        with self.transaction():
            routes_intents.get_record(self, intent_id)
            return copy.deepcopy(self.intent_events[intent_id][max(since, 0) :])

    def transition(
        self,
        intent_id: str,
        status: str,
        *,
        waiting_reason: str | None = None,
        actor: str = "agent",
        details: dict[str, Any] | None = None,
        event_type: str | None = None,
    ) -> dict[str, Any]:
        """Move the intent along the lifecycle and return the appended event.

        Raises :class:`EmulatorConflict` (a ``ValueError``) for an illegal move or a terminal
        intent, :class:`EmulatorValidationError` for an unknown status or a missing waiting
        reason, :class:`EmulatorNotFound` for an unknown intent.
        """
        with self.transaction():
            return routes_intents.transition(
                self,
                intent_id,
                status,
                waiting_reason=waiting_reason,
                actor=actor,
                details=details,
                event_type=event_type,
            )

    def resolve(
        self,
        intent_id: str,
        status: str = "COMPLETED",
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        reason: str | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """End the intent like ``POST /v1/intents/{id}/resolve``; returns that answer.

        Any non-terminal intent may be resolved; a terminal one raises :class:`EmulatorConflict`.
        """
        body: dict[str, Any] = {"status": status}
        for name, value in (("result", result), ("error", error), ("reason", reason)):
            if value is not None:
                body[name] = value
        if actor is not None:
            body["actor"] = actor
        with self.transaction():
            return routes_intents.resolve(self, intent_id, body)

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
    ) -> dict[str, Any]:
        """Put the intent in WAITING/WAITING_FOR_HUMAN and open an inbox thread for the approver.

        The thread has ``thread_id == intent_id`` and ``owner_agent`` = the approver; it is
        returned as ``GET /v1/inbox/{id}`` would show it.
        """
        with self.transaction():
            return routes_inbox.open_human_task(
                self,
                intent_id,
                owner_agent=owner_agent,
                title=title,
                description=description,
                allowed_outcomes=allowed_outcomes,
                required_comment=required_comment,
                task_type=task_type,
            )

    def wait_for_events(self, intent_id: str, since: int, timeout: float) -> list[dict[str, Any]]:
        """Block until the intent has events with ``seq > since`` (or ``timeout`` seconds pass).

        Returns copies of those events (empty on timeout). Waits on the intent's condition with
        the lock released.
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        with self.lock:
            routes_intents.get_record(self, intent_id)
            condition = self.intent_conditions[intent_id]
            log = self.intent_events[intent_id]
            while len(log) <= since:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                condition.wait(remaining)
            return copy.deepcopy(log[max(since, 0) :])

    def expire_deadlines(self) -> list[str]:
        """Move every non-terminal intent whose ``deadline_at`` has passed to TIMED_OUT.

        Called at the start of every request; returns the ids that timed out now.
        """
        if not self.deadlines:
            return []
        with self.transaction():
            return routes_intents.expire_deadlines(self)

    def thread(self, thread_id: str, owner_agent: str | None = None) -> dict[str, Any]:
        """The inbox thread as the API shows it (404 error if unknown)."""
        with self.transaction():
            return routes_inbox.thread_view(routes_inbox.find_thread(self, thread_id, owner_agent))

    def list_threads(self, owner_agent: str) -> list[dict[str, Any]]:
        """All threads of an owner, newest change last (no seeding)."""
        with self.transaction():
            return [
                routes_inbox.thread_view(self.threads[(owner_agent, tid)])
                for tid in self.thread_changes.get(owner_agent, {})
            ]

    def list_intents(self) -> list[dict[str, Any]]:
        """Every intent, in creation order."""
        with self.transaction():
            return [routes_intents.intent_view(self, rec) for rec in self.intents.values()]


def _owner_from(req: EmulatorRequest) -> str | None:
    query_values = req.query.get("owner_agent") or []
    query_owner = query_values[0].strip() if query_values and query_values[0].strip() else None
    header_owner = (req.headers.get("x-owner-agent") or "").strip() or None
    if query_owner and header_owner and query_owner != header_owner:
        raise EmulatorValidationError(
            "owner_agent: query parameter and x-owner-agent header differ",
            status=400,
            code="owner_mismatch",
            field="owner_agent",
        )
    return query_owner or header_owner
