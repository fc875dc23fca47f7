"""Forms of the AXME admin: decisions, bulk decisions, cancel, resume and controls."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from django_axme.models import Approval, DecisionChoice, Intent

NOTE_MAX_LENGTH = 2000  # inbox approve/reject comment limit
REASON_MAX_LENGTH = 2000  # resolve/resume/controls reason limit


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _outcome_choices(outcomes: Sequence[Any]) -> list[tuple[str, Any]]:
    return [("", _("— choose an outcome —"))] + [
        (str(o), str(o)) for o in outcomes if isinstance(o, str | int) and str(o)
    ]


class DecisionForm(forms.Form):
    """Decide one approval: approve/reject, one of the task's outcomes, or the task's form.

    - ``note`` is required when the human task requires a comment.
    - When the task lists allowed outcomes, each is a button (``outcome``); the decision
      follows from it (:func:`~django_axme.services.decisions.decision_for_outcome`) unless
      ``decision`` is posted too.
    - When the task carries a ``form_schema`` (or requires evidence), its fields are added
      (:mod:`django_axme.admin.task_form`) and validated; :meth:`task_result` is then the
      ``task_result`` to send through the resume call. Rejecting a task that has no outcomes
      needs none of its fields.
    """

    decision = forms.ChoiceField(
        label=_("Decision"), choices=DecisionChoice.choices, required=False
    )
    outcome = forms.ChoiceField(label=_("Outcome"), required=False)
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Sent to AXME as the decision's comment and kept with the decision."),
    )

    def __init__(self, *args: Any, approval: Approval, **kwargs: Any) -> None:
        from django_axme.admin.request import human_task_of
        from django_axme.admin.task_form import schema_fields

        super().__init__(*args, **kwargs)
        self.approval = approval
        if approval.comment_required:
            self.fields["note"].required = True
            self.fields["note"].help_text = _("This task requires a comment.")
            self.fields["note"].error_messages["required"] = _("This task requires a comment.")
        outcomes = approval.allowed_outcomes if isinstance(approval.allowed_outcomes, list) else []
        choices = _outcome_choices(outcomes)
        self.outcome_choices = [value for value, _label in choices[1:]]
        if self.outcome_choices:
            outcome_field = self.fields["outcome"]
            assert isinstance(outcome_field, forms.ChoiceField)
            outcome_field.choices = choices
        else:
            del self.fields["outcome"]
        task = human_task_of(approval)
        self.schema_fields = schema_fields(task.get("form_schema"))
        rejecting = self.data.get("decision") == DecisionChoice.REJECT and not self.outcome_choices
        for spec in self.schema_fields:
            if rejecting:
                spec.field.required = False
            self.fields[spec.name] = spec.field
        self.evidence_required = bool(task.get("evidence_required"))
        if self.evidence_required and "evidence" not in {f.key for f in self.schema_fields}:
            self.fields["evidence"] = forms.CharField(
                label=_("Evidence"),
                required=not rejecting,
                max_length=NOTE_MAX_LENGTH,
                widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
                help_text=_("Required by this task: a link or a description of the evidence."),
            )
        # The task's own fields first, then the comment.
        self.order_fields([*self.data_field_names, "outcome", "note", "decision"])

    @property
    def is_form_task(self) -> bool:
        """The decision is sent as a task result (the task has a form or wants evidence)."""
        return bool(self.schema_fields) or self.evidence_required

    @property
    def data_field_names(self) -> list[str]:
        names = [spec.name for spec in self.schema_fields]
        return names + (["evidence"] if "evidence" in self.fields else [])

    def clean_note(self) -> str:
        note = self.cleaned_data.get("note", "").strip()
        if self.approval.comment_required and not note:
            raise forms.ValidationError(_("This task requires a comment."), code="required")
        return note

    def clean(self) -> dict[str, Any]:
        from django_axme.services.decisions import decision_for_outcome

        cleaned = super().clean() or {}
        outcome = cleaned.get("outcome") or ""
        if self.outcome_choices and not outcome:
            self.add_error("outcome", _("Choose one of the task's outcomes."))
        if not cleaned.get("decision"):
            if outcome:
                cleaned["decision"] = decision_for_outcome(outcome)
            elif not self.outcome_choices:
                raise forms.ValidationError(_("Choose a decision."), code="required")
        return cleaned

    def task_result(self) -> dict[str, Any] | None:
        """The ``task_result`` of a form task (``None`` for a plain approve/reject, and for a
        rejection of a form task without outcomes, which goes through the inbox)."""
        from django_axme.admin.task_form import to_json
        from django_axme.services.decisions import task_result_payload

        data = self.cleaned_data
        if not self.is_form_task:
            return None
        if data.get("decision") == DecisionChoice.REJECT and not self.outcome_choices:
            return None
        values: dict[str, Any] = {}
        for spec in self.schema_fields:
            value = to_json(spec.kind, data.get(spec.name))
            if value is not None or spec.kind == "boolean":
                values[spec.key] = bool(value) if spec.kind == "boolean" else value
        if "evidence" in self.fields and data.get("evidence"):
            values["evidence"] = data["evidence"]
        return task_result_payload(data.get("outcome") or "", data.get("note") or "", values)


class ReplyForm(forms.Form):
    """A message on the approval's thread: a reply, or a request for clarification."""

    message = forms.CharField(
        label=_("Message"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Posted on the inbox thread; the sender sees it. Nothing is decided."),
    )

    def clean_message(self) -> str:
        message = self.cleaned_data["message"].strip()
        if not message:
            raise forms.ValidationError(_("Write a message."), code="required")
        return message


class DelegateForm(forms.Form):
    """Hand the approval to another owner (an agent address such as ``agent://org/ws/name``)."""

    delegate_to = forms.CharField(
        label=_("Delegate to"),
        min_length=3,
        max_length=255,
        widget=forms.TextInput(attrs={"size": 50}),
        help_text=_("The owner who decides instead (an AXME agent address)."),
    )
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )


