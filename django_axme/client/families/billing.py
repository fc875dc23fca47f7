"""Billing family: the workspace's plan and its invoices."""

from __future__ import annotations

from typing import Any

from ._base import (
    FamilyMixinBase,
    optional_params,
    path_segment,
    require_payload,
    scope_params,
)


class BillingMixin(FamilyMixinBase):
    def update_billing_plan(
        self,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``PATCH /v1/billing/plan`` with ``{org_id, workspace_id, plan_code, currency, ...}``."""
        return self._request(
            "PATCH",
            "/v1/billing/plan",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def get_billing_plan(
        self, *, org_id: str, workspace_id: str, trace_id: str | None = None
    ) -> dict[str, Any]:
        """``GET /v1/billing/plan?org_id=&workspace_id=``."""
        params = scope_params(org_id, workspace_id)
        return self._request("GET", "/v1/billing/plan", params=params, trace_id=trace_id)

    def list_billing_invoices(
        self,
        *,
        org_id: str,
        workspace_id: str,
        status: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``GET /v1/billing/invoices?org_id=&workspace_id=[&status=]``."""
        params = scope_params(org_id, workspace_id)
        params.update(optional_params(status=status))
        return self._request("GET", "/v1/billing/invoices", params=params, trace_id=trace_id)

    def get_billing_invoice(
        self, invoice_id: str, *, trace_id: str | None = None
    ) -> dict[str, Any]:
        """``GET /v1/billing/invoices/{invoice_id}``."""
        return self._request(
            "GET",
            f"/v1/billing/invoices/{path_segment('invoice_id', invoice_id)}",
            trace_id=trace_id,
        )
