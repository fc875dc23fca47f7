"""Mirroring remote intent objects, and recording errors met while talking to the gateway.

An intent snapshot (``GET /v1/intents/{id}``, or a create answer merged with the request body)
updates the descriptive columns of the mirror. It does **not** move the status: the status is
driven only by sequenced events (:mod:`django_axme.sync.events`), because a snapshot has no
position in the event order and applying it could move the status backwards or swallow
transitions. A new row therefore starts at ``CREATED`` and catches up as its events arrive.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from django_axme import signals
from django_axme.models import Approval, Intent, SendState
from django_axme.sync.dispatch import Outgoing, queue_signals
from django_axme.sync.remote import (
    RemoteDataError,
    clean_json,
    clip,
    parse_timestamp,
    storable_id,
    storable_int,
)

logger = logging.getLogger("django_axme.sync")

__all__ = ["ingest_intent", "lock_intent", "record_intent_error"]


def _unwrap(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """Accept both the intent object and the ``{"ok": ..., "intent": {...}}`` envelope."""
    inner = data.get("intent")
    if "intent_id" not in data and isinstance(inner, Mapping):
        return inner
    return data


def _snapshot_fields(data: Mapping[str, Any], intent_id: str) -> dict[str, Any]:
    """Model field values for the keys present in ``data`` (absent keys leave columns alone),
    made storable at the parsing edge (:mod:`django_axme.sync.remote`): text and JSON cleaned,
    an out-of-range ``policy_generation`` or timestamp dropped, each with a WARNING."""
    fields: dict[str, Any] = {}
    text_fields = {
        "intent_type": ("intent_type", 255),
        "owner_agent": ("owner_agent", 383),
        "from_agent": ("from_agent", 383),
        "to_agent": ("to_agent", 383),
        "reply_to": ("reply_to", 383),
        "correlation_id": ("correlation_id", 64),
    }
    for key, (field, length) in text_fields.items():
        if key in data and data[key] is not None:
            fields[field] = clip(data[key], length)
    for key in ("payload",):
        if isinstance(data.get(key), Mapping):
            fields[key] = clean_json(dict(data[key]), field=key, intent_id=intent_id)
    for key in ("human_task", "result", "error"):
        if key in data and (data[key] is None or isinstance(data[key], Mapping)):
            fields[key] = (
                clean_json(dict(data[key]), field=key, intent_id=intent_id)
                if data[key] is not None
                else None
            )
    policy = data.get("workflow_control_policy")
    if isinstance(policy, Mapping):
        fields["controls"] = clean_json(dict(policy), field="controls", intent_id=intent_id)
    else:
        parts = {
            k: data[k]
            for k in ("controls", "envelope", "grants")
            if isinstance(data.get(k), Mapping)
        }
        if parts:
            fields["controls"] = clean_json(parts, field="controls", intent_id=intent_id)
    generation = data.get("policy_generation")
    if generation is None and isinstance(policy, Mapping):
        generation = policy.get("policy_generation")
    generation = storable_int(generation, field="policy_generation", intent_id=intent_id)
    if generation is not None:
        fields["policy_generation"] = generation
    for key, field in (
        ("deadline_at", "deadline_at"),
        ("created_at", "remote_created_at"),
        ("updated_at", "remote_updated_at"),
    ):
        parsed = parse_timestamp(data.get(key), field=key, intent_id=intent_id)
        if parsed is not None:
            fields[field] = parsed
    return fields


def _raw_of(snapshot: Mapping[str, Any], intent_id: str) -> dict[str, Any]:
    """The snapshot as stored in ``Intent.raw``: cleaned, without the ``payload`` object,
    which is stored once, in its own column (a large payload is not kept twice)."""
    kept = {k: v for k, v in snapshot.items() if not (k == "payload" and isinstance(v, Mapping))}
    cleaned = clean_json(kept, field="raw", intent_id=intent_id)
    return cleaned if isinstance(cleaned, dict) else {}


def lock_intent(intent: Intent | str) -> tuple[Intent, bool]:
    """The mirror row of ``intent``, locked for the current transaction; create it if needed.

    Must run inside ``transaction.atomic``. Returns ``(row, created)``; ``created`` is true
    exactly once per remote id, whichever thread or process wins the insert (the unique
    ``intent_id`` decides; the losers re-read the winner's row). On PostgreSQL the row lock
    (``SELECT ... FOR UPDATE``) serialises every writer of that intent until commit; on SQLite
    the whole database is locked by the ``IMMEDIATE`` transaction, which serialises them too.
    """
    if isinstance(intent, Intent):
        if intent.pk is None:
            raise ValueError("lock_intent() needs a saved Intent or a remote intent id")
        return Intent.objects.select_for_update().get(pk=intent.pk), False
    if not isinstance(intent, str) or not intent:
        raise ValueError(f"expected an Intent or a non-empty remote intent id, got {intent!r}")
    if storable_id(intent) is None:
        raise RemoteDataError(f"unusable remote intent id {clip(intent, 80)!r}")
    row, created = Intent.objects.get_or_create(intent_id=intent)
    if not created:
        row = Intent.objects.select_for_update().get(pk=row.pk)
    return row, created


def ingest_intent(
    data: Mapping[str, Any], *, user: Any = None, local: Intent | None = None
) -> Intent:
    """Upsert the mirror row of a remote intent snapshot; return the saved row.

    - Keyed by the remote ``intent_id`` (a :class:`ValueError` if the snapshot has none).
    - ``local``: the outbox row that was sent; it receives the remote id (and leaves the
      ``pending`` send state). If another row mirrored that id in the meantime, it is merged
      into ``local`` (events, approvals and pending signals move; logged; ``intent_created``
      is sent for ``local``, the row the application holds). Without ``local``,
      an outbox row still being sent with the snapshot's ``correlation_id`` receives the id,
      so a remote intent is never mirrored twice while its send is in flight.
    - ``user`` becomes ``created_by`` when the row is new.
    - Sends ``intent_created`` (after commit) the first time the remote id is mirrored.
    - Never changes ``status`` (see the module docstring). One transaction; idempotent.
    - Values the database cannot store are cleaned or dropped with a WARNING (see
      :mod:`django_axme.sync.remote`); ``raw`` keeps the snapshot without its ``payload``,
      which is stored once, in the ``payload`` column.

    Raises :class:`~django_axme.sync.remote.RemoteDataError` (a ``ValueError`` and an
    ``AxmeError``; nothing written) when the snapshot has no usable ``intent_id`` (missing,
    blank, longer than 64 characters, NUL...) or, as a last resort, when the database refuses
    the row.
    """
    snapshot = _unwrap(data)
    raw_id = snapshot.get("intent_id")
    intent_id = storable_id(raw_id)
    if intent_id is None:
        logger.warning(
            "ingest_intent: snapshot skipped, unusable 'intent_id' %.80r", clip(raw_id, 80)
        )
        raise RemoteDataError(
            f"ingest_intent(): the remote intent has no usable 'intent_id' ({clip(raw_id, 80)!r})"
        )
    fields = _snapshot_fields(snapshot, intent_id)
    raw = _raw_of(snapshot, intent_id)
    try:
        with transaction.atomic():
            row, created = _row_for(intent_id, local, fields.get("correlation_id"))
            for name, value in fields.items():
                setattr(row, name, value)
            row.raw = {**(row.raw or {}), **raw}
            row.last_heard_at = timezone.now()
            if (
                created
                and user is not None
                and getattr(user, "pk", None)
                and row.created_by_id is None
            ):
                row.created_by = user
            if row.send_state == SendState.PENDING:
                row.send_state = SendState.SENT
            row.save()
            Approval.objects.filter(intent__isnull=True, remote_intent_id=intent_id).update(
                intent=row
            )
            if created:
                queue_signals([Outgoing(signals.intent_created, intent=row)])
    except DataError as exc:
        logger.error(
            "intent %s: the database refused the snapshot (%s); nothing stored", intent_id, exc
        )
        raise RemoteDataError(
            f"intent {intent_id}: the database refused the snapshot: {exc}"
        ) from exc
    return row


#: Columns that describe the remote intent: a duplicate row's values move to the outbox row.
_REMOTE_STATE_FIELDS = (
    "intent_type",
    "status",
    "waiting_reason",
    "owner_agent",
    "from_agent",
    "to_agent",
    "reply_to",
    "human_task",
    "result",
    "error",
    "controls",
    "policy_generation",
    "deadline_at",
    "last_seq",
    "remote_created_at",
    "remote_updated_at",
    "raw",
    "last_heard_at",
    "observer_lease_until",
    "observer_token",
)


def _pending_outbox_row(correlation_id: Any) -> Intent | None:
    """The one outbox row still being sent with this correlation id, locked (else None)."""
    if not isinstance(correlation_id, str) or not correlation_id:
        return None
    rows = list(
        Intent.objects.select_for_update().filter(
            intent_id__isnull=True, send_state=SendState.PENDING, correlation_id=correlation_id
        )[:2]
    )
    return rows[0] if len(rows) == 1 else None


def _references_to_intents() -> list[tuple[type[Any], str]]:
    """(model, field name) of every foreign key or one-to-one field pointing at ``Intent``, in
    every installed app (the project's own models and many-to-many tables included)."""
    from django.apps import apps

    found = []
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.concrete_fields:
            if field.is_relation and field.related_model is Intent:
                found.append((model, field.name))
    return found


def _merge_duplicate(row: Intent, other: Intent, intent_id: str) -> bool:
    """Fold ``other`` (a row that mirrored ``intent_id`` before the outbox row ``row`` got it)
    into ``row``; return whether it was merged.

    Every reference to ``other`` (its events, approvals, pending signals and retries, an agent
    job, and the project's own foreign keys) moves to ``row``, its remote state (and an
    ``inbound`` direction) is copied, and ``other`` is deleted, all in one savepoint. ``row``
    survives because it is the row the application holds (the outbox helper returned it). If
    a reference cannot move (a one-to-one field that already points at ``row`` for another
    object), nothing changes and the error is logged: the caller then leaves both rows as
    they are.
    """
    try:
        with transaction.atomic():
            for model, name in _references_to_intents():
                model._base_manager.filter(**{name: other}).update(**{name: row})
            for field in _REMOTE_STATE_FIELDS:
                setattr(row, field, getattr(other, field))
            if other.direction == "inbound":
                # The project's own listener received it first (it sends to an address it
                # serves): the row keeps its agent job, so it stays inbound.
                row.direction = "inbound"
            other_pk = other.pk
            other.delete()
    except IntegrityError as exc:
        logger.error(
            "intent %s is mirrored by row #%s and outbox row #%s cannot take it over (%s); "
            "both are left as they are",
            intent_id,
            other.pk,
            row.pk,
            exc,
        )
        return False
    row.intent_id = intent_id
    logger.warning(
        "intent %s was mirrored by row #%s before outbox row #%s got its id; merged into #%s",
        intent_id,
        other_pk,
        row.pk,
        row.pk,
    )
    return True


def _row_for(
    intent_id: str, local: Intent | None, correlation_id: Any = None
) -> tuple[Intent, bool]:
    """The row to write a snapshot of ``intent_id`` into, locked, and whether the remote id is
    mirrored for the first time.

    Without ``local``, an outbox row still being sent with the snapshot's correlation id
    receives the remote id (so the row the application holds is the mirror), else the row
    keyed by the remote id (created if needed). With ``local`` (the sent outbox row), a row
    that mirrored the id in the meantime is merged into ``local``.
    """
    if local is None:
        existing = Intent.objects.select_for_update().filter(intent_id=intent_id).first()
        if existing is not None:
            return existing, False
        pending = _pending_outbox_row(correlation_id)
        if pending is not None:
            pending.intent_id = intent_id
            return pending, True
        return lock_intent(intent_id)
    if local.pk is None:
        raise ValueError("ingest_intent(local=...) needs a saved outbox row")
    row = Intent.objects.select_for_update().get(pk=local.pk)
    if row.intent_id == intent_id:
        return row, False
    if row.intent_id:
        raise ValueError(
            f"outbox row #{row.pk} already mirrors intent {row.intent_id}, not {intent_id}"
        )
    other = Intent.objects.select_for_update().filter(intent_id=intent_id).first()
    if other is not None:
        if not _merge_duplicate(row, other, intent_id):
            return other, False
        # ``intent_created`` again, for the row the application holds: the one sent for the
        # duplicate named a row that no longer exists.
        return row, True
    row.intent_id = intent_id
    return row, True


def record_intent_error(intent: Intent | str, error: Mapping[str, Any]) -> None:
    """Store a non-retryable error on the intent (``last_error``), shown in the admin.

    ``error`` should be JSON-serialisable (e.g. ``{"status_code": 409, "message": ...}``);
    a ``recorded_at`` timestamp is added. An unknown intent id is logged and ignored.
    Sends no signal.
    """
    value = {**dict(error), "recorded_at": timezone.now().astimezone(dt.timezone.utc).isoformat()}
    with transaction.atomic():
        if isinstance(intent, Intent):
            updated = Intent.objects.filter(pk=intent.pk).update(last_error=value)
            intent.last_error = value
        else:
            updated = Intent.objects.filter(intent_id=intent).update(last_error=value)
        if not updated:
            logger.warning("record_intent_error: intent %s is not mirrored; error dropped", intent)