class BulkDecisionForm(forms.Form):
    """The note of a bulk decision; required when any selected task requires a comment."""

    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Sent with every decision of this batch."),
    )

    def __init__(self, *args: Any, note_required: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.note_required = note_required
        if note_required:
            self.fields["note"].required = True
            self.fields["note"].help_text = _(
                "At least one selected task requires a comment; it is sent with every decision."
            )

    def clean_note(self) -> str:
        note = self.cleaned_data.get("note", "").strip()
        if self.note_required and not note:
            raise forms.ValidationError(_("A note is required for this batch."), code="required")
        return note


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Required by AXME; recorded in the intent's history."),
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("Give a reason for the cancellation."), code="required")
        return reason


class ResumeForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )


class ControlsForm(forms.Form):
    """The intent's retry and reminder controls and its deadline, edited with compare-and-set.

    ``expected_policy_generation`` is the generation the form was rendered with; it is sent as
    is, so a change made by someone else in between is detected by AXME, not overwritten.
    """

    max_retries = forms.IntegerField(
        label=_("Maximum retries"), required=False, min_value=0, max_value=1000
    )
    retry_delay_seconds = forms.IntegerField(
        label=_("Retry delay (seconds)"), required=False, min_value=1, max_value=7 * 24 * 3600
    )
    remind_after_seconds = forms.IntegerField(
        label=_("First reminder after (seconds)"), required=False, min_value=1
    )
    remind_interval_seconds = forms.IntegerField(
        label=_("Reminder interval (seconds)"), required=False, min_value=1
    )
    max_reminders = forms.IntegerField(label=_("Maximum reminders"), required=False, min_value=1)
    deadline_at = forms.DateTimeField(
        label=_("Deadline"),
        required=False,
        help_text=_("When the deadline passes, AXME moves the intent to TIMED_OUT."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=REASON_MAX_LENGTH,
        widget=forms.TextInput(attrs={"size": 60}),
    )
    expected_policy_generation = forms.IntegerField(
        required=False, min_value=0, widget=forms.HiddenInput
    )

    ENVELOPE_FIELDS = {
        "max_retries": "max_retry_count",
        "retry_delay_seconds": "retry_backoff_seconds",
    }
    CONTROL_FIELDS = (
        "remind_after_seconds",
        "remind_interval_seconds",
        "max_reminders",
        "deadline_at",
    )

    @classmethod
    def initial_for(cls, intent: Intent) -> dict[str, Any]:
        """Initial values from the mirrored policy (``controls``, ``envelope``) and raw intent."""
        policy: dict[str, Any] = intent.controls if isinstance(intent.controls, dict) else {}
        controls: dict[str, Any] = _dict(policy.get("controls"))
        envelope: dict[str, Any] = _dict(policy.get("envelope"))
        raw = intent.raw if isinstance(intent.raw, dict) else {}
        initial: dict[str, Any] = {"expected_policy_generation": intent.policy_generation}
        for name, remote in cls.ENVELOPE_FIELDS.items():
            initial[name] = envelope.get(remote)
        for name in cls.CONTROL_FIELDS:
            initial[name] = controls.get(name, raw.get(name))
        initial["deadline_at"] = intent.deadline_at
        return initial

    def patches(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(controls_patch, envelope_patch)`` holding only the fields that changed."""
        data = self.cleaned_data
        envelope: dict[str, Any] = {}
        controls: dict[str, Any] = {}
        for name, remote in self.ENVELOPE_FIELDS.items():
            if name in self.changed_data and data.get(name) is not None:
                envelope[remote] = data[name]
        for name in self.CONTROL_FIELDS:
            if name in self.changed_data and data.get(name) is not None:
                value = data[name]
                controls[name] = value.isoformat() if name == "deadline_at" else value
        return controls, envelope

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.errors:
            controls, envelope = self.patches()
            if not controls and not envelope:
                raise forms.ValidationError(
                    _("Change at least one value; clearing a value is not supported by AXME."),
                    code="unchanged",
                )
        return cleaned
