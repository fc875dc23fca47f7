"""Intents and scenarios: create, read, events, resolve, resume, controls, policy."""

from __future__ import annotations

import uuid
from typing import Any

from django_axme.client._args import body_dict, non_negative_int, path_segment, scope_headers
from django_axme.client.compat import IntentAnswer, controls_body
from django_axme.client.errors import AxmeInvalidResponseError, redact_secrets
from django_axme.client.idempotency import correlation_id_for_key
from django_axme.client.transport import BaseClient


class IntentsMixin(BaseClient):
    """SDK 0.2.0 intent and scenario methods (same names, arguments and defaults)."""

    def health(self, *, trace_id: str | None = None) -> dict[str, Any]:
        """``GET /health``."""
        return self._request("GET", "/health", trace_id=trace_id, retryable=True)

    def create_intent(
        self,
        payload: dict[str, Any],
        *,
        correlation_id: str | None = None,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/intents``; returns ``{ok, intent_id, status, created_at}``.

        ``correlation_id`` is optional (the SDK requires it): when neither the argument nor
        ``payload["correlation_id"]`` gives one, it is derived from ``idempotency_key``
        (UUID5, so a replay sends the same body) or else generated (UUID4). A payload
        correlation id that differs from the argument raises :class:`ValueError`.
        """
        body = body_dict(payload)
        existing = body.get("correlation_id")
        if correlation_id is not None and existing is not None and existing != correlation_id:
            raise ValueError("payload correlation_id must match the correlation_id argument")
        if correlation_id is None:
            if existing is not None:
                correlation_id = existing
            elif idempotency_key is not None:
                correlation_id = correlation_id_for_key(idempotency_key)
            else:
                correlation_id = str(uuid.uuid4())
        body["correlation_id"] = correlation_id
        return self._request(
            "POST",
            "/v1/intents",
            json_body=body,
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def send_intent(
        self,
        payload: dict[str, Any],
        *,
        correlation_id: str | None = None,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> str:
        """Create an intent and return its ``intent_id``; an answer without a string one raises
        :class:`~django_axme.client.errors.AxmeInvalidResponseError` (also a ValueError)."""
        created = self.create_intent(
            payload,
            correlation_id=correlation_id,
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )
        intent_id = created.get("intent_id")
        if not isinstance(intent_id, str) or not intent_id:
            raise AxmeInvalidResponseError(
                "create_intent response does not include a string intent_id",
                body=redact_secrets(created, self._secrets()),
            )
        return intent_id

    def get_intent(self, intent_id: str, *, trace_id: str | None = None) -> dict[str, Any]:
        """``GET /v1/intents/{intent_id}``; returns ``{ok, intent}`` (``answer["payload"]`` and
        other intent fields missing at the top level are read from ``intent``)."""
        answer = self._request(
            "GET", f"/v1/intents/{path_segment(intent_id, 'intent_id')}", trace_id=trace_id
        )
        return IntentAnswer(answer)

    def list_intent_events(
        self, intent_id: str, *, since: int | None = None, trace_id: str | None = None
    ) -> dict[str, Any]:
        """``GET /v1/intents/{intent_id}/events``: events with ``seq > since``, ascending."""
        params = None
        if since is not None:
            params = {"since": str(non_negative_int(since, "since"))}
        return self._request(
            "GET",
            f"/v1/intents/{path_segment(intent_id, 'intent_id')}/events",
            params=params,
            trace_id=trace_id,
        )

    def _intent_action(
        self,
        action: str,
        intent_id: str,
        body: dict[str, Any],
        *,
        owner_agent: str | None,
        x_owner_agent: str | None,
        authorization: str | None,
        idempotency_key: str | None,
        trace_id: str | None,
    ) -> dict[str, Any]:
        return self._request(
            "POST",
            f"/v1/intents/{path_segment(intent_id, 'intent_id')}/{action}",
            json_body=body,
            owner_agent=owner_agent,
            headers=scope_headers(x_owner_agent, authorization),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def resolve_intent(
        self,
        intent_id: str,
        payload: dict[str, Any],
        *,
        owner_agent: str | None = None,
        x_owner_agent: str | None = None,
        authorization: str | None = None,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/intents/{intent_id}/resolve`` (COMPLETED, FAILED or CANCELED)."""
        return self._intent_action(
            "resolve",
            intent_id,
            body_dict(payload),
            owner_agent=owner_agent,
            x_owner_agent=x_owner_agent,
            authorization=authorization,
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def resume_intent(
        self,
        intent_id: str,
        payload: dict[str, Any],
        *,
        owner_agent: str | None = None,
        x_owner_agent: str | None = None,
        authorization: str | None = None,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/intents/{intent_id}/resume``; returns ``{ok, applied, ...}``."""
        return self._intent_action(
            "resume",
            intent_id,
            body_dict(payload),
            owner_agent=owner_agent,
            x_owner_agent=x_owner_agent,
            authorization=authorization,
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def update_intent_controls(
        self,
        intent_id: str,
        payload: dict[str, Any],
        *,
        owner_agent: str | None = None,
        x_owner_agent: str | None = None,
        authorization: str | None = None,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
        policy_generation: int | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/intents/{intent_id}/controls``.

        Also accepts the 0.1 README form: ``{"controls": {...}}`` is sent as
        ``controls_patch`` and ``policy_generation=n`` as ``expected_policy_generation``.
        A stale generation answered with 409 raises
        :class:`~django_axme.client.errors.AxmeStalePolicyError`; the
        ``200 {"applied": false}`` form is returned as is (SDK behaviour).
        """
        return self._intent_action(
            "controls",
            intent_id,
            controls_body(body_dict(payload), policy_generation),
            owner_agent=owner_agent,
            x_owner_agent=x_owner_agent,
            authorization=authorization,
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def update_intent_policy(
        self,
        intent_id: str,
        payload: dict[str, Any],
        *,
        owner_agent: str | None = None,
        x_owner_agent: str | None = None,
        authorization: str | None = None,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
        policy_generation: int | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/intents/{intent_id}/policy`` (``grants_patch``, ``envelope_patch``);
        ``policy_generation=n`` is sent as ``expected_policy_generation``."""
        return self._intent_action(
            "policy",
            intent_id,
            controls_body(body_dict(payload), policy_generation),
            owner_agent=owner_agent,
            x_owner_agent=x_owner_agent,
            authorization=authorization,
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def apply_scenario(
        self,
        bundle: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/scenarios/apply``; a given ``idempotency_key`` is also put in the body
        (unless the bundle has one)."""
        body = body_dict(bundle, "bundle")
        if idempotency_key is not None:
            body.setdefault("idempotency_key", idempotency_key)
        return self._request(
            "POST",
            "/v1/scenarios/apply",
            json_body=body,
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def validate_scenario(
        self, bundle: dict[str, Any], *, trace_id: str | None = None
    ) -> dict[str, Any]:
        """``POST /v1/scenarios/validate`` (dry run; retried like a read)."""
        return self._request(
            "POST",
            "/v1/scenarios/validate",
            json_body=body_dict(bundle, "bundle"),
            trace_id=trace_id,
            retryable=True,
        )
