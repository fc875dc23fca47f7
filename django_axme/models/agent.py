"""The agent side's durable state: listeners (cursor and lease), jobs and handler runs."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from django_axme.models.mirror import Intent


class AgentListener(models.Model):
    """The durable state of one served agent address: the agent stream cursor and the lease
    that lets only one listener follow the address at a time."""

    address = models.CharField(_("address"), max_length=383, unique=True)
    cursor = models.PositiveBigIntegerField(
        _("cursor"), default=0, help_text=_("Highest per-agent stream seq handled.")
    )
    lease_token = models.CharField(_("lease token"), max_length=64, blank=True)
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    holder = models.CharField(_("holder"), max_length=255, blank=True)
    last_heartbeat_at = models.DateTimeField(_("last mesh heartbeat"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("agent listener")
        verbose_name_plural = _("agent listeners")

    def __str__(self) -> str:
        return f"{self.address} @ {self.cursor}"


class AgentJobState(models.TextChoices):
    PENDING = "pending", _("Waiting for a worker")
    RUNNING = "running", _("Handler running")
    WAITING = "waiting", _("Waiting (human, time, agent, tool)")
    RESOLVING = "resolving", _("Outcome decided, resolve not confirmed")
    RESOLVED = "resolved", _("Resolved")
    FAILED = "failed", _("Handler error, run again possible")


class AgentJob(models.Model):
    """The work this project owes for one inbound intent (one row per intent).

    The outcome (``outcome_status`` with ``result`` or ``error``) is stored before the resolve
    call, so a redelivery never runs a handler that already succeeded: it only re-sends the
    stored outcome with the stored ``resolve_key``.
    """

    intent = models.OneToOneField(
        Intent, verbose_name=_("intent"), on_delete=models.CASCADE, related_name="agent_job"
    )
    address = models.CharField(_("address"), max_length=383, db_index=True)
    handler = models.CharField(_("handler"), max_length=255, blank=True)
    state = models.CharField(
        _("state"),
        max_length=16,
        choices=AgentJobState.choices,
        default=AgentJobState.PENDING,
        db_index=True,
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    lease_token = models.CharField(_("lease token"), max_length=64, blank=True)
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True, db_index=True)
    waiting_reason = models.CharField(_("waiting reason"), max_length=64, blank=True)
    wake_at = models.DateTimeField(_("wake at"), null=True, blank=True)
    decision = models.CharField(_("human decision"), max_length=16, blank=True)
    decision_note = models.TextField(_("decision note"), blank=True)
    outcome_status = models.CharField(_("outcome"), max_length=16, blank=True)
    result = models.JSONField(_("result sent"), null=True, blank=True)
    error = models.JSONField(_("error sent"), null=True, blank=True)
    resolve_key = models.CharField(_("resolve idempotency key"), max_length=128, blank=True)
    resolve_response = models.JSONField(_("resolve answer"), null=True, blank=True)
    resolve_conflict = models.BooleanField(
        _("resolve conflict"),
        default=False,
        help_text=_("The gateway answered 409: the intent was already terminal."),
    )
    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("agent job")
        verbose_name_plural = _("agent jobs")
        ordering = ["-received_at", "-id"]
        permissions = [("run_agent_handler_again", _("Can run an agent handler again"))]

    def __str__(self) -> str:
        return f"{self.handler or '?'} for {self.intent_id} [{self.state}]"

    @property
    def idempotency_key(self) -> str:
        """The stable key handed to the handler for its own side effects (same on every
        attempt and redelivery of this intent)."""
        return f"axme-agent:{self.intent.intent_id}"


class HandlerRun(models.Model):
    """One attempt of a handler on an inbound intent."""

    job = models.ForeignKey(
        AgentJob, verbose_name=_("job"), on_delete=models.CASCADE, related_name="runs"
    )
    attempt = models.PositiveIntegerField(_("attempt"))
    handler = models.CharField(_("handler"), max_length=255, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, blank=True)
    error = models.TextField(_("error"), blank=True)
    result = models.JSONField(_("result"), null=True, blank=True)
    progress = models.JSONField(_("progress"), default=list, blank=True)
    worker = models.CharField(_("worker"), max_length=255, blank=True)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    duration_ms = models.FloatField(_("duration (ms)"), null=True, blank=True)

    class Meta:
        verbose_name = _("handler run")
        verbose_name_plural = _("handler runs")
        ordering = ["job", "attempt"]
        constraints = [
            models.UniqueConstraint(fields=["job", "attempt"], name="axme_handlerrun_attempt_uniq")
        ]

    def __str__(self) -> str:
        return f"attempt {self.attempt} [{self.outcome or 'running'}]"
