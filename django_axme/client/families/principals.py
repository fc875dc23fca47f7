"""Principals and aliases families: who can receive deliveries, and the names they go by."""

from __future__ import annotations

from typing import Any

from ._base import (
    FamilyMixinBase,
    optional_params,
    path_segment,
    require_payload,
    require_str,
    scope_params,
)


class PrincipalsMixin(FamilyMixinBase):
    def create_principal(
        self,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/principals`` with ``{org_id, workspace_id, principal_type, ...}``."""
        return self._request(
            "POST",
            "/v1/principals",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def get_principal(self, principal_id: str, *, trace_id: str | None = None) -> dict[str, Any]:
        """``GET /v1/principals/{principal_id}``."""
        return self._request(
            "GET",
            f"/v1/principals/{path_segment('principal_id', principal_id)}",
            trace_id=trace_id,
        )


class AliasesMixin(FamilyMixinBase):
    def bind_alias(
        self,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/aliases`` with ``{principal_id, alias, alias_type, metadata?}``."""
        return self._request(
            "POST",
            "/v1/aliases",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def list_aliases(
        self,
        *,
        org_id: str,
        workspace_id: str,
        principal_id: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``GET /v1/aliases?org_id=&workspace_id=``; ``principal_id``, ``status`` and ``limit``
        (extensions over the official SDK, taken from the API reference) are sent only when given.
        """
        params = scope_params(org_id, workspace_id)
        params.update(optional_params(principal_id=principal_id, status=status, limit=limit))
        return self._request("GET", "/v1/aliases", params=params, trace_id=trace_id)

    def revoke_alias(
        self,
        alias_id: str,
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/aliases/{alias_id}/revoke`` (no body)."""
        return self._request(
            "POST",
            f"/v1/aliases/{path_segment('alias_id', alias_id)}/revoke",
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def resolve_alias(
        self,
        *,
        org_id: str,
        workspace_id: str,
        alias: str,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``GET /v1/aliases/resolve?org_id=&workspace_id=&alias=``: the principal behind it."""
        params = {
            "org_id": require_str("org_id", org_id),
            "workspace_id": require_str("workspace_id", workspace_id),
            "alias": require_str("alias", alias),
        }
        return self._request("GET", "/v1/aliases/resolve", params=params, trace_id=trace_id)
