"""Set-based writes for the batched writer: one INSERT or one UPDATE per batch.

Django's ``bulk_create`` and ``bulk_update`` split a batch by the backend's conservative
parameter limit (999 on SQLite, so about a hundred event rows per query), which makes the
number of queries grow with the batch. These helpers send one statement per batch up to the
limit the database really enforces (:func:`max_parameters`): SQLite's
``SQLITE_LIMIT_VARIABLE_NUMBER`` of the open connection (32,766 on current builds) and no
limit on PostgreSQL (Django binds parameters on the client there). A batch beyond the limit
takes one more statement per limit's worth of parameters, never one per row.

On PostgreSQL a batch of plain values (text, numbers, booleans, dates, UUIDs, JSON) travels
as ONE parameter, the JSON of all its rows, read back by ``jsonb_to_recordset`` into the
columns' own types (:func:`_insert_values`, :func:`_update_recordset`): psycopg's client-side
binding quotes every value of Django's ``UNNEST`` arrays in Python and parses every
placeholder of a ``VALUES`` list, which made these statements the writer's largest cost.
Values are prepared exactly as Django prepares them (``pre_save``, ``get_db_prep_save``) and
the database refuses what it would refuse as a bound parameter (an over-long text, a NUL);
anything else (an expression, a binary or interval value, a JSON encoder) takes Django's path.

Both run in the caller's transaction; nothing here commits, retries or logs.
"""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, cast

from django.db import connections, models
from django.utils import timezone

from django_axme.exceptions import AxmeError

__all__ = [
    "converted_rows",
    "insert_plain",
    "insert_returning",
    "max_parameters",
    "update_rows",
    "update_values",
]

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
    connection = connections[using]
    direct = connection.vendor == "postgresql" and all(_json_ready(f) for f in fields)
    for chunk in _chunks(objs, max_parameters(using) // max(len(fields), 1)):
        rows = _insert_values(model, chunk, fields, returning, using) if direct else None
        if rows is None:
            rows = manager._insert(  # type: ignore[attr-defined]
                chunk, fields=fields, returning_fields=returning, using=using
            )
        for obj, values in zip(chunk, rows or [], strict=False):
            for field, value in zip(returning, values, strict=True):
                setattr(obj, field.attname, value)
            obj._state.adding = False
            obj._state.db = using


#: Internal types whose prepared values travel as JSON scalars (or, for ``JSONField``, as the
#: JSON itself) to :func:`_insert_values` and :func:`update_rows` on PostgreSQL.
_JSON_READY = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "BigIntegerField",
        "BooleanField",
        "CharField",
        "DateField",
        "DateTimeField",
        "DecimalField",
        "EmailField",
        "FloatField",
        "IntegerField",
        "JSONField",
        "PositiveBigIntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "SlugField",
        "SmallAutoField",
        "SmallIntegerField",
        "TextField",
        "URLField",
        "UUIDField",
    }
)


class _NotPlain(AxmeError):
    """A prepared value :func:`_plain` cannot put in JSON unchanged (internal)."""


def _json_ready(field: Any) -> bool:
    target = field.target_field if field.is_relation else field
    internal = target.get_internal_type()
    if internal not in _JSON_READY or hasattr(field, "get_placeholder"):
        return False
    return internal != "JSONField" or getattr(target, "encoder", None) is None


def _plain(value: Any) -> Any:
    """A value prepared by ``get_db_prep_save`` as a JSON value PostgreSQL reads back into the
    column's type exactly as it reads the driver's own parameter (text input functions)."""
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    dumps = getattr(value, "dumps", None)
    if hasattr(value, "obj") and dumps is json.dumps:  # psycopg's Json/Jsonb, Django's encoder
        return value.obj
    raise _NotPlain(type(value).__name__)


def _recordset(
    rows: Sequence[Sequence[Any]], fields: Sequence[Any], connection: Any
) -> tuple[str, str] | None:
    """The rows as one JSON document (``[{"c0": ..., "c1": ...}, ...]``) and the column list of
    ``jsonb_to_recordset(...) AS v(...)`` for it; ``None`` when a value is not plain."""
    try:
        doc = json.dumps(
            [{f"c{i}": _plain(v) for i, v in enumerate(row)} for row in rows],
            separators=(",", ":"),
            allow_nan=False,
        )
    except (_NotPlain, TypeError, ValueError):
        return None
    columns = ", ".join(
        f"c{i} {f.rel_db_type(connection) if f.primary_key else f.db_type(connection)}"
        for i, f in enumerate(fields)
    )
    return doc, columns


