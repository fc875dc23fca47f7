"""Users family: nick registration and user profiles."""

from __future__ import annotations

from typing import Any

from ._base import FamilyMixinBase, require_payload, require_str


class UsersMixin(FamilyMixinBase):
    def register_nick(
        self,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/users/register-nick``: create a user owning ``nick`` (409 when taken)."""
        return self._request(
            "POST",
            "/v1/users/register-nick",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def check_nick(self, nick: str, *, trace_id: str | None = None) -> dict[str, Any]:
        """``GET /v1/users/check-nick?nick=``: normalised form and availability of a nick."""
        return self._request(
            "GET",
            "/v1/users/check-nick",
            params={"nick": require_str("nick", nick)},
            trace_id=trace_id,
        )

    def rename_nick(
        self,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/users/rename-nick`` with ``{owner_agent, nick, ...}``."""
        return self._request(
            "POST",
            "/v1/users/rename-nick",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def get_user_profile(self, owner_agent: str, *, trace_id: str | None = None) -> dict[str, Any]:
        """``GET /v1/users/profile?owner_agent=``: the profile of one user."""
        return self._request(
            "GET",
            "/v1/users/profile",
            params={"owner_agent": require_str("owner_agent", owner_agent)},
            trace_id=trace_id,
        )

    def update_user_profile(
        self,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/users/profile/update`` with ``{owner_agent, nick?, display_name?, ...}``."""
        return self._request(
            "POST",
            "/v1/users/profile/update",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )
