"""Receiving a batch of agent stream items in ONE transaction (issue 17, the listener's writer).

:func:`receive_batch` gives the items of a stream window (or the part of it read so far) the
guarantees :func:`django_axme.sync.agent.receive_inbound` gives one item, with a number of SQL
statements that does not grow with the batch on the common path:

- the listener cursor moves to the highest ``seq`` of the batch in the same transaction as
  everything mirrored (one conditional ``UPDATE``; :class:`~django_axme.sync.agent.LeaseLost`
  and nothing written when the lease is no longer ours);
- an intent seen for the first time is mirrored from the item's snapshot (one ``INSERT`` for
  all of them, ``intent_created`` once each); an intent already received is not re-read;
- the items' intent events go through the batched event writer
  (:func:`django_axme.sync.ingest_batch`: stored once, status forward only, each transition
  signalled once after commit), which also locks every intent row of the batch;
- each intent gets ONE :class:`~django_axme.models.AgentJob` (one ``INSERT`` for the batch) and
  ``intent_received`` exactly once, after commit; a terminal intent gets no job; a redelivered
  item creates nothing and signals nothing.

Rare paths (an intent already mirrored by the sending side, an outbox row still being sent
with the snapshot's correlation id, a pre-linked approval, a concurrent insert) fall back to
the one-intent writer :func:`~django_axme.sync.ingest_intent` for that intent. Items without a
usable intent id are skipped with a WARNING, and an intent whose snapshot the database refuses
even alone is skipped with an ERROR naming it (the cursor moves past them: one bad item never
blocks the address).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db import DataError, IntegrityError, transaction
from django.db.models.functions import Greatest

from django_axme import signals
from django_axme.models import AgentJob, AgentListener, Approval, Intent, IntentEvent, SendState
from django_axme.sync.agent import LeaseLost, _intent_event
from django_axme.sync.batch import ingest_batch
from django_axme.sync.bulk import insert_returning
from django_axme.sync.dispatch import Outgoing, queue_signals
from django_axme.sync.intents import _raw_of, _snapshot_fields, ingest_intent
from django_axme.sync.remote import RemoteDataError, clip, storable_id

logger = logging.getLogger("django_axme.sync")

__all__ = ["receive_batch"]


def _seq(item: Mapping[str, Any]) -> int | None:
    seq = item.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


def _advance(address: str, token: str, seq: int | None) -> None:
    held = AgentListener.objects.filter(address=address, lease_token=token)
    if seq is None:
        if not held.exists():
            raise LeaseLost(f"listener lease on {address} lost")
        return
    if held.update(cursor=Greatest("cursor", seq)) != 1:
        raise LeaseLost(f"listener lease on {address} lost")


def receive_batch(
    items: Sequence[Mapping[str, Any]],
    *,
    address: str,
    token: str,
    handler_of: Callable[[str], str],
) -> list[int]:
    """Mirror ``items`` (agent stream items, in stream order) and advance the listener cursor,
    in one transaction; returns the primary keys of the jobs created (to hand to workers after
    the commit, which has happened when this returns).

    ``handler_of(intent_type)`` names the handler recorded on a new job. Raises
    :class:`~django_axme.sync.agent.LeaseLost` (nothing written) when ``token`` no longer
    holds ``address``.
    """
    order: list[str] = []
    snapshots: dict[str, Mapping[str, Any]] = {}
    events: dict[str, list[dict[str, Any]]] = {}
    top: int | None = None
    for item in items:
        seq = _seq(item)
        if seq is not None:
            top = seq if top is None else max(top, seq)
        intent_id = storable_id(item.get("intent_id"))
        if intent_id is None:
            logger.warning(
                "agent stream item without a usable intent_id skipped: %s", clip(item, 120)
            )
            continue
        if intent_id not in events:
            order.append(intent_id)
            events[intent_id] = []
        snap = item.get("intent")
        if isinstance(snap, Mapping) and snap.get("intent_id") == intent_id:
            snapshots[intent_id] = snap
        event = _intent_event(item)
        if event is not None:
            events[intent_id].append(event)
    with transaction.atomic():
        _advance(address, token, top)
        if not order:
            return []
        rows, held = _mirror_rows(order, snapshots)
        results = ingest_batch([(rows[i], events[i]) for i in order if i in rows], held=held)
        locked = {r.intent.intent_id: r.intent for r in results if r.intent is not None}
        not_inbound = [r.pk for r in locked.values() if r.direction != "inbound"]
        if not_inbound:
            Intent.objects.filter(pk__in=not_inbound).update(direction="inbound")
            for row in locked.values():
                row.direction = "inbound"
        live = [locked[i] for i in order if i in locked and not locked[i].is_terminal]
        have = set(
            AgentJob.objects.filter(intent__in=[r.pk for r in live]).values_list(
                "intent_id", flat=True
            )
        )
        fresh = [r for r in live if r.pk not in have]
        jobs = _create_jobs(fresh, address, handler_of)
        if jobs:
            first = _first_events(jobs, events)
            queue_signals(
                [
                    Outgoing(signals.intent_received, intent=j.intent, event=first.get(j.intent_id))
                    for j in jobs
                ]
            )
    return [j.pk for j in jobs]


def _mirror_rows(
    order: list[str], snapshots: dict[str, Mapping[str, Any]]
) -> tuple[dict[str, Intent | str], list[Intent]]:
    """What :func:`ingest_batch` gets for each intent id: the remote id of an intent already
    mirrored (the writer selects and locks it), the row inserted now from its snapshot (and
    the list of those, which this transaction holds), or the row the one-intent writer
    mirrored (rare paths)."""
    rows: dict[str, Intent | str] = {
        i: i
        for i in Intent.objects.filter(intent_id__in=order).values_list("intent_id", flat=True)
        if i
    }
    missing = [i for i in order if i not in rows]
    if not missing:
        return rows, []
    with_snap = [i for i in missing if i in snapshots]
    correlations = {
        str(snapshots[i].get("correlation_id")): i
        for i in with_snap
        if isinstance(snapshots[i].get("correlation_id"), str)
        and snapshots[i].get("correlation_id")
    }
    one_by_one: set[str] = set()
    if correlations:
        one_by_one.update(
            correlations[c]
            for c in Intent.objects.filter(
                intent_id__isnull=True,
                send_state=SendState.PENDING,
                correlation_id__in=list(correlations),
            ).values_list("correlation_id", flat=True)
            if c in correlations
        )
    one_by_one.update(
        Approval.objects.filter(intent__isnull=True, remote_intent_id__in=with_snap).values_list(
            "remote_intent_id", flat=True
        )
    )
    bulk = [i for i in with_snap if i not in one_by_one]
    new_rows = _insert_new(bulk, snapshots)
    if new_rows is None:  # a concurrent writer or a refused value: one by one
        one_by_one.update(bulk)
        new_rows = []
    for intent_id in sorted(one_by_one):
        try:
            rows[intent_id] = ingest_intent(snapshots[intent_id])
        except RemoteDataError as exc:
            logger.error("agent stream: intent %s not mirrored: %s", intent_id, exc)
    for row in new_rows:
        rows[row.intent_id or ""] = row
    # An intent without a snapshot is created by ingest_batch as a stub from its events.
    for intent_id in missing:
        if intent_id not in rows and intent_id not in snapshots:
            rows[intent_id] = intent_id
    return rows, new_rows


def _insert_new(ids: list[str], snapshots: dict[str, Mapping[str, Any]]) -> list[Intent] | None:
    """One ``INSERT`` of the new intents' rows (``intent_created`` queued for each); ``None``
    (nothing written) if the database refuses the batch."""
    if not ids:
        return []
    rows = []
    for intent_id in ids:
        snap = snapshots[intent_id]
        row = Intent(intent_id=intent_id, direction="inbound", send_state=SendState.SENT)
        for name, value in _snapshot_fields(snap, intent_id).items():
            setattr(row, name, value)
        row.raw = _raw_of(snap, intent_id)
        rows.append(row)
    try:
        with transaction.atomic():
            insert_returning(Intent, rows)
            queue_signals([Outgoing(signals.intent_created, intent=r) for r in rows])
    except (IntegrityError, DataError) as exc:
        logger.info("agent stream: batch insert of %d intents refused (%s)", len(rows), exc)
        return None
    return rows


def _create_jobs(
    fresh: list[Intent], address: str, handler_of: Callable[[str], str]
) -> list[AgentJob]:
    if not fresh:
        return []
    jobs = [
        AgentJob(intent=r, address=address, handler=handler_of(r.intent_type or "")[:255])
        for r in fresh
    ]
    try:
        with transaction.atomic():
            insert_returning(AgentJob, jobs)
    except IntegrityError:  # created meanwhile (the rows are locked: should not happen)
        jobs = []
        for r in fresh:
            job, created = AgentJob.objects.get_or_create(
                intent=r, defaults={"address": address, "handler": handler_of(r.intent_type)}
            )
            if created:
                jobs.append(job)
    return jobs


def _first_events(
    jobs: list[AgentJob], events: dict[str, list[dict[str, Any]]]
) -> dict[int, IntentEvent]:
    """The stored event of the first item of each new job's intent in this batch (one query)."""
    wanted: dict[int, int] = {}
    for job in jobs:
        mine = events.get(job.intent.intent_id or "") or []
        if mine:
            wanted[job.intent_id] = int(mine[0]["seq"])
    if not wanted:
        return {}
    # A superset (few distinct seqs: usually the first item of an intent is its seq 1), matched
    # here: one cheap query instead of one OR-ed condition per intent.
    found = IntentEvent.objects.filter(intent_id__in=list(wanted), seq__in=set(wanted.values()))
    return {e.intent_id: e for e in found if wanted.get(e.intent_id) == e.seq}