def _insert_values(
    model: type[M],
    objs: Sequence[M],
    fields: list[Any],
    returning: list[Any],
    using: str,
) -> list[tuple[Any, ...]] | None:
    """PostgreSQL: one ``INSERT ... SELECT ... FROM jsonb_to_recordset(%s) WITH ORDINALITY``
    (rows inserted and returned in the order given) whose one parameter is the JSON of every
    value, prepared exactly as Django's insert prepares it (``pre_save``, then
    ``get_db_prep_save``); the database converts each value with the column type's input
    function, as it does for a bound parameter. Django's own bulk insert sends one array per
    column through ``UNNEST``, which psycopg's client-side binding quotes in Python value by
    value (and a ``VALUES`` list makes psycopg parse a placeholder per value): several times
    slower for a batch. ``None`` (nothing sent) when a value is an expression or not plain
    JSON: the caller then lets Django insert the chunk."""
    connection = connections[using]
    now = timezone.now()
    stamped = [
        isinstance(f, models.DateTimeField) and bool(f.auto_now or f.auto_now_add) for f in fields
    ]
    values: list[list[Any]] = []
    for obj in objs:
        row = []
        for field, stamp in zip(fields, stamped, strict=True):
            if stamp:  # DateTimeField.pre_save, with one timezone.now() for the batch
                value = now
                setattr(obj, field.attname, now)
            else:
                value = field.pre_save(obj, True)
                if hasattr(value, "resolve_expression"):
                    return None
            row.append(field.get_db_prep_save(value, connection))
        values.append(row)
    ready = _recordset(values, fields, connection)
    if ready is None:
        return None
    return _insert_json(model, fields, ready, returning, connection)


def _insert_json(
    model: type[models.Model],
    fields: Sequence[Any],
    ready: tuple[str, str],
    returning: Sequence[Any],
    connection: Any,
) -> list[tuple[Any, ...]]:
    """The ``INSERT ... SELECT ... FROM jsonb_to_recordset`` of :func:`_insert_values`, for the
    JSON document and column list ``ready`` (from :func:`_recordset`); the returned rows in
    order, through the returned fields' converters."""
    doc, columns = ready
    qn = connection.ops.quote_name
    names = [f"v.c{i}" for i in range(len(fields))]
    sql = (
        f"INSERT INTO {qn(model._meta.db_table)} "  # noqa: S608 - names from the model
        f"({', '.join(qn(str(f.column)) for f in fields)}) "
        f"SELECT {', '.join(names)} FROM ROWS FROM (jsonb_to_recordset(%s::jsonb) "
        f"AS ({columns})) WITH ORDINALITY AS v({', '.join(n[2:] for n in names)}, n) "
        "ORDER BY v.n"
    )
    if returning:
        sql += " RETURNING " + ", ".join(qn(str(f.column)) for f in returning)
    with connection.cursor() as cursor:
        cursor.execute(sql, [doc])
        if not returning:
            return []
        found = cursor.fetchall()
    return converted_rows(model, returning, found, connection)


def converted_rows(
    model: type[models.Model], fields: Sequence[Any], found: Sequence[Any], connection: Any
) -> list[tuple[Any, ...]]:
    """Raw rows of ``fields`` (as a cursor returned them) turned into Python values the way
    the ORM would (each field's database converters: JSON decoded, aware datetimes...), in
    the order given."""
    cols = [f.get_col(model._meta.db_table) for f in fields]
    converters = [
        (i, connection.ops.get_db_converters(col) + col.get_db_converters(connection))
        for i, col in enumerate(cols)
    ]
    converters = [(i, funcs) for i, funcs in converters if funcs]
    out = []
    for r in found:
        items = list(r)
        for i, funcs in converters:
            for func in funcs:
                items[i] = func(items[i], cols[i], connection)
        out.append(tuple(items))
    return out


def insert_plain(
    model: type[models.Model],
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    using: str = "default",
) -> list[Any]:
    """Insert ``rows``, each the values of the fields ``names`` (attnames, e.g. ``intent_id``
    for a foreign key; every concrete field but the primary key, in any order) as a model
    instance would hold them, without building instances; returns the new primary keys in
    order. No ``pre_save`` hook runs (give ``auto_now`` fields their value). On PostgreSQL one
    ``INSERT ... FROM jsonb_to_recordset`` (see :func:`_insert_values`); elsewhere, or for a
    value that is not plain JSON, instances through :func:`insert_returning`."""
    if not rows:
        return []
    opts = model._meta
    fields = [cast(models.Field, opts.get_field(n)) for n in names]
    expected = {f.attname for f in opts.concrete_fields if not f.primary_key and not f.generated}
    if {f.attname for f in fields} != expected or len(fields) != len(expected):
        raise ValueError(f"name every field of {opts.label} but its primary key, once")
    connection = connections[using]
    pk = cast(models.Field, opts.pk)
    if connection.vendor == "postgresql" and all(_json_ready(f) for f in fields):
        prepared = [
            [f.get_db_prep_save(v, connection) for f, v in zip(fields, row, strict=True)]
            for row in rows
        ]
        ready = _recordset(prepared, fields, connection)
        if ready is not None:
            return [r[0] for r in _insert_json(model, fields, ready, [pk], connection)]
    attnames = [f.attname for f in fields]
    objs = [model(**dict(zip(attnames, row, strict=True))) for row in rows]
    insert_returning(model, objs, using=using)
    return [o.pk for o in objs]


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
    if postgres and all(_json_ready(f) for f in [pk, *columns]):
        done = _update_recordset(model, rows, columns, fixed, connection)
        if done is not None:
            return done
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


