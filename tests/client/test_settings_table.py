"""The settings table: the one source of conf.DEFAULTS, the checks, the runtime and the docs.

The central test drives the system check and the runtime (``get_setting`` and, for client
settings, ``build_client``) from the same list of bad values, so the two cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import pytest
from django.test import override_settings

from django_axme import conf
from django_axme.checks import check_axme_settings
from django_axme.client import AxmeClientConfig
from django_axme.settings_table import BY_NAME, SETTINGS, first_problem, literal

ROOT = Path(__file__).resolve().parents[2]
GOOD = {"API_KEY": "axme_sa_table_S3CRET", "BASE_URL": "https://gw.example"}

# The values issue 12 found passing `manage.py check` and breaking every call, then more of
# the same kinds (non-finite, above a maximum, below a minimum, wrong element, credentials).
BAD_VALUES = [
    ("TIMEOUT_SECONDS", math.nan),
    ("TIMEOUT_SECONDS", math.inf),
    ("TIMEOUT_SECONDS", -math.inf),
    ("TIMEOUT_SECONDS", 301),
    ("TIMEOUT_SECONDS", 0),
    ("CONNECT_TIMEOUT_SECONDS", math.nan),
    ("CONNECT_TIMEOUT_SECONDS", 10**6),
    ("MAX_RETRIES", 10**9),
    ("MAX_RETRIES", 11),
    ("MAX_RETRIES", -1),
    ("MAX_RETRIES", 2.0),
    ("RETRY_BACKOFF_SECONDS", math.inf),
    ("RETRY_BACKOFF_MAX_SECONDS", math.nan),
    ("RETRY_BACKOFF_MAX_SECONDS", 10**4),
    ("POOL_MAXSIZE", 10**6),
    ("MAX_RESPONSE_BYTES", 1023),
    ("MAX_RESPONSE_BYTES", 2 * 1024**3),
    ("MAX_RESPONSE_BYTES", 16.0 * 1024 * 1024),
    ("MAX_RESPONSE_BYTES", True),
    ("OBSERVER_LEASE_SECONDS", math.nan),
    ("OBSERVER_LEASE_SECONDS", math.inf),
    ("OBSERVER_LEASE_SECONDS", 3601),
    ("OBSERVE_WINDOW_SECONDS", 10**9),
    ("OBSERVE_WINDOW_SECONDS", 61),
    ("IDEMPOTENCY_TTL_SECONDS", math.nan),
    ("TASK_MAX_RETRIES", 10**9),
    ("TASK_RETRY_BACKOFF_MAX_SECONDS", math.inf),
    ("RECONCILE_AFTER_SECONDS", math.nan),
    ("RETENTION_DAYS", 10**12),
    ("PRUNE_BATCH_SIZE", 10**7),
    ("OBSERVER_BATCH_SIZE", 10**6),
    ("INBOX_OWNER_AGENTS", [1, None]),
    ("INBOX_OWNER_AGENTS", ["agent://a", None]),
    ("INBOX_OWNER_AGENTS", "agent://a"),
    ("BASE_URL", "https://user:pass@gw.example"),
    ("BASE_URL", "https://token@gw.example"),
    ("BASE_URL", "gw.example"),
    ("AUTH_STYLE", "basic"),
    ("IDEMPOTENCY_MISMATCH", "ignore"),
    ("ADMIN_ALLOW_DELETE", 1),
]


def _check_errors(axme: dict) -> list:
    with override_settings(AXME=axme, DEBUG=True):
        return [m for m in check_axme_settings() if m.level >= 40]


@pytest.fixture(autouse=True)
def _fresh_client():
    conf.reset_client()
    yield
    conf.reset_client()


@pytest.mark.parametrize(("key", "value"), BAD_VALUES, ids=lambda v: repr(v)[:40])
def test_check_and_runtime_refuse_the_same_bad_values(key, value) -> None:
    axme = {**GOOD, key: value}
    errors = _check_errors(axme)
    assert errors, f"manage.py check accepts AXME[{key!r}] = {value!r}"
    assert all(f"AXME[{key!r}]" in e.msg for e in errors), [e.msg for e in errors]
    with override_settings(AXME=axme):
        with pytest.raises(conf.AxmeSettingsError) as info:
            conf.get_setting(key)
        assert str(info.value).startswith(f"AXME[{key!r}]")
        assert str(info.value) == errors[0].msg  # one validator, one message
        with pytest.raises(conf.AxmeSettingsError, match=re.escape(f"AXME[{key!r}]")):
            conf.axme_settings()
        if BY_NAME[key].client_field:
            with pytest.raises(conf.AxmeSettingsError) as info:
                conf.build_client()
            assert str(info.value).startswith(f"AXME[{key!r}]")


def _probe_values(setting) -> list:
    """Values on both sides of every rule of one setting, plus a few of other types."""
    values: list = [None, "", "x", True, 0, 1, -1, 1.5, math.nan, math.inf, [], ["a"], [1]]
    values.append(setting.default)
    values.extend(setting.choices)
    for bound in (setting.minimum, setting.maximum):
        if bound is not None:
            for delta in (-1, -0.5, 0, 0.5, 1):
                values.extend([bound + delta, int(bound + delta)])
    return values


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_check_passes_exactly_when_the_runtime_accepts(setting) -> None:
    """For every setting and a spread of values: no check error iff get_setting returns it.

    (API_KEY's "required" rule, axme.E001, has no runtime twin in get_setting: an unset key
    is refused by build_client, tested elsewhere.)
    """
    for value in _probe_values(setting):
        axme = {**GOOD, setting.name: value}
        errors = [e for e in _check_errors(axme) if e.id != "axme.E001"]
        with override_settings(AXME=axme):
            try:
                conf.get_setting(setting.name)
                runtime_ok = True
            except conf.AxmeSettingsError:
                runtime_ok = False
        assert runtime_ok == (not errors), (setting.name, value, [e.msg for e in errors])


def test_bounds_are_inclusive_and_documented_maxima_hold() -> None:
    chosen = {
        "TIMEOUT_SECONDS": 300,
        "CONNECT_TIMEOUT_SECONDS": 300,
        "MAX_RETRIES": 10,
        "RETRY_BACKOFF_SECONDS": 60,
        "RETRY_BACKOFF_MAX_SECONDS": 300,
        "POOL_MAXSIZE": 1000,
        "MAX_RESPONSE_BYTES": 1024**3,
        "MAX_SSE_EVENT_BYTES": 1024**3,
        "IDEMPOTENCY_TTL_SECONDS": 30 * 86400,
        "RETENTION_DAYS": 36500,
        "PRUNE_BATCH_SIZE": 10000,
        "TASK_MAX_RETRIES": 100,
        "TASK_RETRY_BACKOFF_MAX_SECONDS": 86400,
        "OBSERVE_WINDOW_SECONDS": 60,
        "OBSERVER_LEASE_SECONDS": 3600,
        "OBSERVER_BATCH_SIZE": 2000,
        "RECONCILE_AFTER_SECONDS": 7 * 86400,
        "OBSERVER_IDLE_AFTER_SECONDS": 86400,
        "OBSERVER_IDLE_SWEEP_SECONDS": 7 * 86400,
        "WEBHOOK_MAX_BODY_BYTES": 64 * 1024**2,
        "WEBHOOK_TOLERANCE_SECONDS": 86400,
        "WEBHOOK_REPROCESS_AFTER_SECONDS": 86400,
        "AGENT_WINDOW_SECONDS": 60,
        "AGENT_LEASE_SECONDS": 3600,
        "AGENT_JOB_LEASE_SECONDS": 86400,
        "AGENT_HEARTBEAT_SECONDS": 3600,
        "AGENT_LISTEN_SLICE_SECONDS": 86400,
    }
    assert {s.name: s.maximum for s in SETTINGS if s.maximum is not None} == chosen
    axme = {**GOOD, **chosen}
    assert _check_errors(axme) == []
    with override_settings(AXME=axme):
        assert conf.axme_settings()["MAX_RETRIES"] == 10
        client = conf.build_client()
    assert client.config.max_response_bytes == 1024**3
    client.close()


def test_every_number_refuses_nan_and_infinities() -> None:
    for setting in SETTINGS:
        if float in setting.types:
            for value in (math.nan, math.inf, -math.inf):
                assert first_problem(setting.name, value) is not None, (setting.name, value)
    # an int too large for a float is judged without OverflowError
    assert first_problem("RETENTION_DAYS", 10**400) is not None


def test_defaults_come_from_the_table_and_are_valid() -> None:
    assert {s.name: s.default for s in SETTINGS} == conf.DEFAULTS
    assert list(conf.DEFAULTS) == [s.name for s in SETTINGS]
    for setting in SETTINGS:
        assert first_problem(setting.name, setting.default) is None, setting.name
        assert setting.doc.strip() and "\n" not in setting.doc, setting.name
    assert conf.DEFAULTS["MAX_RESPONSE_BYTES"] == 16 * 1024 * 1024


def test_client_fields_exist_and_are_all_passed() -> None:
    fields = {f.name: f for f in dataclasses.fields(AxmeClientConfig)}
    mapped = [s for s in SETTINGS if s.client_field]
    for setting in mapped:
        assert setting.client_field in fields, setting.name
    overrides = {
        "ACTOR_TOKEN": "actor-jwt",
        "RETRY_BACKOFF_SECONDS": 0.5,
        "AUTO_TRACE_ID": False,
        "MAX_RESPONSE_BYTES": 4096,
        "DEFAULT_OWNER_AGENT": "agent://o",
    }
    with override_settings(AXME={**GOOD, **overrides}):
        config = conf.build_client().config
    for setting in mapped:
        expected = {**conf.DEFAULTS, **GOOD, **overrides}[setting.name]
        assert getattr(config, setting.client_field) == expected, setting.name


def test_messages_never_show_secrets_or_url_credentials() -> None:
    axme = {
        **GOOD,
        "BASE_URL": "https://me:hunter2@gw.example",
        "ACTOR_TOKEN": ["actor-S3CRET"],
    }
    texts = [f"{m.msg} {m.hint}" for m in _check_errors(axme)]
    with override_settings(AXME=axme), pytest.raises(conf.AxmeSettingsError) as info:
        conf.axme_settings()
    texts.append(str(info.value))
    malformed = {**GOOD, "BASE_URL": "ftp://me:hunter2@gw.example"}
    texts += [m.msg for m in _check_errors(malformed)]
    assert any("BASE_URL" in t for t in texts) and any("ACTOR_TOKEN" in t for t in texts)
    for text in texts:
        assert "hunter2" not in text and "S3CRET" not in text, text


def test_runtime_readers_refuse_what_the_check_refuses() -> None:
    """Code that reads a setting through get_setting (here the observer lease, the prune
    batch and the Celery backoff) meets AxmeSettingsError, never a NaN lease or a runaway."""
    from django_axme import tasks
    from django_axme.sync import leases, prune

    cases = [
        ("OBSERVER_LEASE_SECONDS", math.nan, lambda: leases._lease_seconds(None)),
        ("PRUNE_BATCH_SIZE", 10**7, lambda: prune.prune(dry_run=True)),
        ("TASK_RETRY_BACKOFF_MAX_SECONDS", math.inf, lambda: tasks._backoff_seconds(1, None)),
    ]
    for key, value, read in cases:
        with (
            override_settings(AXME={**GOOD, key: value}),
            pytest.raises(conf.AxmeSettingsError, match=key),
        ):
            read()


# --- the docs --------------------------------------------------------------------------

_HEADING = re.compile(r"^``([A-Z][A-Z0-9_]*)`` \(.*\)$")


def _documented_headings() -> dict[str, str]:
    text = (ROOT / "docs" / "settings.rst").read_text(encoding="utf-8")
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = _HEADING.match(line)
        if match:
            assert match.group(1) not in found, f"{match.group(1)} documented twice"
            found[match.group(1)] = line
    return found


def test_docs_document_every_setting_with_the_table_heading() -> None:
    documented = _documented_headings()
    assert set(documented) - set(BY_NAME) == set(), "documented but not in the table"
    assert set(BY_NAME) - set(documented) == set(), "in the table but not documented"
    for setting in SETTINGS:
        assert documented[setting.name] == setting.rst_heading(), (
            f"docs/settings.rst: expected the heading {setting.rst_heading()!r}"
        )


def test_docs_list_each_setting_under_its_section() -> None:
    text = (ROOT / "docs" / "settings.rst").read_text(encoding="utf-8")
    lines = text.splitlines()
    section = None
    seen: dict[str, str | None] = {}
    for line, underline in zip(lines, [*lines[1:], ""], strict=True):
        if underline and set(underline) == {"-"} and len(underline) >= len(line) > 0:
            section = line
        match = _HEADING.match(line)
        if match:
            seen[match.group(1)] = section
    assert seen == {s.name: s.section for s in SETTINGS}


def test_docs_list_every_check_id() -> None:
    emitted = {
        check_id
        for path in (ROOT / "django_axme").rglob("*.py")
        for check_id in re.findall(r'"(axme\.[EW]\d{3})"', path.read_text(encoding="utf-8"))
    }
    text = (ROOT / "docs" / "settings.rst").read_text(encoding="utf-8")
    documented = set(re.findall(r"^(axme\.[EW]\d{3})\s", text, flags=re.MULTILINE))
    assert emitted == documented


def test_literal_renders_defaults_as_the_docs_write_them() -> None:
    assert [literal(v) for v in ("x-api-key", None, 15.0, 2, True, [])] == [
        '"x-api-key"',
        "None",
        "15.0",
        "2",
        "True",
        "[]",
    ]
    assert BY_NAME["TIMEOUT_SECONDS"].rst_heading() == "``TIMEOUT_SECONDS`` (``15.0``; > 0, <= 300)"


def test_every_setting_read_in_the_package_is_declared() -> None:
    """Each ``get_setting("NAME")`` and ``settings.AXME["NAME"]``-style read in django_axme
    names a key of the table, so no feature reads a setting the checks do not know."""
    read: set[str] = set()
    for path in (ROOT / "django_axme").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        read |= set(re.findall(r"get_setting\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']", source))
        read |= set(re.findall(r"axme_settings\(\)\[[\"']([A-Z][A-Z0-9_]*)[\"']\]", source))
    assert read, "the pattern found no reader"
    assert read - set(BY_NAME) == set()
    assert {"OBSERVER_LEASE_SECONDS", "INBOX_OWNER_AGENTS", "TASK_MAX_RETRIES"} <= read
