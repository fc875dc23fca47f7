"""System checks on the AXME setting: each id triggered and not triggered."""

from __future__ import annotations

import pytest
from django.core import checks
from django.test import override_settings

from django_axme import conf
from django_axme.checks import EXPECTED_TYPES, check_axme_settings

GOOD = {"API_KEY": "axme_sa_x_y", "BASE_URL": "https://api.cloud.axme.ai"}


def ids(messages) -> list[str]:
    return sorted(m.id for m in messages)


def run(axme, debug: bool = False):
    with override_settings(AXME=axme, DEBUG=debug):
        return check_axme_settings()


def test_good_settings_pass() -> None:
    assert run(GOOD) == []


def test_registered_with_axme_tag() -> None:
    assert "axme" in checks.registry.registry.tags_available()
    with override_settings(AXME={"BASE_URL": "https://x.example"}):
        found = checks.run_checks(tags=["axme"])
    assert "axme.E001" in ids(found)


@pytest.mark.parametrize(
    "axme", [{"BASE_URL": "https://x"}, {**GOOD, "API_KEY": ""}, {**GOOD, "API_KEY": None}]
)
def test_e001_missing_api_key(axme) -> None:
    assert "axme.E001" in ids(run(axme))


@pytest.mark.parametrize(
    "url", ["api.axme.ai", "ftp://x", "https://", "https://h:abc", "https://h/?q=1"]
)
def test_e002_malformed_base_url(url) -> None:
    messages = run({**GOOD, "BASE_URL": url})
    assert ids(messages) == ["axme.E002"]
    assert "BASE_URL" in messages[0].msg


def test_w003_plain_http_without_debug() -> None:
    assert ids(run({**GOOD, "BASE_URL": "http://gw.example"})) == ["axme.W003"]
    assert run({**GOOD, "BASE_URL": "http://gw.example"}, debug=True) == []
    for local in (
        "http://localhost:8765",
        "http://127.0.0.1:8765",
        "http://[::1]:9",
        "http://emulator.localhost",
    ):
        assert run({**GOOD, "BASE_URL": local}) == [], local


def test_e004_unknown_key_with_suggestion() -> None:
    messages = run({**GOOD, "API_KY": "x", "TOTALLY_ELSE": 1})
    assert ids(messages) == ["axme.E004", "axme.E004"]
    hints = {m.msg: m.hint for m in messages}
    assert "Did you mean 'API_KEY'?" in hints["Unknown key 'API_KY' in AXME."]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("TIMEOUT_SECONDS", "15"),
        ("MAX_RETRIES", 2.5),
        ("MAX_RETRIES", True),
        ("AUTO_TRACE_ID", 1),
        ("INBOX_OWNER_AGENTS", "agent://x"),
        ("API_KEY", 123),
        ("BASE_URL", None),
    ],
)
def test_e005_wrong_type(key, value) -> None:
    messages = run({**GOOD, key: value})
    assert "axme.E005" in ids(messages)
    assert key in next(m for m in messages if m.id == "axme.E005").msg


def test_e005_accepts_int_for_float_and_none_for_optional() -> None:
    assert run({**GOOD, "TIMEOUT_SECONDS": 10, "ACTOR_TOKEN": None, "OBSERVER_QUEUE": None}) == []


@pytest.mark.parametrize(
    ("key", "value"), [("AUTH_STYLE", "basic"), ("IDEMPOTENCY_MISMATCH", "ignore")]
)
def test_e006_invalid_choice(key, value) -> None:
    messages = run({**GOOD, key: value})
    assert ids(messages) == ["axme.E006"]
    assert value in messages[0].msg


