"""Media family: upload slots for files attached to intents and messages."""

from __future__ import annotations

from typing import Any

from ._base import FamilyMixinBase, path_segment, require_payload


class MediaMixin(FamilyMixinBase):
    def create_media_upload(
        self,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/media/create-upload``: reserve an upload slot; returns ``upload_url``."""
        return self._request(
            "POST",
            "/v1/media/create-upload",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )

    def get_media_upload(self, upload_id: str, *, trace_id: str | None = None) -> dict[str, Any]:
        """``GET /v1/media/{upload_id}``: the upload record under the ``upload`` key."""
        return self._request(
            "GET", f"/v1/media/{path_segment('upload_id', upload_id)}", trace_id=trace_id
        )

    def finalize_media_upload(
        self,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/media/finalize-upload`` with ``{upload_id, size_bytes, sha256?}``."""
        return self._request(
            "POST",
            "/v1/media/finalize-upload",
            json_body=require_payload("payload", payload),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
        )
