"""Set-based writes for the batched writer: one INSERT or one UPDATE per batch.

Django's ``bulk_create`` and ``bulk_update`` split a batch by the backend's conservative
parameter limit (999 on SQLite, so about a hundred event rows per query), which makes the
number of queries grow with the batch. These helpers send one statement per batch up to the
limit the database really enforces (:func:`max_parameters`): SQLite's
``SQLITE_LIMIT_VARIABLE_NUMBER`` of the open connection (32,766 on current builds) and no
limit on PostgreSQL (Django binds parameters on the client there). A batch beyond the limit
takes one more statement per limit's worth of parameters, never one per row.

Both run in the caller's transaction; nothing here commits, retries or logs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, cast

from django.db import connections, models
from django.db.models import Case, F, Value, When
from django.db.models.functions import Cast

__all__ = ["insert_returning", "max_parameters", "update_rows"]

M = TypeVar("M", bound=models.Model)

#: Used when the database does not say (a backend other than SQLite or PostgreSQL).
_FALLBACK_PARAMETERS = 999
_UNLIMITED = 1_000_000


def max_parameters(using: str) -> int:
    """How many bound parameters one statement may carry on database ``using``."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        return _UNLIMITED
    if connection.vendor == "sqlite":
        import sqlite3

        connection.ensure_connection()
        raw = connection.connection
        getlimit = getattr(raw, "getlimit", None)
        if getlimit is not None:
            return int(getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    return int(connection.features.max_query_params or _FALLBACK_PARAMETERS)


T = TypeVar("T")


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    size = max(size, 1)
    return [items[i : i + size] for i in range(0, len(items), size)]


def insert_returning(model: type[M], objs: Sequence[M], *, using: str = "default") -> None:
    """Insert unsaved ``objs`` of ``model`` in as few statements as the database allows and
    set their primary keys (and other returned columns) from ``RETURNING``.

    Field ``pre_save`` hooks run as for ``bulk_create`` (``auto_now_add`` and friends).
    Raises whatever the database raises (``IntegrityError``, ``DataError``...); the caller
    wraps the call in a savepoint when it wants to recover.
    """
    if not objs:
        return
    opts = model._meta
    fields = [f for f in opts.concrete_fields if not f.primary_key and not f.generated]
    returning = list(opts.db_returning_fields)
    manager = model._base_manager.using(using)
    for chunk in _chunks(objs, max_parameters(using) // max(len(fields), 1)):
        rows = manager._insert(  # type: ignore[attr-defined]
            chunk, fields=fields, returning_fields=returning, using=using
        )
        for obj, values in zip(chunk, rows or [], strict=False):
            for field, value in zip(returning, values, strict=True):
                setattr(obj, field.attname, value)
            obj._state.adding = False
            obj._state.db = using


def update_rows(
    model: type[M],
    changes: Mapping[int, Mapping[str, Any]],
    *,
    pks: Sequence[int],
    constants: Mapping[str, Any] | None = None,
    using: str = "default",
) -> int:
    """One ``UPDATE ... SET col = CASE pk WHEN ... END`` over the rows ``pks``.

    ``changes`` maps a primary key to the new values of that row (rows and columns absent from
    it keep their value); ``constants`` are set on every row of ``pks``. Returns the number of
    rows updated.
    """
    if not pks:
        return 0
    opts = model._meta
    columns: dict[str, list[tuple[int, When]]] = {}
    for pk, values in changes.items():
        for name, value in values.items():
            field = opts.get_field(name)
            when = When(pk=pk, then=Value(value, output_field=field))  # type: ignore[arg-type]
            columns.setdefault(name, []).append((pk, when))
    per_row = 2 * sum(len(w) for w in columns.values()) // max(len(changes), 1) + 1
    limit = max(max_parameters(using) // per_row - len(constants or {}), 1)
    casts = connections[using].features.requires_casted_case_in_updates
    updated = 0
    for chunk in _chunks(list(pks), limit):
        members = set(chunk)
        assignments: dict[str, Any] = dict(constants or {})
        for name, whens in columns.items():
            mine = [when for pk, when in whens if pk in members]
            if mine:
                field = cast(models.Field, opts.get_field(name))
                case = Case(*mine, default=F(name), output_field=field)
                assignments[name] = Cast(case, output_field=field) if casts else case
        if assignments:
            updated += model._base_manager.using(using).filter(pk__in=chunk).update(**assignments)
    return updated
