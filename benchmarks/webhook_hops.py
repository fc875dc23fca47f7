"""Per-hop timing of the webhooks benchmark's push path (``benchmarks/webhooks.py``).

Every stamp is wall-clock (``time.time()``), so stamps taken in the emulator, the Django
server and the Celery worker (different processes) can be compared:

- **opened**: the benchmark calls ``open_human_task`` in the emulator;
- **enqueued**: the emulator's deliverer queued the ``inbox.thread_created`` event
  (``WebhookDeliverer.publish`` returned);
- **POST sent** / **POST answered**: the emulator's delivery thread starts / ends the POST;
- **view entered** / **view left**: the Django WSGI application is called / returns (a WSGI
  wrapper in the server process; the task is published before it returns);
- **recorded**: ``WebhookDelivery.received_at`` (the row's insert);
- **worker received** / **task started**: the worker's consumer takes the task message
  (``task_received``) / a pool thread starts the task (``task_prerun``) -- Celery only;
- **signal**: ``approval_requested`` fired (the probe);
- **processed**: ``WebhookDelivery.processed_at`` (after the mirror's transaction and its
  signals).

Only the approver's ``inbox.thread_created`` delivery of each approval is followed (the one
the benchmark's ``to_view`` figure uses). Nothing here changes what is measured: the wrappers
note a time and call through.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = ["Hops", "wrap_wsgi"]


def _gap(stamps: list[float | None], a: int, b: int) -> float | None:
    first, second = stamps[a], stamps[b]
    return None if first is None or second is None else second - first


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Hops:
    """Stamps of one push phase, keyed by thread id (emulator side) or delivery id."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.lock = threading.Lock()
        self.enqueued: dict[str, float] = {}  # thread id -> stamp
        self.delivery_of: dict[str, str] = {}  # thread id -> delivery id (approver's created)
        self.post: dict[str, tuple[float, float, str]] = {}  # delivery id -> sent, answered
        self.view: dict[str, tuple[float, float]] = {}  # delivery id -> entered, left

    # -- the emulator side (same process as the benchmark) --------------------------------

    def watch_emulator(self, deliverer: Any) -> None:
        """Wrap the deliverer's ``publish`` and ``_post`` (instance attributes)."""
        publish, post = deliverer.publish, deliverer._post

        def timed_publish(owner_agent: str, event_type: str, payload: Any, **kw: Any) -> Any:
            event = publish(owner_agent, event_type, payload, **kw)
            if event_type == "inbox.thread_created" and owner_agent == self.owner:
                with self.lock:
                    self.enqueued.setdefault(str(payload.get("thread_id")), time.time())
            return event

        def timed_post(delivery: dict[str, Any]) -> str:
            sent = time.time()
            outcome: str = post(delivery)
            event = delivery["event"]
            if event["event_type"] == "inbox.thread_created" and event["owner_agent"] == self.owner:
                with self.lock:
                    thread_id = str(event["payload"].get("thread_id"))
                    self.delivery_of.setdefault(thread_id, delivery["delivery_id"])
                    self.post.setdefault(delivery["delivery_id"], (sent, time.time(), outcome))
            return outcome

        deliverer.publish = timed_publish
        deliverer._post = timed_post

    def on_view(self, delivery_id: str, entered: float, left: float) -> None:
        with self.lock:
            self.view.setdefault(delivery_id, (entered, left))

    # -- the report ------------------------------------------------------------------------

    def report(
        self,
        opened_wall: dict[str, float],
        rows: Iterable[tuple[str, str, int, float, float | None]],
        signals: dict[str, float],
        worker: dict[int, tuple[float | None, float | None]],
    ) -> list[str]:
        """Lines ``hop: p50 / p99 / max`` over the approvals that reached each hop.

        ``rows``: (thread id, delivery id, pk, recorded, processed) of the approver's
        thread_created deliveries; ``signals``: thread id -> signal stamp (wall clock);
        ``worker``: pk -> (worker received, task started) stamps (empty for inline).
        """
        by_thread = {r[0]: r for r in rows}
        chains: list[tuple[str, list[float | None]]] = []
        names = [
            "opened",
            "enqueued",
            "POST sent",
            "view entered",
            "recorded",
            "view left",
            "POST answered",
            "worker received",
            "task started",
            "signal",
            "processed",
        ]
        for thread_id, opened in opened_wall.items():
            delivery_id = self.delivery_of.get(thread_id, "")
            row = by_thread.get(thread_id)
            pk = row[2] if row else -1
            post = self.post.get(delivery_id)
            view = self.view.get(delivery_id)
            received, started = worker.get(pk, (None, None))
            chains.append(
                (
                    thread_id,
                    [
                        opened,
                        self.enqueued.get(thread_id),
                        post[0] if post else None,
                        view[0] if view else None,
                        row[3] if row else None,
                        view[1] if view else None,
                        post[1] if post else None,
                        received,
                        started,
                        signals.get(thread_id),
                        row[4] if row else None,
                    ],
                )
            )
        lines = []
        pairs = [
            ("opened", "enqueued"),
            ("enqueued", "POST sent"),
            ("POST sent", "view entered"),
            ("view entered", "recorded"),
            ("recorded", "view left"),
            ("view left", "POST answered"),
            ("recorded", "worker received"),
            ("worker received", "task started"),
            ("task started", "signal"),
            ("recorded", "signal"),
            ("signal", "processed"),
            ("opened", "signal"),
        ]
        for first, second in pairs:
            a, b = names.index(first), names.index(second)
            gaps = [d for c in chains if (d := _gap(c[1], a, b)) is not None]
            if not gaps:
                continue
            lines.append(
                f"  {first + ' -> ' + second:<32} p50 {_pct(gaps, 50) * 1000:7.1f} ms  "
                f"p99 {_pct(gaps, 99) * 1000:7.1f} ms  max {max(gaps) * 1000:7.1f} ms  "
                f"(n={len(gaps)})"
            )
        present = [i for i in range(len(names)) if any(c[1][i] is not None for c in chains)]
        # The slowest approvals, hop by hop (where their time went).
        full = [c for c in chains if c[1][0] is not None and signals.get(c[0]) is not None]
        full.sort(key=lambda c: _gap(c[1], 0, names.index("signal")) or 0.0, reverse=True)
        rank = {t: n for n, t in enumerate(sorted(opened_wall, key=opened_wall.__getitem__))}
        lines.append("  slowest approvals (#n: n-th opened; ms from opened):")
        for thread_id, stamps in full[:5]:
            parts = [
                f"{names[i]} {gap * 1000:.0f}"
                for i in present
                if (gap := _gap(stamps, 0, i)) is not None
            ]
            lines.append(f"    #{rank[thread_id]}: " + ", ".join(parts[1:]))
        return lines


