"""Schemas family: the semantic schema registry."""

from __future__ import annotations

from typing import Any

from ._base import FamilyMixinBase, path_segment, require_payload


class SchemasMixin(FamilyMixinBase):
    def upsert_schema(
        self,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/schemas``: create or replace the schema of a ``semantic_type``."""
        return self._request(
            "POST",
            "/v1/schemas",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def get_schema(self, semantic_type: str, *, trace_id: str | None = None) -> dict[str, Any]:
        """``GET /v1/schemas/{semantic_type}``: the active schema, including ``schema_json``."""
        return self._request(
            "GET",
            f"/v1/schemas/{path_segment('semantic_type', semantic_type)}",
            trace_id=trace_id,
        )