def _update_recordset(
    model: type[M],
    rows: Sequence[M],
    columns: list[Any],
    fixed: list[tuple[Any, Any]],
    connection: Any,
) -> int | None:
    """PostgreSQL: :func:`update_rows` as one ``UPDATE ... FROM jsonb_to_recordset(%s)``
    (:func:`_update_json`); ``None`` (nothing sent) when a value is not plain JSON."""
    every = [cast(models.Field, model._meta.pk), *columns]
    prepared = [
        [f.get_db_prep_save(getattr(row, f.attname), connection) for f in every] for row in rows
    ]
    ready = _recordset(prepared, every, connection)
    if ready is None:
        return None
    updated = _update_json(model, columns, ready, fixed, connection)
    for field, value in fixed:
        for row in rows:
            setattr(row, field.attname, value)
    return updated


def _update_json(
    model: type[models.Model],
    columns: list[Any],
    ready: tuple[str, str],
    fixed: list[tuple[Any, Any]],
    connection: Any,
) -> int:
    """One ``UPDATE ... FROM jsonb_to_recordset(%s)`` whose one parameter is the JSON of every
    row's prepared values (``ready``, from :func:`_recordset`: primary key first, then
    ``columns``), plus ``fixed`` (field, value) constants."""
    opts = model._meta
    pk = cast(models.Field, opts.pk)
    doc, types = ready
    qn = connection.ops.quote_name
    table = qn(opts.db_table)
    assignments = [f"{qn(str(f.column))} = v.c{i + 1}" for i, f in enumerate(columns)]
    assignments += [f"{qn(str(f.column))} = %s" for f, _ in fixed]
    params: list[Any] = [f.get_db_prep_save(v, connection) for f, v in fixed]
    params.append(doc)
    sql = (
        f"UPDATE {table} SET {', '.join(assignments)} "  # noqa: S608 - names from the model
        f"FROM jsonb_to_recordset(%s::jsonb) AS v({types}) "
        f"WHERE {table}.{qn(str(pk.column))} = v.c0"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def update_values(
    model: type[models.Model],
    rows: Mapping[Any, Mapping[str, Any]],
    constants: Mapping[str, Any] | None = None,
    *,
    using: str = "default",
) -> bool:
    """Set ``rows[pk]`` (field name -> value) and ``constants`` on each row ``pk`` of
    ``model``: on PostgreSQL one ``UPDATE ... FROM jsonb_to_recordset`` per distinct set of
    field names (see :func:`_insert_values`). Returns False (nothing written) on another
    database, or when a field or value does not travel as plain JSON: the caller then writes
    the rows its own way."""
    connection = connections[using]
    opts = model._meta
    pk = cast(models.Field, opts.pk)
    fixed = [(cast(models.Field, opts.get_field(n)), v) for n, v in (constants or {}).items()]
    groups: dict[tuple[str, ...], list[Any]] = {}
    for key, values in rows.items():
        groups.setdefault(tuple(values), []).append(key)
    fields = {n: cast(models.Field, opts.get_field(n)) for names in groups for n in names}
    if connection.vendor != "postgresql" or not all(
        _json_ready(f) for f in [pk, *fields.values(), *(f for f, _ in fixed)]
    ):
        return False
    plans = []
    for names, keys in groups.items():
        columns = [fields[n] for n in names]
        prepared = [
            [
                pk.get_db_prep_save(key, connection),
                *(f.get_db_prep_save(rows[key][f.name], connection) for f in columns),
            ]
            for key in keys
        ]
        ready = _recordset(prepared, [pk, *columns], connection)
        if ready is None:
            return False
        if columns or fixed:
            plans.append((columns, ready))
    for columns, ready in plans:
        _update_json(model, columns, ready, fixed, connection)
    return True
