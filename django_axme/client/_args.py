"""Argument checks and small request-building helpers shared by the family mixins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote


def path_segment(value: Any, name: str, *, allow_slash: bool = False) -> str:
    """Return ``value`` URL-quoted for use in a path; ValueError naming ``name`` when it is not a
    non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return quote(value.strip(), safe="/" if allow_slash else "")


def body_dict(payload: Any, name: str = "payload") -> dict[str, Any]:
    """Return a shallow copy of ``payload`` as a dict; ValueError when it is not a mapping."""
    if not isinstance(payload, Mapping):
        raise ValueError(f"{name} must be a dict, got {type(payload).__name__}")
    return dict(payload)


def non_negative_int(value: Any, name: str) -> int:
    """``value`` when it is an int >= 0 (bool refused); ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def scope_headers(x_owner_agent: str | None, authorization: str | None) -> dict[str, str] | None:
    """Per-call ``x-owner-agent`` / ``authorization`` headers (SDK keyword arguments)."""
    headers: dict[str, str] = {}
    if x_owner_agent is not None:
        headers["x-owner-agent"] = x_owner_agent
    if authorization is not None:
        headers["authorization"] = authorization
    return headers or None
