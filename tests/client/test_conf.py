"""The configured client: settings resolution, laziness, threads, fork, override_settings."""

from __future__ import annotations

import multiprocessing
import threading

import pytest
from django.test import override_settings

from django_axme import conf
from django_axme.client import AxmeClient


@pytest.fixture(autouse=True)
def _fresh_client():
    conf.reset_client()
    yield
    conf.reset_client()


SETTINGS = {"API_KEY": "axme_sa_conf_key", "BASE_URL": "https://gw.example"}


def test_get_setting_and_defaults() -> None:
    with override_settings(AXME={"MAX_RETRIES": 5}):
        assert conf.get_setting("MAX_RETRIES") == 5
        assert conf.get_setting("TIMEOUT_SECONDS") == 15.0
        merged = conf.axme_settings()
        assert merged["MAX_RETRIES"] == 5 and set(merged) == set(conf.DEFAULTS)
    with pytest.raises(KeyError, match="NOPE"):
        conf.get_setting("NOPE")


def test_unknown_key_at_runtime_suggests_the_closest() -> None:
    with pytest.raises(KeyError, match="did you mean 'MAX_RETRIES'"):
        conf.get_setting("MAX_RETRIE")
    with pytest.raises(KeyError) as info:
        conf.get_setting("ZZZ_NOTHING_LIKE_IT")
    assert "did you mean" not in str(info.value)


def test_axme_not_a_dict_is_refused_at_runtime_as_by_the_check() -> None:
    with override_settings(AXME=[("API_KEY", "k")]):
        with pytest.raises(conf.AxmeSettingsError, match=r"settings\.AXME must be a dict"):
            conf.get_setting("MAX_RETRIES")
        with pytest.raises(conf.AxmeSettingsError):
            conf.build_client()
    with override_settings(AXME=None):
        assert conf.get_setting("MAX_RETRIES") == 2


def test_axme_settings_names_every_refused_key() -> None:
    with (
        override_settings(AXME={**SETTINGS, "MAX_RETRIES": 11, "RETENTION_DAYS": 0}),
        pytest.raises(conf.AxmeSettingsError) as info,
    ):
        conf.axme_settings()
    assert "AXME['MAX_RETRIES'] must be <= 10" in str(info.value)
    assert "AXME['RETENTION_DAYS'] must be >= 1" in str(info.value)


def test_build_client_reads_only_the_client_settings() -> None:
    """A bad Celery setting fails where it is read, not every client call of the site."""
    with override_settings(AXME={**SETTINGS, "OBSERVER_LEASE_SECONDS": float("nan")}):
        client = conf.build_client()
        client.close()
        with pytest.raises(conf.AxmeSettingsError, match="OBSERVER_LEASE_SECONDS"):
            conf.get_setting("OBSERVER_LEASE_SECONDS")


def test_build_client_passes_settings() -> None:
    with override_settings(
        AXME={
            **SETTINGS,
            "TIMEOUT_SECONDS": 3,
            "CONNECT_TIMEOUT_SECONDS": 1,
            "MAX_RETRIES": 4,
            "POOL_MAXSIZE": 7,
            "AUTH_STYLE": "bearer",
            "DEFAULT_OWNER_AGENT": "agent://o",
            "AUTO_IDEMPOTENCY_KEY": False,
            "RETRY_BACKOFF_MAX_SECONDS": 2.5,
        }
    ):
        client = conf.build_client()
    c = client.config
    assert (c.base_url, c.api_key, c.timeout_seconds, c.connect_timeout_seconds) == (
        "https://gw.example",
        "axme_sa_conf_key",
        3.0,
        1.0,
    )
    assert (c.max_retries, c.pool_maxsize, c.auth_style, c.default_owner_agent) == (
        4,
        7,
        "bearer",
        "agent://o",
    )
    assert c.auto_idempotency_key is False and c.retry_backoff_max_seconds == 2.5
    assert c.max_response_bytes == 16 * 1024 * 1024  # the default
    from django_axme.ledger import DatabaseIdempotencyStore

    assert isinstance(c.idempotency_store, DatabaseIdempotencyStore)


@pytest.mark.parametrize(
    ("axme", "where"),
    [
        ({"BASE_URL": "https://gw.example"}, "AXME['API_KEY']: api_key"),
        # The table's validator speaks first: the same message as the system check.
        ({**SETTINGS, "BASE_URL": "gw.example"}, "AXME['BASE_URL'] is not a valid http(s) URL"),
        ({**SETTINGS, "MAX_RETRIES": -1}, "AXME['MAX_RETRIES'] must be >= 0, got -1."),
        ({**SETTINGS, "TIMEOUT_SECONDS": "soon"}, "AXME['TIMEOUT_SECONDS'] must be int or float"),
        # What only the client configuration knows still names the key.
        (
            {**SETTINGS, "AUTH_STYLE": "bearer", "ACTOR_TOKEN": "jwt"},
            "AXME['ACTOR_TOKEN']: actor_token cannot be combined",
        ),
    ],
)
def test_build_client_errors_name_the_setting(axme, where) -> None:
    from django.core.exceptions import ImproperlyConfigured

    with override_settings(AXME=axme), pytest.raises(ValueError) as info:
        conf.build_client()
    assert isinstance(info.value, ImproperlyConfigured)
    assert str(info.value).startswith(where)


def test_get_client_is_lazy_and_cached() -> None:
    with override_settings(AXME=SETTINGS):
        assert conf._client is None
        first = conf.get_client()
        assert isinstance(first, AxmeClient)
        assert conf.get_client() is first
        import django_axme

        assert django_axme.get_client() is first


def test_many_threads_get_one_instance(monkeypatch) -> None:
    built = []
    real_build = conf.build_client
    barrier = threading.Barrier(16)

    def slow_build():
        client = real_build()
        built.append(client)
        return client

    monkeypatch.setattr(conf, "build_client", slow_build)
    results: list[AxmeClient] = []
    lock = threading.Lock()

    def worker():
        barrier.wait()
        c = conf.get_client()
        with lock:
            results.append(c)

    with override_settings(AXME=SETTINGS):
        threads = [threading.Thread(target=worker) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(results) == 16
    assert len({id(c) for c in results}) == 1
    assert len(built) == 1


def _child_report(queue) -> None:
    conf.get_client()
    queue.put(conf._client_pid)


def test_forked_child_builds_its_own_client() -> None:
    with override_settings(AXME=SETTINGS):
        parent = conf.get_client()
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        process = ctx.Process(target=_child_report, args=(queue,))
        process.start()
        child_pid_seen = queue.get(timeout=30)
        process.join(30)
        assert process.exitcode == 0
        assert child_pid_seen == process.pid  # built in the child, not inherited
        assert conf.get_client() is parent  # the parent keeps its own


def test_rebuilt_when_axme_setting_changes() -> None:
    with override_settings(AXME=SETTINGS):
        first = conf.get_client()
        with override_settings(AXME={**SETTINGS, "BASE_URL": "https://other.example"}):
            second = conf.get_client()
            assert second is not first
            assert second.config.base_url == "https://other.example"
        third = conf.get_client()
        assert third is not second and third.config.base_url == "https://gw.example"


def test_other_settings_do_not_reset() -> None:
    with override_settings(AXME=SETTINGS):
        first = conf.get_client()
        with override_settings(TIME_ZONE="Europe/Paris"):
            assert conf.get_client() is first
