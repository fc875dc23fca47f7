"""Service accounts family: machine identities and their API keys."""

from __future__ import annotations

from typing import Any

from ._base import FamilyMixinBase, optional_params, path_segment, require_payload, require_str


class ServiceAccountsMixin(FamilyMixinBase):
    def create_service_account(
        self,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/service-accounts``; the gateway also registers the account's agent address."""
        return self._request(
            "POST",
            "/v1/service-accounts",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def list_service_accounts(
        self,
        *,
        org_id: str,
        workspace_id: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``GET /v1/service-accounts?org_id=[&workspace_id=]``."""
        params = {"org_id": require_str("org_id", org_id)}
        params.update(optional_params(workspace_id=workspace_id))
        return self._request("GET", "/v1/service-accounts", params=params, trace_id=trace_id)

    def get_service_account(
        self,
        service_account_id: str,
        *,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``GET /v1/service-accounts/{service_account_id}``."""
        return self._request(
            "GET",
            f"/v1/service-accounts/{path_segment('service_account_id', service_account_id)}",
            trace_id=trace_id,
        )

    def create_service_account_key(
        self,
        service_account_id: str,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/service-accounts/{id}/keys``: the answer holds the key ``token`` once only."""
        sa = path_segment("service_account_id", service_account_id)
        return self._request(
            "POST",
            f"/v1/service-accounts/{sa}/keys",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def revoke_service_account_key(
        self,
        service_account_id: str,
        key_id: str,
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/service-accounts/{id}/keys/{key_id}/revoke`` (no body)."""
        sa = path_segment("service_account_id", service_account_id)
        key = path_segment("key_id", key_id)
        return self._request(
            "POST",
            f"/v1/service-accounts/{sa}/keys/{key}/revoke",
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )
