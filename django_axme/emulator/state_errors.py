"""Errors raised by the emulator core; each carries the HTTP status and error code it maps to."""

from __future__ import annotations

from typing import Any

__all__ = [
    "EmulatorAuthError",
    "EmulatorConflict",
    "EmulatorError",
    "EmulatorNotFound",
    "EmulatorValidationError",
]


class EmulatorError(Exception):
    """Base class: ``status`` and ``code`` say how :meth:`Gateway.handle` answers it.

    ``extra`` holds additional top-level keys merged into the JSON error body; ``field`` names
    the offending input field (also put into ``error.field``).
    """

    status: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        """The documented error shape ``{"error": {"code", "message"}, "detail": message}``;
        for a 422, ``detail`` is the OpenAPI ``HTTPValidationError`` array instead:
        ``[{"loc": ["body", <field parts>...], "msg": message, "type": code}]``."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        detail: Any = self.message
        if self.status == 422:
            loc: list[str] = ["body"]
            if self.field:
                loc.extend(self.field.split("."))
            detail = [{"loc": loc, "msg": self.message, "type": self.code}]
        payload: dict[str, Any] = {"error": error, "detail": detail}
        payload.update(self.extra)
        return payload


class EmulatorValidationError(EmulatorError, ValueError):
    """Invalid input (400 malformed, 413 too large, 422 semantically invalid)."""

    status = 422
    code = "validation_error"


class EmulatorNotFound(EmulatorError, LookupError):
    """Unknown id (404)."""

    status = 404
    code = "not_found"


class EmulatorConflict(EmulatorError, ValueError):
    """State conflict (409): terminal intent, illegal transition, idempotency key reuse, CAS."""

    status = 409
    code = "conflict"


class EmulatorAuthError(EmulatorError):
    """Missing or unknown API key (401)."""

    status = 401
    code = "invalid_platform_api_key"
