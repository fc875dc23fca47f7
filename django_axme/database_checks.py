"""System check of the database settings: SQLite without the options django-axme needs.

The web server, the Celery worker (observers, beat tasks) and ``manage.py`` commands all
write the mirror. With Django's default SQLite settings (rollback journal, deferred
transactions, a 5 s busy timeout) one of them soon meets ``database is locked``. The
quickstart recommends, for every SQLite database::

    "OPTIONS": {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

:func:`check_sqlite_options` warns (``axme.W020``) when the ``default`` database is SQLite
without them. It reads settings only; it never opens a connection.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Warning, register

__all__ = ["MIN_SQLITE_TIMEOUT", "SQLITE_OPTIONS_ID", "check_sqlite_options", "sqlite_problems"]

SQLITE_OPTIONS_ID = "axme.W020"
#: Seconds a writer waits for the lock before ``database is locked`` (sqlite3's default is 5).
MIN_SQLITE_TIMEOUT = 20.0

_WAL = re.compile(r"journal_mode\s*=\s*'?wal'?", re.IGNORECASE)


def sqlite_problems(database: Mapping[str, Any]) -> list[str]:
    """What a SQLite ``DATABASES`` entry lacks of the recommended options (empty when it has
    them all, when it is not SQLite, or when it is an in-memory database)."""
    if not str(database.get("ENGINE", "")).endswith("sqlite3"):
        return []
    name = str(database.get("NAME") or "")
    if not name or name == ":memory:" or "mode=memory" in name:
        return []
    options = database.get("OPTIONS") or {}
    problems = []
    timeout = options.get("timeout")
    if not isinstance(timeout, (int, float)) or timeout < MIN_SQLITE_TIMEOUT:
        problems.append(f'"timeout": {MIN_SQLITE_TIMEOUT:g} (or more)')
    if str(options.get("transaction_mode", "")).upper() != "IMMEDIATE":
        problems.append('"transaction_mode": "IMMEDIATE"')
    if not _WAL.search(str(options.get("init_command", ""))):
        problems.append('"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"')
    return problems


@register("axme")
def check_sqlite_options(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``axme.W020`` when ``DATABASES["default"]`` is a SQLite file without a busy timeout of
    at least 20 s, ``IMMEDIATE`` transactions and the WAL journal (see the quickstart)."""
    databases = getattr(settings, "DATABASES", None) or {}
    problems = sqlite_problems(databases.get("default") or {})
    if not problems:
        return []
    return [
        Warning(
            "The default database is SQLite without the options django-axme needs when a "
            "web server, a Celery worker and commands write at once: expect 'database is "
            "locked' errors.",
            hint="Add to DATABASES['default']['OPTIONS']: "
            + ", ".join(problems)
            + ". See the quickstart (SQLite).",
            id=SQLITE_OPTIONS_ID,
        )
    ]
