"""The webhook audit log: one row per verified delivery to the ``axme:webhook`` view."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class WebhookOutcome(models.TextChoices):
    RECEIVED = "received", _("Received, not processed yet")
    PROCESSED = "processed", _("Processed")
    IGNORED = "ignored", _("Ignored (names nothing to read)")
    FAILED = "failed", _("Processing failed")
    REJECTED = "rejected", _("Rejected (malformed)")


class WebhookDelivery(models.Model):
    """One webhook delivery AXME pushed to the ``axme:webhook`` view: the webhook audit log.

    A row is written only for a delivery whose signature verified (a forged one leaves a log
    line, never a row), once per ``delivery_id`` (a duplicate delivery finds its row and does
    nothing). Written by ``django_axme.sync.webhooks`` only; the mirror itself is changed by
    processing the delivery through the one writer, never from the payload directly.
    """

    delivery_id = models.CharField(_("delivery id"), max_length=255, unique=True)
    event_id = models.CharField(_("AXME event id"), max_length=64, blank=True, db_index=True)
    event_type = models.CharField(_("event type"), max_length=120, blank=True, db_index=True)
    intent_id = models.CharField(_("intent id"), max_length=64, blank=True, db_index=True)
    thread_id = models.CharField(_("thread id"), max_length=64, blank=True)
    owner_agent = models.CharField(_("owner agent"), max_length=255, blank=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)
    verified = models.BooleanField(_("signature verified"), default=False)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    outcome = models.CharField(
        _("outcome"),
        max_length=16,
        choices=WebhookOutcome.choices,
        default=WebhookOutcome.RECEIVED,
        db_index=True,
    )
    attempts = models.PositiveIntegerField(_("processing attempts"), default=0)
    error = models.TextField(_("error"), blank=True)
    payload = models.JSONField(_("payload"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-received_at", "-pk"]
        permissions = [
            ("reprocess_webhookdelivery", _("Can reprocess webhook deliveries")),
            ("replay_webhookdelivery", _("Can ask AXME to replay webhook events")),
        ]

    def __str__(self) -> str:
        return f"{self.event_type or '?'} {self.delivery_id}"
