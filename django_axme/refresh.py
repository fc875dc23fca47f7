"""Moved to :mod:`django_axme.services.refresh`; this import path keeps working (the same
objects)."""

from __future__ import annotations

from django_axme.services.refresh import (
    MAX_EVENT_PAGES,
    RefreshedIntent,
    ingest_inbox_thread,
    refresh_intent,
    refresh_thread,
)

__all__ = [
    "MAX_EVENT_PAGES",
    "RefreshedIntent",
    "ingest_inbox_thread",
    "refresh_intent",
    "refresh_thread",
]
