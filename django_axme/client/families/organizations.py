"""Organizations, workspaces and members families.

Update payloads are sent as given: the SPEC schemas also want ``org_id`` (and ``workspace_id`` /
``member_id``) repeated in the body, the official SDK does not add them, and neither do we.
"""

from __future__ import annotations

from typing import Any

from ._base import FamilyMixinBase, optional_params, path_segment, require_payload


class OrganizationsMixin(FamilyMixinBase):
    def create_organization(
        self,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/organizations`` with ``{name, requested_by_actor_id, ...}``."""
        return self._request(
            "POST",
            "/v1/organizations",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def get_organization(self, org_id: str, *, trace_id: str | None = None) -> dict[str, Any]:
        """``GET /v1/organizations/{org_id}``."""
        return self._request(
            "GET", f"/v1/organizations/{path_segment('org_id', org_id)}", trace_id=trace_id
        )

    def update_organization(
        self,
        org_id: str,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``PATCH /v1/organizations/{org_id}``."""
        return self._request(
            "PATCH",
            f"/v1/organizations/{path_segment('org_id', org_id)}",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )


class WorkspacesMixin(FamilyMixinBase):
    def create_workspace(
        self,
        org_id: str,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/organizations/{org_id}/workspaces``."""
        return self._request(
            "POST",
            f"/v1/organizations/{path_segment('org_id', org_id)}/workspaces",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def list_workspaces(self, org_id: str, *, trace_id: str | None = None) -> dict[str, Any]:
        """``GET /v1/organizations/{org_id}/workspaces``."""
        return self._request(
            "GET",
            f"/v1/organizations/{path_segment('org_id', org_id)}/workspaces",
            trace_id=trace_id,
        )

    def update_workspace(
        self,
        org_id: str,
        workspace_id: str,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``PATCH /v1/organizations/{org_id}/workspaces/{workspace_id}``."""
        org = path_segment("org_id", org_id)
        ws = path_segment("workspace_id", workspace_id)
        return self._request(
            "PATCH",
            f"/v1/organizations/{org}/workspaces/{ws}",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )


class MembersMixin(FamilyMixinBase):
    def list_organization_members(
        self,
        org_id: str,
        *,
        workspace_id: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``GET /v1/organizations/{org_id}/members[?workspace_id=]``."""
        return self._request(
            "GET",
            f"/v1/organizations/{path_segment('org_id', org_id)}/members",
            params=optional_params(workspace_id=workspace_id) or None,
            trace_id=trace_id,
        )

    def add_organization_member(
        self,
        org_id: str,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/organizations/{org_id}/members`` with ``{actor_id, role, ...}``."""
        return self._request(
            "POST",
            f"/v1/organizations/{path_segment('org_id', org_id)}/members",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def update_organization_member(
        self,
        org_id: str,
        member_id: str,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``PATCH /v1/organizations/{org_id}/members/{member_id}`` with ``{role?, status?}``."""
        org = path_segment("org_id", org_id)
        member = path_segment("member_id", member_id)
        return self._request(
            "PATCH",
            f"/v1/organizations/{org}/members/{member}",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def remove_organization_member(
        self,
        org_id: str,
        member_id: str,
        *,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``DELETE /v1/organizations/{org_id}/members/{member_id}``."""
        org = path_segment("org_id", org_id)
        member = path_segment("member_id", member_id)
        return self._request(
            "DELETE", f"/v1/organizations/{org}/members/{member}", trace_id=trace_id
        )
