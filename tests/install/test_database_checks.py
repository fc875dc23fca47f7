"""``axme.W020``: a default SQLite database without the options the quickstart recommends."""

from __future__ import annotations

import pytest
from django.core import checks

from django_axme.database_checks import SQLITE_OPTIONS_ID, sqlite_problems

# The checks read settings.DATABASES only; nothing here opens a connection.
pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")

RECOMMENDED = {
    "timeout": 20,
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}


def sqlite(options=None, name="/srv/app/db.sqlite3"):
    db = {"ENGINE": "django.db.backends.sqlite3", "NAME": name}
    if options is not None:
        db["OPTIONS"] = options
    return db


def _ids(settings, database):
    settings.DATABASES = {**settings.DATABASES, "default": database}
    return [m.id for m in checks.run_checks(tags=["axme"]) if m.id and m.id.startswith("axme.")]


def test_startproject_sqlite_settings_warn(settings) -> None:
    settings.DATABASES = {**settings.DATABASES, "default": sqlite()}
    [warning] = [m for m in checks.run_checks(tags=["axme"]) if m.id == SQLITE_OPTIONS_ID]
    assert warning.level == checks.WARNING
    assert '"timeout"' in warning.hint and "IMMEDIATE" in warning.hint
    assert "journal_mode=WAL" in warning.hint


def test_recommended_options_do_not_warn(settings) -> None:
    assert SQLITE_OPTIONS_ID not in _ids(settings, sqlite(RECOMMENDED))


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("timeout", '"timeout"'),
        ("transaction_mode", "IMMEDIATE"),
        ("init_command", "journal_mode=WAL"),
    ],
)
def test_each_missing_option_is_named(missing, named) -> None:
    options = {k: v for k, v in RECOMMENDED.items() if k != missing}
    [problem] = sqlite_problems(sqlite(options))
    assert named in problem


def test_a_short_timeout_is_named() -> None:
    assert sqlite_problems(sqlite({**RECOMMENDED, "timeout": 5})) == ['"timeout": 20 (or more)']


@pytest.mark.parametrize(
    "database",
    [
        {"ENGINE": "django.db.backends.postgresql", "NAME": "app"},
        sqlite(name=":memory:"),
        sqlite(name="file:memdb1?mode=memory&cache=shared"),
    ],
    ids=["postgresql", "memory", "memory-uri"],
)
def test_other_databases_do_not_warn(settings, database) -> None:
    assert SQLITE_OPTIONS_ID not in _ids(settings, database)
