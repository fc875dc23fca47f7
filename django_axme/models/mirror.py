"""The local mirror of AXME intents, their events and human approvals, plus the
idempotency ledger and stored sync cursors.

Only ``django_axme.sync`` (the one writer) writes these models; everything else reads.
Remote statuses are stored as their raw strings: an unknown status is kept, never rejected.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from django_axme.querysets import IntentQuerySet, SyncCursorQuerySet


class IntentStatus(models.TextChoices):
    CREATED = "CREATED", _("Created")
    SUBMITTED = "SUBMITTED", _("Submitted")
    DELIVERED = "DELIVERED", _("Delivered")
    ACKNOWLEDGED = "ACKNOWLEDGED", _("Acknowledged")
    IN_PROGRESS = "IN_PROGRESS", _("In progress")
    WAITING = "WAITING", _("Waiting")
    COMPLETED = "COMPLETED", _("Completed")
    FAILED = "FAILED", _("Failed")
    CANCELED = "CANCELED", _("Canceled")
    TIMED_OUT = "TIMED_OUT", _("Timed out")


TERMINAL_STATUSES: frozenset[str] = frozenset(
    {IntentStatus.COMPLETED, IntentStatus.FAILED, IntentStatus.CANCELED, IntentStatus.TIMED_OUT}
)


class WaitingReason(models.TextChoices):
    WAITING_FOR_HUMAN = "WAITING_FOR_HUMAN", _("Waiting for a human")
    WAITING_FOR_TOOL = "WAITING_FOR_TOOL", _("Waiting for a tool")
    WAITING_FOR_AGENT = "WAITING_FOR_AGENT", _("Waiting for an agent")
    WAITING_FOR_TIME = "WAITING_FOR_TIME", _("Waiting for a time")


class SendState(models.TextChoices):
    REMOTE = "remote", _("Known from the gateway")
    PENDING = "pending", _("In the outbox, not sent yet")
    SENT = "sent", _("Sent")
    REJECTED = "rejected", _("Rejected by the gateway")


class Intent(models.Model):
    """One remote intent, keyed by its remote ``intent_id`` once the gateway assigned it."""

    intent_id = models.CharField(
        _("intent id"),
        max_length=64,
        unique=True,
        null=True,
        blank=True,
        help_text=_(
            "The id the AXME gateway assigned; empty while the intent waits in the outbox."
        ),
    )
    intent_type = models.CharField(_("intent type"), max_length=255, db_index=True)
    status = models.CharField(
        _("status"),
        max_length=64,
        choices=IntentStatus.choices,
        default=IntentStatus.CREATED,
        db_index=True,
        help_text=_("Remote lifecycle status; an unknown remote value is kept as it came."),
    )
    waiting_reason = models.CharField(
        _("waiting reason"),
        max_length=64,
        blank=True,
        db_index=True,
        choices=WaitingReason.choices,
    )
    owner_agent = models.CharField(_("owner agent"), max_length=383, blank=True, db_index=True)
    from_agent = models.CharField(_("from agent"), max_length=383, blank=True)
    to_agent = models.CharField(_("to agent"), max_length=383, blank=True, db_index=True)
    reply_to = models.CharField(_("reply to"), max_length=383, blank=True)
    correlation_id = models.CharField(_("correlation id"), max_length=64, blank=True, db_index=True)
    idempotency_key = models.CharField(
        _("idempotency key"),
        max_length=128,
        blank=True,
        help_text=_("Key sent with the create call; derived from this row for outbox sends."),
    )
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    human_task = models.JSONField(_("human task"), null=True, blank=True)
    result = models.JSONField(_("result"), null=True, blank=True)
    error = models.JSONField(_("error"), null=True, blank=True)
    controls = models.JSONField(
        _("controls and policy"),
        default=dict,
        blank=True,
        help_text=_("The remote workflow control policy (controls, envelope, grants)."),
    )
    policy_generation = models.IntegerField(_("policy generation"), null=True, blank=True)
    deadline_at = models.DateTimeField(_("deadline"), null=True, blank=True)
    last_seq = models.PositiveIntegerField(
        _("last event seq"),
        default=0,
        help_text=_("Highest remote event sequence number stored; the observe cursor."),
    )
    remote_created_at = models.DateTimeField(_("created at (remote)"), null=True, blank=True)
    remote_updated_at = models.DateTimeField(_("updated at (remote)"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at (local)"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at (local)"), auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    raw = models.JSONField(_("raw remote JSON"), default=dict, blank=True)

    # Outbox and retries
    send_state = models.CharField(
        _("send state"),
        max_length=16,
        choices=SendState.choices,
        default=SendState.REMOTE,
        db_index=True,
    )
    last_error = models.JSONField(
        _("last error"),
        null=True,
        blank=True,
        help_text=_("The last non-retryable error met while sending or observing."),
    )
    attempt = models.PositiveIntegerField(_("attempt"), default=1)
    retry_of = models.ForeignKey(
        "self",
        verbose_name=_("retry of"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="retries",
    )

    # Direction: "outbound" (sent from here) or "inbound" (received as an agent, issue 17)
    direction = models.CharField(
        _("direction"),
        max_length=16,
        choices=[("outbound", _("Sent by this project")), ("inbound", _("Received as an agent"))],
        default="outbound",
        db_index=True,
    )

    # Observation
    last_heard_at = models.DateTimeField(_("last heard from the gateway"), null=True, blank=True)
    observer_lease_until = models.DateTimeField(_("observer lease until"), null=True, blank=True)
    observer_token = models.CharField(_("observer token"), max_length=64, blank=True)
    # Idle (issue 14): off the live stream, followed by the batched poll
    idle_since = models.DateTimeField(
        _("idle since"),
        null=True,
        blank=True,
        help_text=_("Set while the intent waits off the live stream, followed by the idle poll."),
    )
    next_poll_at = models.DateTimeField(_("next idle poll"), null=True, blank=True)
    idle_polls = models.PositiveSmallIntegerField(
        _("idle polls without change"), default=0, editable=False
    )

    objects = IntentQuerySet.as_manager()

    class Meta:
        verbose_name = _("intent")
        verbose_name_plural = _("intents")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "last_heard_at"], name="axme_intent_open_idx"),
            models.Index(fields=["owner_agent", "status"], name="axme_intent_owner_idx"),
            models.Index(fields=["next_poll_at"], name="axme_intent_poll_idx"),
        ]
        permissions = [
            ("cancel_intent", _("Can cancel intents")),
            ("change_intent_controls", _("Can change intent controls")),
            ("retry_intent", _("Can retry failed or timed-out intents")),
        ]

    def __str__(self) -> str:
        remote = self.intent_id or f"(outbox #{self.pk})"
        return f"{self.intent_type} {remote} [{self.status}]"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class IntentEvent(models.Model):
    """One remote lifecycle event, stored once per (intent, seq)."""

    intent = models.ForeignKey(
        Intent, verbose_name=_("intent"), on_delete=models.CASCADE, related_name="events"
    )
    seq = models.PositiveIntegerField(_("sequence number"))
    event_type = models.CharField(_("event type"), max_length=120)
    status = models.CharField(_("status"), max_length=64, blank=True)
    waiting_reason = models.CharField(_("waiting reason"), max_length=64, blank=True)
    actor = models.CharField(_("actor"), max_length=255, blank=True)
    at = models.DateTimeField(_("remote time"), null=True, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    raw = models.JSONField(_("raw remote JSON"), default=dict, blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        verbose_name = _("intent event")
        verbose_name_plural = _("intent events")
        ordering = ["intent", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["intent", "seq"], name="axme_event_intent_seq_uniq"),
        ]
        # Retention (axme_prune) selects events by age.
        indexes = [models.Index(fields=["received_at"], name="axme_event_received_idx")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.event_type}"


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Decision sent, waiting for confirmation")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    CLOSED = "closed", _("Closed elsewhere")


class Approval(models.Model):
    """An inbox thread that waits for a human decision (the human task of an intent)."""

    thread_id = models.CharField(_("thread id"), max_length=64, unique=True)
    intent = models.ForeignKey(
        Intent,
        verbose_name=_("intent"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="approvals",
    )
    remote_intent_id = models.CharField(
        _("remote intent id"), max_length=64, blank=True, db_index=True
    )
    owner_agent = models.CharField(_("owner agent"), max_length=383, blank=True, db_index=True)
    from_agent = models.CharField(_("from agent"), max_length=383, blank=True)
    to_agent = models.CharField(_("to agent"), max_length=383, blank=True)
    title = models.CharField(_("title"), max_length=255, blank=True)
    description = models.TextField(_("description"), blank=True)
    task_type = models.CharField(_("task type"), max_length=64, blank=True)
    allowed_outcomes = models.JSONField(_("allowed outcomes"), default=list, blank=True)
    comment_required = models.BooleanField(_("comment required"), default=False)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=ApprovalStatus.choices,
        default=ApprovalStatus.PENDING,
        db_index=True,
    )
    thread_status = models.CharField(
        _("thread status (remote)"),
        max_length=32,
        blank=True,
        help_text=_("The inbox thread status as the gateway reports it (pending, active, done)."),
    )
    timeline = models.JSONField(_("timeline"), default=list, blank=True)
    raw = models.JSONField(_("raw remote JSON"), default=dict, blank=True)
    remote_created_at = models.DateTimeField(_("created at (remote)"), null=True, blank=True)
    remote_updated_at = models.DateTimeField(_("updated at (remote)"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at (local)"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at (local)"), auto_now=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        verbose_name = _("approval")
        verbose_name_plural = _("approvals")
        ordering = ["created_at", "id"]
        permissions = [
            ("decide_approval", _("Can approve or reject approvals")),
            ("reply_approval", _("Can reply to approvals or ask for clarification")),
            ("delegate_approval", _("Can delegate approvals to another owner")),
        ]

    def __str__(self) -> str:
        return self.title or self.thread_id

    @property
    def is_open(self) -> bool:
        return self.status == ApprovalStatus.PENDING


class DecisionChoice(models.TextChoices):
    APPROVE = "approve", _("Approve")
    REJECT = "reject", _("Reject")


class DecisionState(models.TextChoices):
    RECORDED = "recorded", _("Recorded, not sent yet")
    SENT = "sent", _("Sent, waiting for confirmation")
    CONFIRMED = "confirmed", _("Confirmed by the gateway")
    FAILED = "failed", _("Failed, can be retried")
    SUPERSEDED = "superseded", _("Decided elsewhere first")


class ApprovalDecision(models.Model):
    """Who decided an approval, how, when, and what the gateway answered.

    At most one decision per approval is live (not failed, not superseded): the database
    enforces it, which is what makes a double submit or two admins racing end in one decision.
    """

    approval = models.ForeignKey(
        Approval, verbose_name=_("approval"), on_delete=models.CASCADE, related_name="decisions"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decision = models.CharField(_("decision"), max_length=16, choices=DecisionChoice.choices)
    outcome = models.CharField(_("outcome"), max_length=64, blank=True)
    note = models.TextField(_("note"), blank=True)
    task_result = models.JSONField(
        _("task result"),
        null=True,
        blank=True,
        help_text=_(
            "Sent as the human task's result (resume with task_result) instead of an inbox "
            "approve/reject: the outcome, comment and the data of the task's form."
        ),
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=128, unique=True)
    state = models.CharField(
        _("state"),
        max_length=16,
        choices=DecisionState.choices,
        default=DecisionState.RECORDED,
        db_index=True,
    )
    remote_response = models.JSONField(_("remote answer"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("decided at (local)"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("approval decision")
        verbose_name_plural = _("approval decisions")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["approval"],
                condition=~Q(state__in=["failed", "superseded"]),
                name="axme_one_live_decision_per_approval",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.decision} by {self.user or '?'}"


class IdempotencyRecord(models.Model):
    """The idempotency ledger: a key the app used, what it was for, and the stored answer."""

    key = models.CharField(_("idempotency key"), max_length=255, unique=True)
    operation = models.CharField(_("operation"), max_length=255)
    fingerprint = models.CharField(
        _("request fingerprint"),
        max_length=64,
        help_text=_("SHA-256 of the canonical JSON of the call's parameters."),
    )
    response = models.JSONField(_("stored answer"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"), db_index=True)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.operation} {self.key}"


class SyncCursor(models.Model):
    """A named cursor kept in the database (for example the inbox changes cursor per owner)."""

    name = models.CharField(_("name"), max_length=255, unique=True)
    value = models.CharField(_("value"), max_length=255, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = SyncCursorQuerySet.as_manager()

    class Meta:
        verbose_name = _("sync cursor")
        verbose_name_plural = _("sync cursors")

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class PendingSignal(models.Model):
    """A signal written by the one writer in the same transaction as the mirror change that
    causes it, deleted in the transaction that delivers it (the signal outbox).

    The signal's arguments are rebuilt from the referenced rows when it is delivered; a row
    left here by a crash is delivered by ``django_axme.sync.deliver_pending_signals``.
    """

    signal = models.CharField(_("signal"), max_length=64)
    intent = models.ForeignKey(
        Intent,
        verbose_name=_("intent"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    remote_intent_id = models.CharField(_("remote intent id"), max_length=64, blank=True)
    event = models.ForeignKey(
        IntentEvent,
        verbose_name=_("event"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    approval = models.ForeignKey(
        "Approval",
        verbose_name=_("approval"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    decision = models.ForeignKey(
        "ApprovalDecision",
        verbose_name=_("decision"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    arguments = models.JSONField(
        _("arguments"),
        default=dict,
        blank=True,
        help_text=_("Plain signal arguments, e.g. previous_status and status."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("pending signal")
        verbose_name_plural = _("pending signals")
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.signal} for {self.remote_intent_id or '?'}"
