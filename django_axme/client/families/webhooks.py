"""Webhooks family: subscriptions, published events and their replay.

Owner scope goes in the ``owner_agent`` query parameter: the caller's ``owner_agent``, else
``config.default_owner_agent`` (as for the inbox), else none at all (the official SDK's
behaviour, which never applies the default here).
"""

from __future__ import annotations

from typing import Any

from ._base import FamilyMixinBase, owner_params, path_segment, require_payload


class WebhooksMixin(FamilyMixinBase):
    def _webhook_owner_params(self, owner_agent: str | None) -> dict[str, str] | None:
        if owner_agent is None:
            owner_agent = self._config.default_owner_agent
        return owner_params(owner_agent)

    def upsert_webhook_subscription(
        self,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/webhooks/subscriptions`` (callback URL, event types, secret)."""
        return self._request(
            "POST",
            "/v1/webhooks/subscriptions",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def list_webhook_subscriptions(
        self,
        *,
        owner_agent: str | None = None,
        trace_id: str | None = None,
        include_inactive: bool | None = None,
    ) -> dict[str, Any]:
        """``GET /v1/webhooks/subscriptions[?owner_agent=][&include_inactive=]``: the owner's
        subscriptions, revoked ones too with ``include_inactive=True`` (an extension over the
        official SDK, sent only when given)."""
        params = self._webhook_owner_params(owner_agent) or {}
        if include_inactive is not None:
            if not isinstance(include_inactive, bool):
                raise ValueError("include_inactive must be a bool")
            params["include_inactive"] = "true" if include_inactive else "false"
        return self._request(
            "GET", "/v1/webhooks/subscriptions", params=params or None, trace_id=trace_id
        )

    def delete_webhook_subscription(
        self,
        subscription_id: str,
        *,
        owner_agent: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``DELETE /v1/webhooks/subscriptions/{id}``: revoke a subscription (404 if unknown)."""
        return self._request(
            "DELETE",
            f"/v1/webhooks/subscriptions/{path_segment('subscription_id', subscription_id)}",
            params=self._webhook_owner_params(owner_agent),
            trace_id=trace_id,
        )

    def publish_webhook_event(
        self,
        payload: dict[str, Any],
        *,
        owner_agent: str | None = None,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/webhooks/events`` with ``{event_type, source, payload}``; returns counters."""
        return self._request(
            "POST",
            "/v1/webhooks/events",
            params=self._webhook_owner_params(owner_agent),
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def replay_webhook_event(
        self,
        event_id: str,
        *,
        owner_agent: str | None = None,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/webhooks/events/{event_id}/replay`` (no body): deliver an event again."""
        return self._request(
            "POST",
            f"/v1/webhooks/events/{path_segment('event_id', event_id)}/replay",
            params=self._webhook_owner_params(owner_agent),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )
