"""The pytest plugin: fixtures, marker, settings fixture, and availability in a fresh project."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import requests

from .helpers import WORKER, create, headers

pytest_plugins = ["pytester"]


def test_live_handle(axme_emulator):
    assert axme_emulator.url.startswith("http://127.0.0.1:")
    assert axme_emulator.server.port != 0
    r = requests.get(f"{axme_emulator.url}/health", headers=headers(axme_emulator.api_key))
    assert r.status_code == 200
    assert axme_emulator.gateway is axme_emulator.emulator.gateway


def test_mock_handle_answers_without_sockets(axme_mock, monkeypatch):
    import socket

    def no_sockets(*args, **kwargs):
        raise AssertionError("the mock opened a socket")

    monkeypatch.setattr(socket, "create_connection", no_sockets)
    intent_id = create(axme_mock.url, axme_mock.api_key)
    assert axme_mock.get_intent(intent_id)["status"] == "SUBMITTED"
    assert len(axme_mock.rsps.calls) == 1
    with pytest.raises(RuntimeError, match="live axme_emulator"):
        axme_mock.restart()


def test_axme_agents_fixture_can_be_overridden(pytester):
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def axme_agents():
            return {"agent://conf/worker": "worker"}
        """
    )
    pytester.makepyfile(
        """
        import pytest

        def test_it(axme_mock):
            i = axme_mock.create_intent({"intent_type": "a.b.v1", "from_agent": "agent://s",
                                         "to_agent": "agent://conf/worker", "payload": {}})
            assert axme_mock.wait_for_status(i["intent_id"], timeout=5)["status"] == "COMPLETED"

        @pytest.mark.axme(agents={"agent://conf/worker": "failing"})
        def test_marker_overrides(axme_mock):
            i = axme_mock.create_intent({"intent_type": "a.b.v1", "from_agent": "agent://s",
                                         "to_agent": "agent://conf/worker", "payload": {}})
            assert axme_mock.wait_for_status(i["intent_id"], timeout=5)["status"] == "FAILED"

        @pytest.mark.axme(colour="red")
        def test_bad_marker(axme_mock):
            pass
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:django", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*unknown option(s) of @pytest.mark.axme: colour*"])


def test_axme_settings_live(axme_settings):
    from django.conf import settings

    from django_axme.conf import get_client

    assert settings.AXME["BASE_URL"] == axme_settings.url
    assert settings.AXME["API_KEY"] == axme_settings.api_key
    assert get_client().health()["ok"] is True


def test_axme_settings_prefers_the_mock(axme_mock, axme_settings):
    from django_axme.conf import get_client

    assert axme_settings is axme_mock
    intent_id = get_client().send_intent(
        {"intent_type": "a.b.v1", "from_agent": "agent://s", "to_agent": WORKER, "payload": {}}
    )
    assert axme_mock.get_intent(intent_id)["to_agent"] == WORKER


def test_plugin_import_is_light():
    code = (
        "import sys, django_axme.emulator.pytest_plugin as p; "
        "heavy = [m for m in ('django.conf', 'requests', 'responses', "
        "'django_axme.emulator.core', 'django_axme.emulator.server') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


FRESH_TEST = """
import pytest
import requests


def test_live(axme_emulator):
    axme_emulator.attach_agent("agent://fresh/worker", "worker")
    r = requests.post(
        axme_emulator.url + "/v1/intents",
        headers={"x-api-key": axme_emulator.api_key},
        json={"intent_type": "fresh.job.v1",
              "correlation_id": "8b0e4bd4-4f44-4a0e-8a42-3a1f0c1f9b8c",
              "from_agent": "agent://fresh/me", "to_agent": "agent://fresh/worker", "payload": {}},
    )
    assert r.status_code == 200
    done = axme_emulator.wait_for_status(r.json()["intent_id"], timeout=5)
    assert done["status"] == "COMPLETED"


def test_mock(axme_mock):
    r = requests.get(axme_mock.url + "/health")
    assert r.json()["ok"] is True


@pytest.mark.axme(faults=[{"fault": "error_sequence", "method": "GET", "path": "/health",
                           "statuses": [503]}])
def test_marker(axme_emulator):
    assert requests.get(axme_emulator.url + "/health").status_code == 503
    assert requests.get(axme_emulator.url + "/health").status_code == 200


def test_settings_without_pytest_django(axme_settings):
    from django.conf import settings
    from django_axme.conf import get_client
    assert settings.AXME["BASE_URL"] == axme_settings.url
    assert get_client().health()["ok"] is True
"""

FRESH_CONFTEST = """
import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django_axme"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    AXME={"MAX_RETRIES": 0},
)
django.setup()
"""


def test_fixtures_work_in_a_fresh_project(tmp_path):
    (tmp_path / "test_fresh.py").write_text(textwrap.dedent(FRESH_TEST))
    (tmp_path / "conftest.py").write_text(FRESH_CONFTEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:django",
            "-p",
            "no:cacheprovider",
            "--strict-markers",
            "-q",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
