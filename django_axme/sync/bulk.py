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
    rows: Sequence[M],
    fields: Sequence[str],
    *,
    constants: Mapping[str, Any] | None = None,
    using: str = "default",
) -> int:
    """Write ``fields`` of the saved instances ``rows`` (their in-memory values) and set
    ``constants`` on all of them, in one ``UPDATE ... FROM (VALUES ...)`` statement (as many
    as the parameter limit needs). Returns the number of rows updated.

    PostgreSQL and SQLite (3.33+); any other database gets Django's ``bulk_update``.
    """
    if not rows:
        return 0
    connection = connections[using]
    ops = connection.ops
    opts = model._meta
    columns = [cast(models.Field, opts.get_field(name)) for name in fields]
    fixed = [(cast(models.Field, opts.get_field(n)), v) for n, v in (constants or {}).items()]
    if connection.vendor not in ("postgresql", "sqlite"):
        for field, value in fixed:
            for row in rows:
                setattr(row, field.attname, value)
        return model._base_manager.using(using).bulk_update(
            rows, [f.name for f in columns] + [f.name for f, _ in fixed]
        )
    postgres = connection.vendor == "postgresql"
    pk = opts.pk
    table = ops.quote_name(opts.db_table)
    every = [pk, *columns]

    def placeholder(field: models.Field) -> str:
        return f"%s::{field.cast_db_type(connection)}" if postgres else "%s"

    def col(field: models.Field) -> str:
        return str(ops.quote_name(str(field.column)))

    row_sql = "(" + ", ".join(placeholder(f) for f in every) + ")"
    if postgres:
        names = ", ".join(col(f) for f in every)
        source = lambda i: f"v.{col(every[i])}"  # noqa: E731
        alias = f"AS v({names})"
    else:
        source = lambda i: f"v.column{i + 1}"  # noqa: E731
        alias = "AS v"
    assignments = [f"{col(f)} = {source(i + 1)}" for i, f in enumerate(columns)]
    assignments += [f"{col(f)} = %s" for f, _ in fixed]
    fixed_params = [f.get_db_prep_save(v, connection) for f, v in fixed]
    updated = 0
    per_row = len(every)
    size = max((max_parameters(using) - len(fixed_params)) // per_row, 1)
    with connection.cursor() as cursor:
        for chunk in _chunks(rows, size):
            params: list[Any] = list(fixed_params)
            for row in chunk:
                params.extend(
                    f.get_db_prep_save(getattr(row, f.attname), connection) for f in every
                )
            # Identifiers come from the model's metadata, every value is a parameter.
            sql = (
                f"UPDATE {table} SET {', '.join(assignments)} "  # noqa: S608
                f"FROM (VALUES {', '.join([row_sql] * len(chunk))}) {alias} "
                f"WHERE {table}.{col(pk)} = {source(0)}"
            )
            cursor.execute(sql, params)
            updated += cursor.rowcount
    for field, value in fixed:
        for row in rows:
            setattr(row, field.attname, value)
    return updated
