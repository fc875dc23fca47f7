"""Plumbing shared by the family mixins: what they need from the core client, argument checks.

The mixins only build requests; sending, retrying, idempotency keys, tracing and error mapping
belong to the core client's ``_request``. The declarations below exist for type checkers only, so
a mixin never shadows the real ``_request`` in the method resolution order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from .. import _args as _core_args

__all__ = [
    "FamilyConfig",
    "FamilyMixinBase",
    "optional_params",
    "owner_params",
    "path_segment",
    "require_int",
    "require_payload",
    "require_str",
    "scope_params",
]


class FamilyConfig(Protocol):
    """The configuration fields the family mixins read (a subset of ``AxmeClientConfig``)."""

    @property
    def default_owner_agent(self) -> str | None: ...
    @property
    def mcp_endpoint_path(self) -> str: ...
    @property
    def mcp_protocol_version(self) -> str: ...
    @property
    def mcp_observer(self) -> Callable[[dict[str, Any]], None] | None: ...


class FamilyMixinBase:
    """Base class of every family mixin; the core client supplies ``_config`` and ``_request``."""

    if TYPE_CHECKING:
        _config: FamilyConfig

        def _request(
            self,
            method: str,
            path: str,
            *,
            params: Mapping[str, Any] | None = None,
            json_body: Any = None,
            idempotency_key: str | None = None,
            trace_id: str | None = None,
            retryable: bool | None = None,
            headers: Mapping[str, str] | None = None,
            owner_agent: str | None = None,
        ) -> dict[str, Any]: ...


def require_str(name: str, value: object) -> str:
    """Return ``value`` unchanged if it is a non-blank string; else ValueError naming it."""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a non-empty string, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    return value


def path_segment(name: str, value: object) -> str:
    """Check an identifier and percent-encode it as one URL path segment (the core client's
    rule, so every family encodes ids alike).

    Ordinary ids (letters, digits, ``-``, ``_``, ``.``, ``~``) come out unchanged, so the path is
    the one the official SDK builds; a ``/`` or ``?`` inside an id cannot reach another route.
    """
    return _core_args.path_segment(value, name)


def require_payload(name: str, value: object) -> dict[str, Any]:
    """Return a shallow copy of a mapping payload as a dict; anything else raises ValueError."""
    return _core_args.body_dict(value, name)


def require_int(name: str, value: object, *, minimum: int = 1) -> int:
    """Return ``value`` if it is an int (not a bool) of at least ``minimum``; else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def optional_params(**values: object) -> dict[str, str]:
    """Query parameters from keyword arguments, leaving out those that are None.

    Strings must be non-blank and integers positive (ValueError naming the argument otherwise);
    integers are sent in decimal, as the official SDK does.
    """
    params: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            params[name] = str(require_int(name, value))
        else:
            params[name] = require_str(name, value)
    return params


def owner_params(owner_agent: str | None) -> dict[str, str] | None:
    """The ``owner_agent`` query parameter when one is given, else None (no query string)."""
    if owner_agent is None:
        return None
    return {"owner_agent": require_str("owner_agent", owner_agent)}


def scope_params(org_id: str, workspace_id: str) -> dict[str, str]:
    """The ``org_id`` and ``workspace_id`` query parameters, both required and non-blank."""
    return {
        "org_id": require_str("org_id", org_id),
        "workspace_id": require_str("workspace_id", workspace_id),
    }
