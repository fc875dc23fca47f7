"""Deliveries family: payloads sent to a principal over its routes, and their replay."""

from __future__ import annotations

from typing import Any

from ._base import (
    FamilyMixinBase,
    optional_params,
    path_segment,
    require_payload,
    scope_params,
)


class DeliveriesMixin(FamilyMixinBase):
    def submit_delivery(
        self,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/deliveries`` with ``{org_id, workspace_id, payload, alias | principal_id}``.

        The body may carry its own ``idempotency_key`` field; the ``idempotency_key`` argument
        goes in the ``Idempotency-Key`` header and does not change the body.
        """
        return self._request(
            "POST",
            "/v1/deliveries",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def list_deliveries(
        self,
        *,
        org_id: str,
        workspace_id: str,
        principal_id: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``GET /v1/deliveries?org_id=&workspace_id=[&principal_id=][&status=][&limit=]``
        (``limit`` is an extension over the official SDK)."""
        params = scope_params(org_id, workspace_id)
        params.update(optional_params(principal_id=principal_id, status=status, limit=limit))
        return self._request("GET", "/v1/deliveries", params=params, trace_id=trace_id)

    def get_delivery(self, delivery_id: str, *, trace_id: str | None = None) -> dict[str, Any]:
        """``GET /v1/deliveries/{delivery_id}``."""
        return self._request(
            "GET",
            f"/v1/deliveries/{path_segment('delivery_id', delivery_id)}",
            trace_id=trace_id,
        )

    def replay_delivery(
        self,
        delivery_id: str,
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/deliveries/{delivery_id}/replay`` (no body): a new delivery record whose
        ``replay_of_delivery_id`` is the original."""
        return self._request(
            "POST",
            f"/v1/deliveries/{path_segment('delivery_id', delivery_id)}/replay",
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )
