"""A purchase request and the transcript of what happened to it."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class PurchaseStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted to AXME")
    PENDING_APPROVAL = "pending_approval", _("Waiting for approval")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    FULFILLED = "fulfilled", _("Fulfilled")
    FAILED = "failed", _("Failed")


#: Statuses a request never leaves.
FINAL_STATUSES: frozenset[str] = frozenset(
    {PurchaseStatus.REJECTED, PurchaseStatus.FULFILLED, PurchaseStatus.FAILED}
)

#: The moves the receivers may make; anything else (a late or repeated signal) is ignored.
ALLOWED_MOVES: dict[str, frozenset[str]] = {
    PurchaseStatus.DRAFT: frozenset(
        {
            PurchaseStatus.SUBMITTED,
            PurchaseStatus.PENDING_APPROVAL,
            PurchaseStatus.FULFILLED,
            PurchaseStatus.FAILED,
            PurchaseStatus.REJECTED,
        }
    ),
    PurchaseStatus.SUBMITTED: frozenset(
        {
            PurchaseStatus.PENDING_APPROVAL,
            PurchaseStatus.APPROVED,
            PurchaseStatus.REJECTED,
            PurchaseStatus.FULFILLED,
            PurchaseStatus.FAILED,
        }
    ),
    PurchaseStatus.PENDING_APPROVAL: frozenset(
        {
            PurchaseStatus.APPROVED,
            PurchaseStatus.REJECTED,
            PurchaseStatus.FULFILLED,
            PurchaseStatus.FAILED,
        }
    ),
    PurchaseStatus.APPROVED: frozenset({PurchaseStatus.FULFILLED, PurchaseStatus.FAILED}),
}


class PurchaseRequest(models.Model):
    """Someone asks to buy something; AXME routes it (and a human approves the large ones)."""

    item = models.CharField(_("item"), max_length=200)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    requester = models.CharField(_("requester"), max_length=200)
    note = models.TextField(_("note"), blank=True)
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=PurchaseStatus.choices,
        default=PurchaseStatus.DRAFT,
        db_index=True,
    )
    needs_approval = models.BooleanField(_("needs approval"), default=False)
    intent = models.OneToOneField(
        "django_axme.Intent",
        verbose_name=_("AXME intent"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="purchase_request",
    )
    #: The intent asking this project's own agent to place the order (the same intent as
    #: ``intent`` for a request without approval; a second one after an approval).
    fulfilment_intent = models.OneToOneField(
        "django_axme.Intent",
        verbose_name=_("fulfilment intent"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="fulfilment_of",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("purchase request")
        verbose_name_plural = _("purchase requests")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.item} ({self.amount})"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def can_move_to(self, status: str) -> bool:
        """True when the receivers may move this request from its status to ``status``."""
        return status in ALLOWED_MOVES.get(self.status, frozenset())


class PurchaseEvent(models.Model):
    """One line of a request's transcript: a django-axme signal the app received.

    Written by the receivers; the demo prints them and the admin shows them inline.
    """

    purchase = models.ForeignKey(
        PurchaseRequest,
        verbose_name=_("purchase request"),
        on_delete=models.CASCADE,
        related_name="events",
    )
    signal = models.CharField(_("signal"), max_length=64)
    intent_status = models.CharField(_("intent status"), max_length=64, blank=True)
    from_status = models.CharField(_("status before"), max_length=20, blank=True)
    to_status = models.CharField(_("status after"), max_length=20, blank=True)
    message = models.CharField(_("message"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        verbose_name = _("purchase event")
        verbose_name_plural = _("purchase events")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.signal}: {self.from_status or '-'} -> {self.to_status or '-'}"

    @property
    def changed_status(self) -> bool:
        return bool(self.to_status) and self.to_status != self.from_status


class PurchaseOrder(models.Model):
    """The effect of fulfilling a request: the order this project placed as an AXME agent.

    Written by the ``purchases/axme_handlers.py`` handler with the idempotency key django-axme
    gives it, so a handler run again (a killed worker, a redelivery) never places two orders.
    """

    purchase = models.OneToOneField(
        PurchaseRequest,
        verbose_name=_("purchase request"),
        on_delete=models.CASCADE,
        related_name="order",
    )
    reference = models.CharField(_("order reference"), max_length=32)
    idempotency_key = models.CharField(_("idempotency key"), max_length=128, unique=True)
    placed_by = models.CharField(_("placed by agent"), max_length=383)
    placed_at = models.DateTimeField(_("placed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("purchase order")
        verbose_name_plural = _("purchase orders")
        ordering = ["-placed_at", "-id"]

    def __str__(self) -> str:
        return self.reference
