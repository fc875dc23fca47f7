"""Invites family: invite links that turn a recipient into a registered user."""

from __future__ import annotations

from typing import Any

from ._base import FamilyMixinBase, path_segment, require_payload


class InvitesMixin(FamilyMixinBase):
    def create_invite(
        self,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/invites/create`` with ``{owner_agent, recipient_hint?, ttl_seconds?}``."""
        return self._request(
            "POST",
            "/v1/invites/create",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def get_invite(self, token: str, *, trace_id: str | None = None) -> dict[str, Any]:
        """``GET /v1/invites/{token}``: the invite and its status (pending, accepted, expired)."""
        return self._request(
            "GET", f"/v1/invites/{path_segment('token', token)}", trace_id=trace_id
        )

    def accept_invite(
        self,
        token: str,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/invites/{token}/accept`` with ``{nick, display_name?}``."""
        return self._request(
            "POST",
            f"/v1/invites/{path_segment('token', token)}/accept",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )
