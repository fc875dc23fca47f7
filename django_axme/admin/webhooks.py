"""The webhook audit log in the admin: list with filters, *reprocess* and *ask AXME to replay*.

Deliveries are never added or edited here. Each action has its own permission
(``django_axme.reprocess_webhookdelivery``, ``django_axme.replay_webhookdelivery``), which
also grants viewing the list. The logic is in :mod:`django_axme.services.webhooks`.
"""

from __future__ import annotations

import logging
from collections import Counter

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from django_axme.admin.badges import short_id
from django_axme.admin.base import AuditModelAdmin
from django_axme.exceptions import AxmeError
from django_axme.models import WebhookDelivery
from django_axme.services import webhooks as service
from django_axme.sync import webhooks as audit

logger = logging.getLogger("django_axme.admin")

__all__ = ["WebhookDeliveryAdmin"]

#: Most deliveries one action handles (each may call the gateway).
ACTION_LIMIT = 50


class WebhookDeliveryAdmin(AuditModelAdmin):
    operation_permissions = ("reprocess_webhookdelivery", "replay_webhookdelivery")
    list_display = (
        "received_at",
        "event_type",
        "outcome",
        "verified",
        "ids_display",
        "attempts",
        "processed_at",
    )
    list_filter = ("outcome", "event_type", "verified", "received_at")
    search_fields = ("=delivery_id", "=event_id", "=intent_id", "=thread_id")
    date_hierarchy = "received_at"
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    actions = ("reprocess_selected", "replay_selected")
    list_per_page = 100

    @admin.display(description=gettext_lazy("intent / thread"), ordering="intent_id")
    def ids_display(self, obj: WebhookDelivery) -> str:
        """Short ids (full on hover); the thread only when it is not the intent's own."""
        if obj.thread_id and obj.thread_id != obj.intent_id:
            return format_html("{} / {}", short_id(obj.intent_id), short_id(obj.thread_id))
        return short_id(obj.intent_id or obj.thread_id)

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        return self._has_model_perm(request, "reprocess_webhookdelivery")

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return self._has_model_perm(request, "replay_webhookdelivery")

    @admin.action(
        description=gettext_lazy("Reprocess selected deliveries (read AXME again)"),
        permissions=["reprocess"],
    )
    def reprocess_selected(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        pks = list(queryset.values_list("pk", flat=True)[:ACTION_LIMIT])
        audit.reset_for_reprocessing(pks)
        outcomes: Counter[str] = Counter()
        for pk in pks:
            try:
                outcomes[service.process_delivery(pk)] += 1
            except AxmeError as exc:
                logger.warning("admin reprocess of webhook delivery %s failed: %s", pk, exc)
                outcomes["failed"] += 1
        text = ", ".join(f"{name}: {n}" for name, n in sorted(outcomes.items()))
        level = messages.WARNING if outcomes.get("failed") else messages.SUCCESS
        self.message_user(
            request,
            _("Reprocessed %(n)d deliveries (%(outcomes)s).")
            % {"n": len(pks), "outcomes": text or "-"},
            level,
        )

    @admin.action(
        description=gettext_lazy("Ask AXME to replay the selected deliveries' events"),
        permissions=["replay"],
    )
    def replay_selected(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        asked = failed = skipped = 0
        seen: set[str] = set()
        for delivery in queryset[:ACTION_LIMIT]:
            if not delivery.event_id or delivery.event_id in seen:
                skipped += 1
                continue
            seen.add(delivery.event_id)
            try:
                service.replay_delivery(delivery)
                asked += 1
            except AxmeError as exc:
                logger.warning("replay of webhook event %s failed: %s", delivery.event_id, exc)
                failed += 1
        self.message_user(
            request,
            _(
                "AXME was asked to replay %(asked)d events (%(failed)d failed, %(skipped)d "
                "without an event id or repeated)."
            )
            % {"asked": asked, "failed": failed, "skipped": skipped},
            messages.WARNING if failed else messages.SUCCESS,
        )


admin.site.register(WebhookDelivery, WebhookDeliveryAdmin)