def test_e007_not_a_dict() -> None:
    assert ids(run([("API_KEY", "x")])) == ["axme.E007"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("MAX_RETRIES", -1),
        ("TIMEOUT_SECONDS", 0),
        ("POOL_MAXSIZE", 0),
        ("OBSERVE_WINDOW_SECONDS", 0),
        # upper bounds and non-finite numbers (issue 12)
        ("TIMEOUT_SECONDS", float("nan")),
        ("TIMEOUT_SECONDS", float("inf")),
        ("MAX_RETRIES", 10**9),
        ("OBSERVER_LEASE_SECONDS", float("nan")),
        ("OBSERVE_WINDOW_SECONDS", 10**9),
        ("TASK_MAX_RETRIES", 101),
        ("MAX_RESPONSE_BYTES", 1023),
        ("MAX_RESPONSE_BYTES", 1024**3 + 1),
    ],
)
def test_e008_out_of_range(key, value) -> None:
    messages = run({**GOOD, key: value})
    assert ids(messages) == ["axme.E008"]
    assert f"AXME[{key!r}]" in messages[0].msg


def test_e008_names_the_bound_and_hints_the_range() -> None:
    [message] = run({**GOOD, "MAX_RETRIES": 10**9})
    assert message.msg == "AXME['MAX_RETRIES'] must be <= 10, got 1000000000."
    assert ">= 0, <= 10" in message.hint
    [message] = run({**GOOD, "TIMEOUT_SECONDS": float("inf")})
    assert message.msg == "AXME['TIMEOUT_SECONDS'] must be a finite number, got inf."


def test_e005_list_elements() -> None:
    messages = run({**GOOD, "INBOX_OWNER_AGENTS": [1, None]})
    assert ids(messages) == ["axme.E005"]
    assert (
        messages[0].msg == "AXME['INBOX_OWNER_AGENTS'] must be a list of str, got int at index 0."
    )
    assert run({**GOOD, "INBOX_OWNER_AGENTS": ("agent://a", "agent://b")}) == []


@pytest.mark.parametrize("url", ["https://user:Zq9pw@gw.example", "https://Zq9tok@gw.example/p"])
def test_e002_credentials_in_base_url(url) -> None:
    messages = run({**GOOD, "BASE_URL": url})
    assert ids(messages) == ["axme.E002"]
    assert "credentials" in messages[0].msg and "user:password@" in messages[0].hint
    assert "Zq9" not in messages[0].msg


def test_e002_does_not_echo_credentials_of_a_malformed_url() -> None:
    [message] = run({**GOOD, "BASE_URL": "ftp://me:hunter2@gw.example"})
    assert message.id == "axme.E002" and "hunter2" not in message.msg
    assert "ftp://***@gw.example" in message.msg


def test_e009_actor_token_with_bearer_style() -> None:
    assert ids(run({**GOOD, "AUTH_STYLE": "bearer", "ACTOR_TOKEN": "jwt"})) == ["axme.E009"]
    assert run({**GOOD, "AUTH_STYLE": "bearer"}) == []


def test_w010_lease_not_longer_than_the_window() -> None:
    messages = run({**GOOD, "OBSERVER_LEASE_SECONDS": 20})
    assert ids(messages) == ["axme.W010"]
    assert "OBSERVER_LEASE_SECONDS" in messages[0].msg and "(25)" in messages[0].msg
    assert ids(run({**GOOD, "OBSERVER_LEASE_SECONDS": 6, "OBSERVE_WINDOW_SECONDS": 6})) == [
        "axme.W010"
    ]
    assert run({**GOOD, "OBSERVER_LEASE_SECONDS": 6, "OBSERVE_WINDOW_SECONDS": 3}) == []
    # a refused value is reported once, by E008, not again by W010
    assert ids(run({**GOOD, "OBSERVER_LEASE_SECONDS": float("nan")})) == ["axme.E008"]


def test_type_table_covers_defaults_and_tolerates_new_keys(monkeypatch) -> None:
    assert set(EXPECTED_TYPES) <= set(conf.DEFAULTS)
    monkeypatch.setitem(conf.DEFAULTS, "SOME_NEW_KEY", object())
    assert run({**GOOD, "SOME_NEW_KEY": {"anything": 1}}) == []


def test_checks_need_neither_database_nor_network(monkeypatch) -> None:
    """pytest-django blocks database access in tests without the django_db mark, and here
    every socket connection fails: the checks still run."""
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("system checks must not use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert ids(run({**GOOD, "API_KY": 1, "BASE_URL": "http://gw.example"})) == [
        "axme.E004",
        "axme.W003",
    ]