def wrap_wsgi(app: Callable[..., Any], hops_ref: Callable[[], Hops | None]) -> Callable[..., Any]:
    """A WSGI application that stamps when ``app`` is called and returns, by the
    ``X-AXME-Delivery`` header, into the current :class:`Hops` (``hops_ref()``)."""

    def timed(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        entered = time.time()
        result = app(environ, start_response)
        hops = hops_ref()
        delivery_id = environ.get("HTTP_X_AXME_DELIVERY")
        if hops is not None and delivery_id:
            hops.on_view(delivery_id, entered, time.time())
        return result

    return timed


def read_worker_stamps(path: Path) -> dict[int, tuple[float | None, float | None]]:
    """The worker's ``received``/``started`` stamps by delivery pk (``webhook_probe``)."""
    out: dict[int, list[float | None]] = {}
    if not path.exists():
        return {}
    for line in path.read_text().splitlines():
        stamp, kind, pk = line.split()
        slot = out.setdefault(int(pk), [None, None])
        index = 0 if kind == "received" else 1
        if slot[index] is None:
            slot[index] = float(stamp)
    return {pk: (v[0], v[1]) for pk, v in out.items()}


def append_line(path: str, line: str) -> None:
    """Append one line atomically (``O_APPEND``) -- several threads write the same file."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
