"""Approval decisions taken from the admin: :mod:`django_axme.decisions`, under the name the
admin has always used (the same objects, so ``isinstance`` and ``is`` checks keep working).

The logic lives outside the admin package so that the reconcile sweep can resend a decision
in a worker of a project without ``django.contrib.admin``.
"""

from __future__ import annotations

from django_axme.decisions import (
    DecisionResult,
    Outcome,
    decide,
    decision_payload,
    send_decision,
)

__all__ = ["DecisionResult", "Outcome", "decide", "decision_payload", "send_decision"]
