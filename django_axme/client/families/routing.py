"""Routing and transports families: where deliveries for a principal go, and over what."""

from __future__ import annotations

from typing import Any

from ._base import (
    FamilyMixinBase,
    optional_params,
    path_segment,
    require_payload,
    scope_params,
)


class RoutingMixin(FamilyMixinBase):
    def register_routing_endpoint(
        self,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/routing/endpoints`` (principal, transport, URL, auth mode)."""
        return self._request(
            "POST",
            "/v1/routing/endpoints",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def list_routing_endpoints(
        self,
        *,
        org_id: str,
        workspace_id: str,
        principal_id: str | None = None,
        limit: int | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``GET /v1/routing/endpoints?org_id=&workspace_id=``; ``principal_id`` and ``limit``
        (extensions over the official SDK) are sent only when given.
        """
        params = scope_params(org_id, workspace_id)
        params.update(optional_params(principal_id=principal_id, limit=limit))
        return self._request("GET", "/v1/routing/endpoints", params=params, trace_id=trace_id)

    def update_routing_endpoint(
        self,
        route_id: str,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``PATCH /v1/routing/endpoints/{route_id}``."""
        return self._request(
            "PATCH",
            f"/v1/routing/endpoints/{path_segment('route_id', route_id)}",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def remove_routing_endpoint(
        self, route_id: str, *, trace_id: str | None = None
    ) -> dict[str, Any]:
        """``DELETE /v1/routing/endpoints/{route_id}``."""
        return self._request(
            "DELETE",
            f"/v1/routing/endpoints/{path_segment('route_id', route_id)}",
            trace_id=trace_id,
        )

    def resolve_routing(
        self,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/routing/resolve`` with ``{org_id, workspace_id, alias | principal_id}``."""
        return self._request(
            "POST",
            "/v1/routing/resolve",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )


class TransportsMixin(FamilyMixinBase):
    def upsert_transport_binding(
        self,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/transports/bindings`` (principal, transport type, handle)."""
        return self._request(
            "POST",
            "/v1/transports/bindings",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def list_transport_bindings(
        self,
        *,
        org_id: str,
        workspace_id: str,
        principal_id: str | None = None,
        limit: int | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``GET /v1/transports/bindings?org_id=&workspace_id=``; ``principal_id`` and ``limit``
        (extensions over the official SDK) are sent only when given.
        """
        params = scope_params(org_id, workspace_id)
        params.update(optional_params(principal_id=principal_id, limit=limit))
        return self._request("GET", "/v1/transports/bindings", params=params, trace_id=trace_id)

    def remove_transport_binding(
        self, binding_id: str, *, trace_id: str | None = None
    ) -> dict[str, Any]:
        """``DELETE /v1/transports/bindings/{binding_id}``."""
        return self._request(
            "DELETE",
            f"/v1/transports/bindings/{path_segment('binding_id', binding_id)}",
            trace_id=trace_id,
        )
