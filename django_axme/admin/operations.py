"""Remote operations the admin offers on intents and approvals: thin callers of
:mod:`django_axme.services` that turn each result into the sentence to show.

Expected remote failures (gateway down, 4xx) become a failed :class:`OperationResult`, never
an exception: an admin page shows a message, not a 500. Nothing here writes a model or calls
the client directly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from django_axme.models import Approval, Intent
from django_axme.services import results
from django_axme.services.controls import STALE_POLICY_REASON
from django_axme.services.inbox import inbox_owners

if TYPE_CHECKING:  # pragma: no cover
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

logger = logging.getLogger("django_axme.admin")

__all__ = [
    "STALE_POLICY_REASON",
    "OperationResult",
    "actor_for",
    "cancel_intent",
    "delegate_approval",
    "inbox_owners",
    "refresh_approval",
    "refresh_inbox",
    "refresh_intent",
    "refresh_intents",
    "reply_to_approval",
    "resume_intent",
    "retry_intents",
    "start_observing",
    "update_controls",
]

#: Prefix of the idempotency keys of admin operations.
KEY_PREFIX = "django-axme-admin"


@dataclass(frozen=True)
class OperationResult:
    """What happened, as a message level (``django.contrib.messages``) and a sentence."""

    ok: bool
    message: str
    level: int = messages.SUCCESS
    data: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def failure(cls, message: str, **data: Any) -> OperationResult:
        return cls(False, message, messages.ERROR, data)


def actor_for(user: AbstractBaseUser | AnonymousUser) -> str:
    """The ``actor`` string sent with admin-initiated mutations (3 to 255 characters):
    ``get_adapter().actor_for(user)`` (default ``"django-admin:<username>"``)."""
    from django_axme.adapter import get_adapter

    return get_adapter().actor_for(user)[:255]


def _client() -> Any:
    from django_axme import get_client

    return get_client()


def _remote_error(action: str, exc: BaseException | None) -> OperationResult:
    logger.warning("admin %s failed: %s", action, exc)
    return OperationResult.failure(
        _("%(action)s failed: %(error)s") % {"action": action, "error": exc}
    )


def refresh_intent(intent: Intent) -> OperationResult:
    """Re-read the intent and its new events from AXME into the mirror (idempotent)."""
    from django_axme.exceptions import AxmeError
    from django_axme.services.refresh import refresh_intent as fetch_intent

    if not intent.intent_id:
        return OperationResult.failure(
            _("This intent has not been sent to AXME yet; there is nothing to refresh.")
        )
    try:
        fresh = fetch_intent(_client(), intent.intent_id, since=intent.last_seq).intent
    except AxmeError as exc:
        return _remote_error(_("Refresh from AXME"), exc)
    return OperationResult(
        True,
        _("Refreshed from AXME: status %(status)s, %(count)s events known.")
        % {"status": fresh.status, "count": fresh.last_seq},
    )


def refresh_intents(intents: Iterable[Intent]) -> OperationResult:
    """Refresh several intents; stops at the first remote failure and says how far it got."""
    done = 0
    for intent in intents:
        if not intent.intent_id:
            continue
        result = refresh_intent(intent)
        if not result.ok:
            return OperationResult.failure(
                _("%(done)s intents refreshed, then: %(error)s")
                % {"done": done, "error": result.message}
            )
        done += 1
    return OperationResult(True, _("%(done)s intents refreshed from AXME.") % {"done": done})


def start_observing(intents: Iterable[Intent]) -> OperationResult:
    """Queue the Celery observer for the open, sent intents (``tasks.start_observing``).

    Safe to repeat: an intent whose observer lease is live is not queued again.
    """
    from django_axme.tasks import start_observing as enqueue

    ids = [i.intent_id for i in intents if i.intent_id and not i.is_terminal]
    try:
        queued = enqueue(ids) if ids else 0
    except Exception as exc:
        logger.exception("could not queue observers for %s", ids)
        return OperationResult.failure(
            _("Could not queue the observer (is the Celery broker running?): %(error)s")
            % {"error": exc}
        )
    if not queued:
        return OperationResult(
            False,
            _("Nothing to observe: closed, not sent yet, or an observer is already running."),
            messages.WARNING,
        )
    return OperationResult(True, _("Observer queued for %(count)s intent(s).") % {"count": queued})


def retry_intents(intents: Iterable[Intent]) -> OperationResult:
    """Create the next attempt of each FAILED or TIMED_OUT intent and queue its send.

    The attempt is the ``retry_intent`` path's (:func:`django_axme.services.sending.
    create_retry_attempt`): an outbox row with ``attempt + 1``, ``retry_of`` the original,
    the same correlation id and its own key, created once per original (retrying twice
    returns the same attempt). Its send is queued like any outbox row; if the broker is down
    the row stays in the outbox and the reconcile sweep sends it. Other intents are skipped.
    """
    from django_axme.models import IntentStatus, SendState
    from django_axme.outbox import enqueue_send
    from django_axme.services.sending import create_retry_attempt

    retryable = (IntentStatus.FAILED, IntentStatus.TIMED_OUT)
    attempts: list[Intent] = []
    skipped = failed = 0
    for intent in intents:
        if not intent.intent_id or intent.status not in retryable:
            skipped += 1
            continue
        attempt = create_retry_attempt(intent.intent_id)
        if attempt is None:
            failed += 1
            continue
        if attempt.send_state == SendState.PENDING:
            try:
                enqueue_send(attempt.pk)
            except Exception:
                logger.exception("retry of %s: could not queue the send now", intent.intent_id)
        attempts.append(attempt)
    if not attempts:
        return OperationResult(
            False,
            _("Nothing was retried: only failed or timed-out intents can be retried.")
            if not failed
            else _("The retry could not be created; the intent's last error says why."),
            messages.WARNING if not failed else messages.ERROR,
        )
    if len(attempts) == 1 and not skipped and not failed:
        attempt = attempts[0]
        return OperationResult(
            True,
            _("Retry created: attempt %(attempt)s (outbox #%(pk)s), sent to AXME shortly.")
            % {"attempt": attempt.attempt, "pk": attempt.pk},
            data={"attempts": [attempt.pk]},
        )
    return OperationResult(
        True,
        ngettext(
            "%(count)s retry created; %(skipped)s skipped (not failed or timed out).",
            "%(count)s retries created; %(skipped)s skipped (not failed or timed out).",
            len(attempts),
        )
        % {"count": len(attempts), "skipped": skipped + failed},
        data={"attempts": [a.pk for a in attempts]},
    )


def cancel_intent(
    intent: Intent, *, reason: str, user: AbstractBaseUser | AnonymousUser
) -> OperationResult:
    """Cancel the intent on AXME (resolve with status CANCELED and the reason), then refresh
    (:func:`django_axme.services.intents.cancel_intent`)."""
    from django_axme.services.intents import cancel_intent as cancel

    assert intent.intent_id
    result = cancel(
        _client(),
        intent.intent_id,
        reason=reason,
        actor=actor_for(user),
        owner_agent=intent.owner_agent or None,
        idempotency_key=results.operation_key(KEY_PREFIX, "cancel", intent.intent_id, reason),
    )
    if result.status == results.REFUSED:
        return OperationResult(
            False,
            _("AXME refused to cancel: the intent is already closed (%(error)s).")
            % {"error": result.error},
            messages.WARNING,
        )
    if result.status == results.FAILED:
        return _remote_error(_("Cancel"), result.error)
    return OperationResult(True, _("Intent canceled on AXME."))


def resume_intent(
    intent: Intent, *, reason: str, user: AbstractBaseUser | AnonymousUser
) -> OperationResult:
    """Resume a waiting intent (approving its current step), then refresh the mirror
    (:func:`django_axme.services.intents.resume_intent`)."""
    from django_axme.services.intents import resume_intent as resume

    assert intent.intent_id
    result = resume(
        _client(),
        intent.intent_id,
        actor=actor_for(user),
        reason=reason,
        expected_generation=intent.policy_generation,
        owner_agent=intent.owner_agent or None,
        idempotency_key=results.operation_key(
            KEY_PREFIX, "resume", intent.intent_id, intent.last_seq, reason
        ),
    )
    if result.status == results.FAILED:
        return _remote_error(_("Resume"), result.error)
    if result.status == results.REFUSED and result.error is not None:
        return OperationResult(
            False,
            _("AXME refused to resume: %(error)s. The page shows the current state.")
            % {"error": result.error},
            messages.WARNING,
        )
    if result.status == results.REFUSED:
        return OperationResult(
            False,
            _("AXME did not resume the intent (%(reason)s).")
            % {"reason": result.reason or _("no reason given")},
            messages.WARNING,
        )
    return OperationResult(True, _("Intent resumed."))


def update_controls(
    intent: Intent,
    *,
    controls_patch: Mapping[str, Any],
    envelope_patch: Mapping[str, Any],
    expected_generation: int | None,
    reason: str,
    user: AbstractBaseUser | AnonymousUser,
) -> OperationResult:
    """Apply a controls patch and a retry-envelope patch with compare-and-set on the
    generation (:func:`django_axme.services.controls.update_controls`).

    A stale generation (HTTP 409 ``stale_policy_generation`` or ``applied: false`` with that
    reason) is explained to the user, with ``data={"stale": True}``; any other refusal (another
    409, another ``applied: false``) says what AXME answered. Never raises for a remote error.
    """
    from django_axme.services.controls import update_controls as update

    assert intent.intent_id
    result = update(
        _client(),
        intent.intent_id,
        controls_patch=controls_patch,
        envelope_patch=envelope_patch,
        expected_generation=expected_generation,
        actor=actor_for(user),
        reason=reason,
        owner_agent=intent.owner_agent or None,
        key_prefix=KEY_PREFIX,
    )
    if result.status == results.STALE:
        current = result.current_generation
        return OperationResult(
            False,
            _(
                "Nothing was changed: someone updated this intent's controls after you opened "
                "the form (you edited policy generation %(expected)s, AXME is now at "
                "%(current)s). The form below shows the current values; check them and "
                "submit again."
            )
            % {"expected": expected_generation, "current": current if current is not None else "?"},
            messages.WARNING,
            {"stale": True},
        )
    if result.status == results.REFUSED and result.reason == "nothing to change":
        return OperationResult(False, _("Nothing to change."), messages.INFO)
    if result.status == results.REFUSED:
        return OperationResult(
            False,
            _("AXME did not apply the change (%(reason)s).")
            % {"reason": result.reason or _("no reason given")},
            messages.WARNING,
        )
    if result.status == results.FAILED:
        return _remote_error(_("Updating the controls"), result.error)
    return OperationResult(
        True,
        _("Controls updated (policy generation %(generation)s).")
        % {"generation": result.current_generation},
    )


def refresh_approval(approval: Approval) -> OperationResult:
    """Re-read the approval's inbox thread (and its intent, when known) into the mirror
    (:func:`django_axme.services.refresh.refresh_thread`)."""
    from django_axme.exceptions import AxmeError
    from django_axme.services.refresh import refresh_thread

    try:
        refresh_thread(_client(), approval)
    except AxmeError as exc:
        return _remote_error(_("Refresh from AXME"), exc)
    return OperationResult(True, _("Refreshed from AXME."))


def refresh_inbox() -> OperationResult:
    """Read the inboxes of :func:`django_axme.services.inbox.inbox_owners` (the same owners
    and the same changes feed and cursors as the ``sync_inbox`` task and ``axme_sync
    --inbox``) and mirror the threads that wait for a human.

    Each thread goes through :func:`django_axme.services.refresh.ingest_inbox_thread`, which
    reads the thread's intent first when the mirror and the thread disagree. Idempotent. A
    thread whose intent the gateway no longer knows is logged and does not stop the others.
    """
    from django_axme.exceptions import AxmeError
    from django_axme.services.inbox import sync_inbox

    owners = inbox_owners()
    if not owners:
        return OperationResult.failure(
            _("No inbox to read: set AXME['INBOX_OWNER_AGENTS'] (or DEFAULT_OWNER_AGENT).")
        )
    try:
        done = sync_inbox(_client(), owners)
    except AxmeError as exc:
        return _remote_error(_("Reading the AXME inbox"), exc)
    return OperationResult(
        True,
        _("Inbox read for %(owners)s: %(count)s approval(s) mirrored.")
        % {"owners": ", ".join(owners), "count": done.approval_count},
    )


def reply_to_approval(
    approval: Approval, *, message: str, user: AbstractBaseUser | AnonymousUser
) -> OperationResult:
    """Post a message on the approval's thread (:func:`django_axme.services.threads.
    reply_to_thread`); nothing is decided."""
    from django_axme.services.threads import reply_to_thread

    answer = reply_to_thread(approval, message=message, user=user, client=_client())
    if not answer.ok:
        return _remote_error(_("Reply"), answer.error)
    return OperationResult(True, _("Your message was posted on the thread."))


def delegate_approval(
    approval: Approval, *, delegate_to: str, note: str, user: AbstractBaseUser | AnonymousUser
) -> OperationResult:
    """Delegate the approval's thread to another owner
    (:func:`django_axme.services.threads.delegate_thread`)."""
    from django_axme.services.threads import delegate_thread

    answer = delegate_thread(
        approval, delegate_to=delegate_to, note=note, user=user, client=_client()
    )
    if not answer.ok:
        return _remote_error(_("Delegation"), answer.error)
    return OperationResult(True, _("Delegated to %(owner)s.") % {"owner": delegate_to.strip()})
