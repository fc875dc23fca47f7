"""Inbox threads (owner-scoped) and approval decisions."""

from __future__ import annotations

from typing import Any

from django_axme.client._args import body_dict, path_segment
from django_axme.client.compat import InboxListing, decision_body
from django_axme.client.transport import BaseClient

APPROVAL_DECISIONS = ("approve", "reject")


class InboxMixin(BaseClient):
    """SDK 0.2.0 inbox and approval methods.

    Owner scoping: ``owner_agent=None`` falls back to ``config.default_owner_agent``; when
    both are ``None`` no ``owner_agent`` query parameter is sent (SDK behaviour).
    """

    def list_inbox(
        self,
        *,
        owner_agent: str | None = None,
        trace_id: str | None = None,
        status: str | None = None,
    ) -> dict[str, Any]:
        """``GET /v1/inbox``; returns ``{ok, threads}``. ``result["items"]`` (the 0.1 README
        name) reads ``threads`` too. ``status`` filters (``pending``, ``active``, ``done``)."""
        answer = self._request(
            "GET",
            "/v1/inbox",
            params={"status": status},
            owner_agent=self._owner(owner_agent),
            trace_id=trace_id,
        )
        return InboxListing(answer)

    def get_inbox_thread(
        self, thread_id: str, *, owner_agent: str | None = None, trace_id: str | None = None
    ) -> dict[str, Any]:
        """``GET /v1/inbox/{thread_id}``; returns ``{ok, thread}``."""
        return self._request(
            "GET",
            f"/v1/inbox/{path_segment(thread_id, 'thread_id')}",
            owner_agent=self._owner(owner_agent),
            trace_id=trace_id,
        )

    def list_inbox_changes(
        self,
        *,
        owner_agent: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``GET /v1/inbox/changes``; returns ``{ok, changes, next_cursor, has_more}``."""
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise ValueError(f"limit must be an integer >= 1, got {limit!r}")
        params = {"cursor": cursor, "limit": None if limit is None else str(limit)}
        return self._request(
            "GET",
            "/v1/inbox/changes",
            params=params,
            owner_agent=self._owner(owner_agent),
            trace_id=trace_id,
        )

    def _thread_action(
        self,
        thread_id: str,
        action: str,
        body: dict[str, Any],
        *,
        owner_agent: str | None,
        idempotency_key: str | None,
        trace_id: str | None,
    ) -> dict[str, Any]:
        return self._request(
            "POST",
            f"/v1/inbox/{path_segment(thread_id, 'thread_id')}/{action}",
            json_body=body,
            owner_agent=self._owner(owner_agent),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def reply_inbox_thread(
        self,
        thread_id: str,
        *,
        message: str,
        owner_agent: str | None = None,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/inbox/{thread_id}/reply`` with ``{"message": message}``."""
        if not isinstance(message, str) or not message:
            raise ValueError("message must be a non-empty string")
        return self._thread_action(
            thread_id,
            "reply",
            {"message": message},
            owner_agent=owner_agent,
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def delegate_inbox_thread(
        self,
        thread_id: str,
        payload: dict[str, Any],
        *,
        owner_agent: str | None = None,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/inbox/{thread_id}/delegate`` (``delegate_to``, ``note``)."""
        return self._thread_action(
            thread_id,
            "delegate",
            body_dict(payload),
            owner_agent=owner_agent,
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def approve_inbox_thread(
        self,
        thread_id: str,
        payload: dict[str, Any] | None = None,
        *,
        owner_agent: str | None = None,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/inbox/{thread_id}/approve``; the 0.1 README's ``{"note": ...}`` is sent
        as ``comment``."""
        body = decision_body(None if payload is None else body_dict(payload))
        return self._thread_action(
            thread_id,
            "approve",
            body,
            owner_agent=owner_agent,
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def reject_inbox_thread(
        self,
        thread_id: str,
        payload: dict[str, Any] | None = None,
        *,
        owner_agent: str | None = None,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/inbox/{thread_id}/reject``; ``note`` is sent as ``comment``."""
        body = decision_body(None if payload is None else body_dict(payload))
        return self._thread_action(
            thread_id,
            "reject",
            body,
            owner_agent=owner_agent,
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def delete_inbox_messages(
        self,
        thread_id: str,
        payload: dict[str, Any],
        *,
        owner_agent: str | None = None,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/inbox/{thread_id}/messages/delete`` (``mode``, ``message_ids``,
        ``limit``)."""
        return self._thread_action(
            thread_id,
            "messages/delete",
            body_dict(payload),
            owner_agent=owner_agent,
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def decide_approval(
        self,
        approval_id: str,
        *,
        decision: str,
        comment: str | None = None,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/approvals/{approval_id}/decision``; ``decision`` is ``"approve"`` or
        ``"reject"``."""
        if decision not in APPROVAL_DECISIONS:
            raise ValueError(f"decision must be 'approve' or 'reject', got {decision!r}")
        body: dict[str, Any] = {"decision": decision}
        if comment is not None:
            body["comment"] = comment
        return self._request(
            "POST",
            f"/v1/approvals/{path_segment(approval_id, 'approval_id')}/decision",
            json_body=body,
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )
