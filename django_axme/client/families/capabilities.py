"""Capabilities family: what the gateway supports."""

from __future__ import annotations

from typing import Any

from ._base import FamilyMixinBase


class CapabilitiesMixin(FamilyMixinBase):
    def get_capabilities(self, *, trace_id: str | None = None) -> dict[str, Any]:
        """``GET /v1/capabilities``: capability names and supported intent types."""
        return self._request("GET", "/v1/capabilities", trace_id=trace_id)
