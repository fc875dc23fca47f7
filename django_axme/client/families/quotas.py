"""Quotas and usage families: per-workspace limits and what has been used against them."""

from __future__ import annotations

from typing import Any

from ._base import FamilyMixinBase, optional_params, require_payload, scope_params


class QuotasMixin(FamilyMixinBase):
    def update_quota(
        self,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``PATCH /v1/quotas`` with ``{org_id, workspace_id, dimensions, overage_mode, ...}``."""
        return self._request(
            "PATCH",
            "/v1/quotas",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def get_quota(
        self, *, org_id: str, workspace_id: str, trace_id: str | None = None
    ) -> dict[str, Any]:
        """``GET /v1/quotas?org_id=&workspace_id=``."""
        return self._request(
            "GET", "/v1/quotas", params=scope_params(org_id, workspace_id), trace_id=trace_id
        )


class UsageMixin(FamilyMixinBase):
    def get_usage_summary(
        self,
        *,
        org_id: str,
        workspace_id: str,
        window: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``GET /v1/usage/summary?org_id=&workspace_id=[&window=day|week|month]``."""
        params = scope_params(org_id, workspace_id)
        params.update(optional_params(window=window))
        return self._request("GET", "/v1/usage/summary", params=params, trace_id=trace_id)

    def get_usage_timeseries(
        self,
        *,
        org_id: str,
        workspace_id: str,
        window_days: int | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``GET /v1/usage/timeseries?org_id=&workspace_id=[&window_days=]``."""
        params = scope_params(org_id, workspace_id)
        params.update(optional_params(window_days=window_days))
        return self._request("GET", "/v1/usage/timeseries", params=params, trace_id=trace_id)
