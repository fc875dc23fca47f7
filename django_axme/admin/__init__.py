"""The AXME admin: the approval queue and the intent audit, registered on the default site.

Projects with their own ``AdminSite`` can register :class:`ApprovalAdmin` and
:class:`IntentAdmin` there as well.
"""

from __future__ import annotations

from django.contrib import admin

from django_axme.admin.approvals import ApprovalAdmin
from django_axme.admin.intents import IntentAdmin
from django_axme.models import Approval, Intent

__all__ = ["ApprovalAdmin", "IntentAdmin"]

admin.site.register(Approval, ApprovalAdmin)
admin.site.register(Intent, IntentAdmin)

from django_axme.admin import agent as _agent  # noqa: E402,F401  registers AgentJobAdmin
from django_axme.admin import webhooks as _webhooks  # noqa: E402, F401  (registers)
