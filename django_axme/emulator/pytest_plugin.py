"""pytest fixtures for projects that install django-axme (registered via ``pytest11``).

Fixtures:

``axme_emulator``
    A live emulator over real HTTP on an ephemeral port (:class:`EmulatorHandle`: ``.url``,
    ``.api_key``, ``.emulator``, ``.gateway``, ``.faults``, ``.attach_agent()``, ``.restart()``).
``axme_mock``
    The same handle, answered in-process through ``responses`` at ``http://axme.test``.
``axme_settings``
    Points ``settings.AXME`` (``BASE_URL``/``API_KEY``) at ``axme_mock`` when the test uses it,
    else at ``axme_emulator``, and resets django-axme's cached client before and after.
``axme_agents`` / ``axme_faults``
    Override these in a ``conftest.py`` to configure scripts and faults for many tests; the
    ``@pytest.mark.axme(agents=..., faults=..., seed=..., api_key=...)`` marker configures one
    test (its agents are added to, and override, the fixture's).

Nothing heavy is imported until a fixture runs; Django is imported only by ``axme_settings``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from django_axme.emulator.agents import Script
    from django_axme.emulator.emulator import Emulator
    from django_axme.emulator.faults import FaultPlan
    from django_axme.emulator.server import EmulatorServer

MARKER = (
    "axme(agents=None, faults=None, seed=0, api_key=None, keepalive_seconds=None): configure the "
    "AXME emulator fixtures (axme_emulator, axme_mock, axme_settings) for this test"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)


class EmulatorHandle:
    """What the ``axme_emulator`` and ``axme_mock`` fixtures give a test."""

    def __init__(
        self,
        emulator: Emulator,
        url: str,
        *,
        server: EmulatorServer | None = None,
        rsps: Any = None,
    ) -> None:
        self.emulator = emulator
        self.url = url
        self.server = server
        self.rsps = rsps

    def __repr__(self) -> str:
        kind = "live" if self.server is not None else "mock"
        return f"<EmulatorHandle {kind} {self.url}>"

    @property
    def api_key(self) -> str:
        return self.emulator.api_key

    @property
    def base_url(self) -> str:
        return self.url

    @property
    def gateway(self) -> Any:
        return self.emulator.gateway

    @property
    def faults(self) -> FaultPlan:
        return self.emulator.faults

    def attach_agent(self, match: str, script: Script | str) -> Script:
        """Play the agent at ``match`` (``to_agent`` or ``intent_type``) with ``script``."""
        return self.emulator.attach_agent(match, script)

    def restart(self, downtime: float = 0.0) -> None:
        """Restart the HTTP server on the same port, keeping state (live handle only)."""
        if self.server is None:
            raise RuntimeError("restart() needs the live axme_emulator fixture, not axme_mock")
        self.server.restart(downtime)

    def client(self, **config: Any) -> Any:
        """A ``django_axme.client.AxmeClient`` configured for this emulator."""
        from django_axme.client import AxmeClient, AxmeClientConfig

        config.setdefault("base_url", self.url)
        config.setdefault("api_key", self.api_key)
        return AxmeClient(AxmeClientConfig(**config))

    # control API shortcuts
    def create_intent(self, body: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self.emulator.create_intent(body, **kwargs)

    def get_intent(self, intent_id: str) -> dict[str, Any]:
        return self.emulator.get_intent(intent_id)

    def events(self, intent_id: str, since: int = 0) -> list[dict[str, Any]]:
        return self.emulator.events(intent_id, since)

    def advance(self, intent_id: str) -> str:
        return self.emulator.advance(intent_id)

    def resolve(self, intent_id: str, status: str = "COMPLETED", **kwargs: Any) -> dict[str, Any]:
        return self.emulator.resolve(intent_id, status, **kwargs)

    def fail(
        self, intent_id: str, message: str = "failed by the emulator", **kwargs: Any
    ) -> dict[str, Any]:
        return self.emulator.fail(intent_id, message, **kwargs)

    def transition(self, intent_id: str, status: str, **kwargs: Any) -> dict[str, Any]:
        return self.emulator.transition(intent_id, status, **kwargs)

    def wait_for_status(
        self, intent_id: str, statuses: Any = None, timeout: float = 10.0
    ) -> dict[str, Any]:
        if statuses is None:
            return self.emulator.wait_for_status(intent_id, timeout=timeout)
        return self.emulator.wait_for_status(intent_id, statuses, timeout=timeout)


@pytest.fixture
def axme_agents() -> Mapping[str, Any]:
    """Scripts for the emulator fixtures, ``{match: script or spec}``; override in conftest."""
    return {}


@pytest.fixture
def axme_faults() -> Any:
    """Faults for the emulator fixtures (anything ``FaultPlan.configure`` accepts); override
    in conftest."""
    return None


def _build_emulator(
    request: pytest.FixtureRequest, agents: Mapping[str, Any], faults: Any
) -> Emulator:
    from django_axme.emulator.emulator import DEFAULT_API_KEY, Emulator

    marker = request.node.get_closest_marker("axme")
    options: dict[str, Any] = dict(marker.kwargs) if marker else {}
    unknown = set(options) - {"agents", "faults", "seed", "api_key", "keepalive_seconds"}
    if unknown:
        raise pytest.UsageError(
            f"unknown option(s) of @pytest.mark.axme: {', '.join(sorted(unknown))}"
        )
    merged_agents = dict(agents or {})
    merged_agents.update(options.get("agents") or {})
    emulator = Emulator(
        seed=options.get("seed") or 0,
        api_key=options.get("api_key") or DEFAULT_API_KEY,
        agents=merged_agents,
        keepalive_seconds=options.get("keepalive_seconds") or 10.0,
    )
    emulator.faults.configure(faults)
    emulator.faults.configure(options.get("faults"))
    return emulator


@pytest.fixture
def axme_emulator(
    request: pytest.FixtureRequest, axme_agents: Mapping[str, Any], axme_faults: Any
) -> Iterator[EmulatorHandle]:
    """A live AXME emulator over real HTTP on 127.0.0.1 and an ephemeral port."""
    from django_axme.emulator.server import EmulatorServer

    emulator = _build_emulator(request, axme_agents, axme_faults)
    server = EmulatorServer(emulator, host="127.0.0.1", port=0).start()
    try:
        yield EmulatorHandle(emulator, server.url, server=server)
    finally:
        server.stop()
        emulator.close()


@pytest.fixture
def axme_mock(
    request: pytest.FixtureRequest, axme_agents: Mapping[str, Any], axme_faults: Any
) -> Iterator[EmulatorHandle]:
    """An in-process AXME emulator answering ``requests`` calls to ``http://axme.test``."""
    from django_axme.emulator.mock import DEFAULT_MOCK_URL, mock_gateway

    emulator = _build_emulator(request, axme_agents, axme_faults)
    try:
        with mock_gateway(emulator, DEFAULT_MOCK_URL) as rsps:
            yield EmulatorHandle(emulator, DEFAULT_MOCK_URL, rsps=rsps)
    finally:
        emulator.close()


@pytest.fixture
def axme_settings(request: pytest.FixtureRequest) -> Iterator[EmulatorHandle]:
    """Point ``settings.AXME`` at the test's emulator (``axme_mock`` if requested, else
    ``axme_emulator``) and reset django-axme's cached client around the test."""
    name = "axme_mock" if "axme_mock" in request.fixturenames else "axme_emulator"
    handle: EmulatorHandle = request.getfixturevalue(name)

    from django.conf import settings as django_settings

    from django_axme.conf import reset_client

    current = dict(getattr(django_settings, "AXME", None) or {})
    current.update({"BASE_URL": handle.url, "API_KEY": handle.api_key})
    try:
        pytest_django_settings = request.getfixturevalue("settings")
    except pytest.FixtureLookupError:
        pytest_django_settings = None
    override = None
    if pytest_django_settings is not None:
        pytest_django_settings.AXME = current
    else:
        from django.test import override_settings

        override = override_settings(AXME=current)
        override.enable()
    reset_client()
    try:
        yield handle
    finally:
        if override is not None:
            override.disable()
        reset_client()
