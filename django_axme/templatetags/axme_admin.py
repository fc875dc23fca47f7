"""Template tags of the AXME admin.

``{% axme_approvals_for_me as count %}`` counts the pending approvals assigned to the
current user (see "Assignment" in ``docs/admin.rst``). The AXME app index shows it; a project
can show it on its own admin index too::

    {% extends "admin/index.html" %}
    {% load axme_admin %}
    {% block content %}{% axme_approvals_for_me as waiting %}
      {% if waiting %}<p><a href="{% url 'admin:django_axme_approval_changelist' %}?assigned=me">
        {{ waiting }} approvals wait for you</a></p>{% endif %}
      {{ block.super }}{% endblock %}
"""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def axme_approvals_for_me(context: Any) -> int:
    """How many pending approvals name the current user among their assignees (0 when the
    user is anonymous or may not view approvals)."""
    from django_axme.admin.filters import assigned_to
    from django_axme.models import Approval, ApprovalStatus

    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 0
    perms = ("view_approval", "decide_approval", "reply_approval", "delegate_approval")
    if not any(user.has_perm(f"django_axme.{p}") for p in perms):
        return 0
    condition = assigned_to(user)
    if condition is None:
        return 0
    return Approval.objects.filter(condition, status=ApprovalStatus.PENDING).count()
