"""Access requests family: asking for an organization, a membership or a role, and reviews."""

from __future__ import annotations

from typing import Any

from ._base import FamilyMixinBase, optional_params, path_segment, require_payload


class AccessRequestsMixin(FamilyMixinBase):
    def create_access_request(
        self,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/access-requests`` with ``{request_type, requester_actor_id, ...}``."""
        return self._request(
            "POST",
            "/v1/access-requests",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def list_access_requests(
        self,
        *,
        org_id: str | None = None,
        workspace_id: str | None = None,
        state: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``GET /v1/access-requests`` filtered by whichever of the arguments are given."""
        params = optional_params(org_id=org_id, workspace_id=workspace_id, state=state)
        return self._request("GET", "/v1/access-requests", params=params or None, trace_id=trace_id)

    def get_access_request(
        self, access_request_id: str, *, trace_id: str | None = None
    ) -> dict[str, Any]:
        """``GET /v1/access-requests/{access_request_id}``."""
        return self._request(
            "GET",
            f"/v1/access-requests/{path_segment('access_request_id', access_request_id)}",
            trace_id=trace_id,
        )

    def review_access_request(
        self,
        access_request_id: str,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/access-requests/{id}/review`` with ``{decision, reviewer_actor_id, ...}``."""
        request_id = path_segment("access_request_id", access_request_id)
        return self._request(
            "POST",
            f"/v1/access-requests/{request_id}/review",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )
