"""Moved to :mod:`django_axme.services.decisions`; this import path keeps working (the same
objects)."""

from __future__ import annotations

from django_axme.services.decisions import (
    DecisionResult,
    Outcome,
    decide,
    decision_payload,
    send_decision,
)

__all__ = ["DecisionResult", "Outcome", "decide", "decision_payload", "send_decision"]
