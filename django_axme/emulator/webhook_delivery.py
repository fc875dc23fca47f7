"""The emulator's outbound webhooks: real signed HTTP POSTs to subscriptions' callback URLs.

A :class:`WebhookDeliverer` is attached to a :class:`~django_axme.emulator.core.Gateway`
(``gateway.webhooks``). It turns three things into deliveries, one per matching active
subscription (event type listed; owner equal to the event's owner, or the default owner):

- events published with ``POST /v1/webhooks/events`` and replayed with
  ``POST /v1/webhooks/events/{id}/replay`` (reference 3.10);
- inbox changes: ``inbox.thread_created``, ``inbox.thread_updated``,
  ``inbox.reply_received`` (owner = the thread's owner);
- **emulator option** ``deliver_intent_events=True``: every intent event as
  ``intent.lifecycle`` (owner = the intent's ``to_agent``). The real gateway documents no
  such event type; it exists so local set-ups can be push-only.

Each delivery is ``POST callback_url`` with a JSON body ``{delivery_id, event_id,
event_type, owner_agent, source, sent_at, attempt, payload}`` and the headers
``X-AXME-Signature: sha256=<hex HMAC-SHA256 of the raw body under the subscription's
secret>``, ``X-AXME-Delivery`` and ``X-AXME-Event``. A 2xx answer is *delivered*; anything
else (or a timeout, or a refused connection) is retried with exponential backoff and, after
``max_attempts``, *dead-lettered*. Retries keep the delivery id; a replay makes new ones.
The counters each event carries (``queued_deliveries``, ``processed_deliveries``,
``delivered``, ``pending``, ``dead_lettered``) follow what really happened.

Fault injection (:class:`WebhookFaults`, seeded): drop a delivery (it counts as delivered,
as when a receiver answered and then lost it), duplicate it, delay it, or hold it back so
later ones overtake it (reorder). Every injected fault is appended to ``faults.log``.

Deliveries run on a few daemon threads, started at the first delivery; no Django here.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .state_util import format_ts, new_id, utc_now

if TYPE_CHECKING:  # pragma: no cover
    from .core import Gateway

__all__ = [
    "INBOX_EVENT_TYPES",
    "INTENT_EVENT_TYPE",
    "WebhookDeliverer",
    "WebhookFaults",
    "sign_body",
]

logger = logging.getLogger(__name__)

INBOX_EVENT_TYPES = ("inbox.thread_created", "inbox.thread_updated", "inbox.reply_received")
#: The emulator-only event type of intent lifecycle events (``deliver_intent_events=True``).
INTENT_EVENT_TYPE = "intent.lifecycle"
#: Largest response body read from a receiver.
_MAX_ANSWER_BYTES = 64 * 1024


def sign_body(body: bytes, secret: str) -> str:
    """``sha256=<hex HMAC-SHA256 of body>``, the ``X-AXME-Signature`` value."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class WebhookFaults:
    """Seeded webhook faults. Each rate is the probability (0..1) for every delivery attempt
    of a matching event type (``event_types`` empty: all). Change the attributes at any time
    (e.g. ``drop = 1.0`` for one event, then back to 0)."""

    seed: int = 0
    drop: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    delay_seconds: float = 1.0
    reorder: float = 0.0
    reorder_hold_seconds: float = 0.3
    event_types: tuple[str, ...] = ()
    log: list[tuple[str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def draw(self, kind: str, event_type: str, delivery_id: str) -> bool:
        """Whether fault ``kind`` hits this delivery (logged when it does)."""
        rate = float(getattr(self, kind))
        if rate <= 0 or (self.event_types and event_type not in self.event_types):
            return False
        with self._lock:
            hit = self._random.random() < rate
            if hit:
                self.log.append((kind, event_type, delivery_id))
        return hit


@dataclass(order=True)
class _Job:
    due: float
    order: int
    delivery: dict[str, Any] = field(compare=False)


class WebhookDeliverer:
    """Delivers a gateway's webhook events (see the module doc). Thread-safe.

    ``max_attempts`` attempts per delivery, ``backoff_seconds * 2**(attempt-1)`` (capped at
    ``backoff_max_seconds``) between them, ``timeout_seconds`` per POST, ``workers`` threads.
    """

    def __init__(
        self,
        gateway: Gateway,
        *,
        deliver_intent_events: bool = False,
        max_attempts: int = 5,
        backoff_seconds: float = 0.5,
        backoff_max_seconds: float = 30.0,
        timeout_seconds: float = 5.0,
        workers: int = 4,
        faults: WebhookFaults | None = None,
    ) -> None:
        if max_attempts < 1 or workers < 1 or timeout_seconds <= 0:
            raise ValueError("max_attempts and workers must be >= 1, timeout_seconds > 0")
        self.gateway = gateway
        self.deliver_intent_events = deliver_intent_events
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.timeout_seconds = timeout_seconds
        self.faults = faults or WebhookFaults()
        self._workers = workers
        self._threads: list[threading.Thread] = []
        self._cond = threading.Condition()
        self._heap: list[_Job] = []
        self._order = itertools.count()
        self._in_flight = 0
        self._closed = False
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        #: Every attempt: (delivery_id, event_type, attempt, status or error text).
        self.attempts: list[tuple[str, str, int, str]] = []
        gateway.webhooks = self
        gateway.add_listener(self._on_note)

    # ------------------------------------------------------------------ public

    def close(self) -> None:
        """Stop the delivery threads; pending deliveries are dropped. Idempotent."""
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify_all()
        self.gateway.remove_listener(self._on_note)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no delivery is queued or in flight (``False`` after ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
        return True

    def counters(self, event_id: str) -> dict[str, int]:
        """The delivery counters of one event (zeros for an unknown id)."""
        with self.gateway.lock:
            event = self.gateway.table("webhook_events").get(event_id)
            return dict(event["counters"]) if event and "counters" in event else _zero()

    def publish(
        self, owner_agent: str, event_type: str, payload: dict[str, Any], *, source: str
    ) -> dict[str, Any]:
        """Record an event and queue one delivery per matching subscription; returns the
        event record (with ``counters``). Used by the publish route and the inbox hooks."""
        with self.gateway.lock:
            event: dict[str, Any] = {
                "event_id": new_id(),
                "owner_agent": owner_agent,
                "event_type": event_type,
                "source": source,
                "payload": payload,
                "accepted_at": self.gateway.now_ts(),
                "counters": _zero(),
            }
            self.gateway.table("webhook_events")[event["event_id"]] = event
            self._queue(event)
            return event

    def replay(self, event: dict[str, Any]) -> dict[str, int]:
        """Queue the event again for every matching subscription (new delivery ids); returns
        its counters (cumulative over the publish and every replay)."""
        with self.gateway.lock:
            event.setdefault("counters", _zero())
            self._queue(event)
            return dict(event["counters"])

    # ------------------------------------------------------------------ internals

    def _subscriptions(self, owner_agent: str, event_type: str) -> list[dict[str, Any]]:
        from .core import DEFAULT_WEBHOOK_OWNER

        return [
            s
            for s in self.gateway.table("webhook_subscriptions").values()
            if s["active"]
            and event_type in s["event_types"]
            and s["owner_agent"] in (owner_agent, DEFAULT_WEBHOOK_OWNER)
        ]

    def _queue(self, event: dict[str, Any]) -> int:
        subs = self._subscriptions(event["owner_agent"], event["event_type"])
        counters = event["counters"]
        jobs = []
        for sub in subs:
            counters["queued_deliveries"] += 1
            counters["pending"] += 1
            delivery = {
                "delivery_id": new_id(),
                "event": event,
                "callback_url": sub["callback_url"],
                "secret": sub.get("_secret"),
                "attempt": 0,
            }
            jobs.append(delivery)
        now = time.monotonic()
        with self._cond:
            for delivery in jobs:
                due = now
                if self.faults.draw("delay", event["event_type"], delivery["delivery_id"]):
                    due += self.faults.delay_seconds
                if self.faults.draw("reorder", event["event_type"], delivery["delivery_id"]):
                    due += self.faults.reorder_hold_seconds
                heapq.heappush(self._heap, _Job(due, next(self._order), delivery))
            if jobs:
                self._start()
                self._cond.notify_all()
        return len(jobs)

    def _start(self) -> None:
        if self._threads or self._closed:
            return
        for n in range(self._workers):
            thread = threading.Thread(
                target=self._run, name=f"axme-emulator-webhooks-{n}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    now = time.monotonic()
                    if self._heap and self._heap[0].due <= now:
                        job = heapq.heappop(self._heap)
                        self._in_flight += 1
                        break
                    wait = self._heap[0].due - now if self._heap else None
                    self._cond.wait(wait)
            try:
                self._attempt(job.delivery)
            except Exception:  # pragma: no cover - a bug must not kill the worker
                logger.exception("webhook delivery %s failed", job.delivery["delivery_id"])
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()

    def _body(self, delivery: dict[str, Any]) -> bytes:
        event = delivery["event"]
        return json.dumps(
            {
                "delivery_id": delivery["delivery_id"],
                "event_id": event["event_id"],
                "event_type": event["event_type"],
                "owner_agent": event["owner_agent"],
                "source": event["source"],
                "sent_at": format_ts(utc_now()),
                "attempt": delivery["attempt"],
                "payload": event["payload"],
            },
            separators=(",", ":"),
        ).encode()

    def _post(self, delivery: dict[str, Any]) -> str:
        """One POST; returns ``"2xx"`` style status text or the error, never raises."""
        body = self._body(delivery)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "axme-emulator-webhooks",
            "X-AXME-Delivery": delivery["delivery_id"],
            "X-AXME-Event": delivery["event"]["event_type"],
        }
        if delivery["secret"]:
            headers["X-AXME-Signature"] = sign_body(body, delivery["secret"])
        url = delivery["callback_url"]
        if not url.lower().startswith(("http://", "https://")):
            return "error: callback_url is not http(s)"
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with self._opener.open(request, timeout=self.timeout_seconds) as answer:
                answer.read(_MAX_ANSWER_BYTES)
                return str(answer.status)
        except urllib.error.HTTPError as exc:
            exc.read(_MAX_ANSWER_BYTES)
            exc.close()
            return str(exc.code)
        except (OSError, ValueError) as exc:
            return f"error: {exc}"

    def _attempt(self, delivery: dict[str, Any]) -> None:
        event = delivery["event"]
        event_type = event["event_type"]
        delivery["attempt"] += 1
        if self.faults.draw("drop", event_type, delivery["delivery_id"]):
            outcome = "dropped"
        else:
            outcome = self._post(delivery)
            if self.faults.draw("duplicate", event_type, delivery["delivery_id"]):
                self.attempts.append(
                    (delivery["delivery_id"], event_type, delivery["attempt"], outcome)
                )
                outcome = self._post(delivery)
        self.attempts.append((delivery["delivery_id"], event_type, delivery["attempt"], outcome))
        ok = outcome == "dropped" or outcome.startswith("2")
        with self.gateway.lock:
            counters = event["counters"]
            if ok or delivery["attempt"] >= self.max_attempts:
                counters["pending"] -= 1
                counters["processed_deliveries"] += 1
                counters["delivered" if ok else "dead_lettered"] += 1
                if not ok:
                    logger.info(
                        "webhook delivery %s dead-lettered after %d attempts (%s)",
                        delivery["delivery_id"],
                        delivery["attempt"],
                        outcome,
                    )
                return
        backoff = min(
            self.backoff_max_seconds, self.backoff_seconds * 2 ** (delivery["attempt"] - 1)
        )
        with self._cond:
            if not self._closed:
                heapq.heappush(
                    self._heap, _Job(time.monotonic() + backoff, next(self._order), delivery)
                )
                self._cond.notify_all()

    def _on_note(self, kind: str, data: dict[str, Any]) -> None:
        """Gateway listener: inbox changes and (optionally) intent events become events."""
        if kind == "inbox.thread":
            owner = data["owner_agent"]
            if self._subscriptions_exist(owner, data["event_type"]):
                self.publish(owner, data["event_type"], data["thread"], source="emulator.inbox")
        elif kind == "intent.event" and self.deliver_intent_events:
            event = data.get("event") or {}
            intent_id = data.get("intent_id")
            with self.gateway.lock:
                rec = self.gateway.intents.get(intent_id or "")
                owner = rec.get("to_agent") if rec else None
            if owner and self._subscriptions_exist(owner, INTENT_EVENT_TYPE):
                payload = {
                    "intent_id": intent_id,
                    "seq": event.get("seq"),
                    "event_type": event.get("event_type"),
                    "status": event.get("status"),
                }
                self.publish(owner, INTENT_EVENT_TYPE, payload, source="emulator.intents")

    def _subscriptions_exist(self, owner: str, event_type: str) -> bool:
        with self.gateway.lock:
            return bool(self._subscriptions(owner, event_type))


def _zero() -> dict[str, int]:
    return {
        "queued_deliveries": 0,
        "processed_deliveries": 0,
        "delivered": 0,
        "pending": 0,
        "dead_lettered": 0,
    }
