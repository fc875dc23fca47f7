"""The :class:`Emulator` facade: one gateway core plus simulated agents plus faults."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django_axme.emulator.agents import AgentHost, Script, parse_agent_spec
from django_axme.emulator.faults import FaultPlan
from django_axme.emulator.http_types import EmulatorRequest, EmulatorResponse
from django_axme.emulator.scheduler import Scheduler
from django_axme.emulator.webhook_delivery import WebhookDeliverer, WebhookFaults

if TYPE_CHECKING:  # pragma: no cover
    from django_axme.emulator.core import Gateway

__all__ = ["DEFAULT_API_KEY", "TERMINAL_STATUSES", "Emulator"]

#: The API key an :class:`Emulator` accepts unless told otherwise (service-account key format).
DEFAULT_API_KEY = "axme_sa_emulator_local-key"

TERMINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "CANCELED", "TIMED_OUT"})

AgentsConfig = Mapping[str, "Script | str"] | Iterable[str] | None


class Emulator:
    """A local AXME gateway: the :class:`~django_axme.emulator.core.Gateway` core, the simulated
    agents attached to addresses or intent types, and a :class:`FaultPlan`.

    ``agents`` is a mapping ``{match: script}`` (script objects or spec strings such as
    ``"approval:owner=agent://boss"``) or an iterable of ``"match=spec"`` strings; ``faults``
    is anything :meth:`FaultPlan.configure` accepts. ``webhooks`` are the options of the
    :class:`~django_axme.emulator.webhook_delivery.WebhookDeliverer` that POSTs signed webhook
    deliveries to subscriptions (``{"deliver_intent_events": True, "faults": {"drop": 0.1}}``;
    ``False`` turns delivery off). ``api_key=None`` (with no ``api_keys``)
    accepts any non-empty key. With the same seed, configuration and request order the emulator
    injects the same faults. Thread-safe. Call :meth:`close` (or use it as a context manager)
    to stop the agents' timer thread.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        api_key: str | None = DEFAULT_API_KEY,
        api_keys: Iterable[str] | None = None,
        agents: AgentsConfig = None,
        faults: Any = None,
        keepalive_seconds: float = 10.0,
        clock: Callable[[], datetime] | None = None,
        gateway: Gateway | None = None,
        webhooks: Mapping[str, Any] | bool = True,
    ) -> None:
        if api_keys is not None:
            keys: list[str] | None = [k for k in api_keys if k]
            if not keys:
                raise ValueError("api_keys must contain at least one non-empty key")
        elif api_key is not None:
            if not api_key:
                raise ValueError("api_key must be non-empty (or None to accept any key)")
            keys = [api_key]
        else:
            keys = None
        self.api_key: str = keys[0] if keys else DEFAULT_API_KEY
        self.api_keys = keys
        self.seed = seed
        if gateway is None:
            from django_axme.emulator.core import Gateway

            gateway = Gateway(api_keys=keys, clock=clock, keepalive_seconds=keepalive_seconds)
        self.gateway = gateway
        self.faults = FaultPlan(seed)
        self.scheduler = Scheduler()
        self.agents = AgentHost(gateway, self.scheduler)
        self.configure_agents(agents)
        self.faults.configure(faults)
        self.webhooks: WebhookDeliverer | None = None
        if webhooks is not False:
            options = dict(webhooks) if isinstance(webhooks, Mapping) else {}
            fault_options = options.pop("faults", None)
            if isinstance(fault_options, Mapping):
                fault_options = WebhookFaults(**{"seed": seed, **fault_options})
            self.webhooks = WebhookDeliverer(gateway, faults=fault_options, **options)

    def __repr__(self) -> str:
        return f"<Emulator seed={self.seed} agents={len(self.agents.attached())}>"

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the simulated agents (pending steps are dropped) and their timer thread.
        Idempotent."""
        self.agents.close()
        self.scheduler.close()
        if self.webhooks is not None:
            self.webhooks.close()

    # -- front door ------------------------------------------------------------------------
    def handle(self, req: EmulatorRequest) -> EmulatorResponse:
        """Answer one request: faults first, then the gateway.

        Raises :class:`~django_axme.emulator.faults.GatewayUnavailable` while an injected
        restart keeps the gateway down (front doors drop the connection).
        """
        return self.faults.apply(req, self.gateway.handle)

    # -- agents ----------------------------------------------------------------------------
    def configure_agents(self, agents: AgentsConfig) -> None:
        """Attach scripts from a ``{match: script}`` mapping or ``"match=spec"`` strings."""
        if not agents:
            return
        if isinstance(agents, Mapping):
            for match, script in agents.items():
                self.attach_agent(match, script)
            return
        if isinstance(agents, str):
            agents = [agents]
        for spec in agents:
            match, script = parse_agent_spec(spec)
            self.attach_agent(match, script)

    def attach_agent(self, match: str, script: Script | str) -> Script:
        """Play the agent at ``match`` (a ``to_agent`` address or an ``intent_type``) with
        ``script`` for every intent created from now on. Returns the script."""
        return self.agents.attach(match, script)

    def serve_agent(self, address: str) -> None:
        """Leave ``address`` to a real agent listening on its stream (a Django project with
        ``django_axme.agent``): no simulated script runs for intents addressed to it."""
        self.agents.serve(address)

    def detach_agent(self, match: str) -> None:
        """Stop playing the agent at ``match`` for new intents."""
        self.agents.detach(match)

    # -- control API (forwarded to the gateway) --------------------------------------------
    def create_intent(
        self, body: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Create an intent as ``POST /v1/intents`` would (a ``correlation_id`` is generated
        when missing); returns the create answer."""
        data = dict(body)
        data.setdefault("correlation_id", str(uuid.uuid4()))
        return self.gateway.create_intent(data, idempotency_key=idempotency_key)

    def get_intent(self, intent_id: str) -> dict[str, Any]:
        """The intent object (as in ``GET /v1/intents/{id}`` -> ``intent``)."""
        return self.gateway.get_intent(intent_id)

    def events(self, intent_id: str, since: int = 0) -> list[dict[str, Any]]:
        """The intent's events with ``seq > since``, ascending."""
        return self.gateway.events(intent_id, since=since)

    def transition(self, intent_id: str, status: str, **kwargs: Any) -> dict[str, Any]:
        """Move the intent to ``status`` (lifecycle-checked by the gateway); returns the event."""
        return self.gateway.transition(intent_id, status, **kwargs)

    def resolve(self, intent_id: str, status: str = "COMPLETED", **kwargs: Any) -> dict[str, Any]:
        """Finish the intent (COMPLETED by default) as ``POST .../resolve`` would."""
        return self.gateway.resolve(intent_id, status, **kwargs)

    def fail(
        self,
        intent_id: str,
        message: str = "failed by the emulator",
        *,
        code: str = "internal_error",
        category: str = "internal",
        retryable: bool = False,
    ) -> dict[str, Any]:
        """Resolve the intent as FAILED with an ``intent.error.v1`` error object."""
        from django_axme.emulator.agents import _error

        return self.gateway.resolve(
            intent_id, "FAILED", error=_error(code, message, category, retryable=retryable)
        )

    def advance(self, intent_id: str) -> str:
        """Run the next step of the intent's script now (see :meth:`AgentHost.advance`);
        returns the new status."""
        return self.agents.advance(intent_id)

    def wait_for_status(
        self,
        intent_id: str,
        statuses: str | Iterable[str] = TERMINAL_STATUSES,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """Block until the intent's status is one of ``statuses``; returns the intent.

        Raises ``TimeoutError`` naming the last status seen.
        """
        wanted = {statuses} if isinstance(statuses, str) else set(statuses)
        deadline = time.monotonic() + timeout
        while True:
            intent = self.gateway.get_intent(intent_id)
            if intent["status"] in wanted:
                return intent
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"intent {intent_id} is {intent['status']}, not {sorted(wanted)}, "
                    f"after {timeout}s"
                )
            last = self.gateway.events(intent_id)
            since = last[-1]["seq"] if last else 0
            self.gateway.wait_for_events(intent_id, since, min(left, 0.5))
