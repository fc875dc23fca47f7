"""Remote operations the admin offers on intents and approvals.

Each function makes the client call(s), hands what the gateway answered to the one writer
(``django_axme.sync``) and returns an :class:`OperationResult` carrying the sentence to show.
Expected remote failures (gateway down, 4xx) become a failed result, never an exception: an
admin page shows a message, not a 500. Nothing here writes a model directly.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.utils.translation import gettext as _

from django_axme.models import Approval, Intent

if TYPE_CHECKING:  # pragma: no cover
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

logger = logging.getLogger("django_axme.admin")

STALE_POLICY_REASON = "stale_policy_generation"


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
    """The ``actor`` string sent with admin-initiated mutations (3 to 255 characters)."""
    return f"django-admin:{user.get_username() or 'unknown'}"[:255]


def _key(intent: Intent, operation: str, *parts: object) -> str:
    """A deterministic idempotency key for one admin operation with the same inputs."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:24]
    return f"django-axme-admin:{operation}:{intent.intent_id}:{digest}"


def _remote_error(action: str, exc: Exception) -> OperationResult:
    logger.warning("admin %s failed: %s", action, exc)
    return OperationResult.failure(
        _("%(action)s failed: %(error)s") % {"action": action, "error": exc}
    )


def _sync_intent(intent_id: str, since: int) -> Intent:
    """Fetch the remote intent and its events after ``since`` and hand them to the one writer."""
    from django_axme import get_client
    from django_axme.refresh import refresh_intent as fetch_intent

    return fetch_intent(get_client(), intent_id, since=since).intent


def refresh_intent(intent: Intent) -> OperationResult:
    """Re-read the intent and its new events from AXME into the mirror (idempotent)."""
    from django_axme.exceptions import AxmeError

    if not intent.intent_id:
        return OperationResult.failure(
            _("This intent has not been sent to AXME yet; there is nothing to refresh.")
        )
    try:
        fresh = _sync_intent(intent.intent_id, intent.last_seq)
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


def cancel_intent(
    intent: Intent, *, reason: str, user: AbstractBaseUser | AnonymousUser
) -> OperationResult:
    """Cancel the intent on AXME (resolve with status CANCELED and the reason), then refresh."""
    from django_axme import get_client
    from django_axme.exceptions import AxmeConflictError, AxmeError

    assert intent.intent_id
    try:
        get_client().resolve_intent(
            intent.intent_id,
            {"status": "CANCELED", "reason": reason, "actor": actor_for(user)},
            owner_agent=intent.owner_agent or None,
            idempotency_key=_key(intent, "cancel", reason),
        )
    except AxmeConflictError as exc:
        refresh_intent(intent)
        return OperationResult(
            False,
            _("AXME refused to cancel: the intent is already closed (%(error)s).") % {"error": exc},
            messages.WARNING,
        )
    except AxmeError as exc:
        return _remote_error(_("Cancel"), exc)
    refresh_intent(intent)
    return OperationResult(True, _("Intent canceled on AXME."))


def resume_intent(
    intent: Intent, *, reason: str, user: AbstractBaseUser | AnonymousUser
) -> OperationResult:
    """Resume a waiting intent (approving its current step), then refresh the mirror."""
    from django_axme import get_client
    from django_axme.exceptions import AxmeConflictError, AxmeError

    assert intent.intent_id
    body: dict[str, Any] = {"approve_current_step": True, "actor": actor_for(user)}
    if reason:
        body["reason"] = reason
    if intent.policy_generation is not None:
        body["expected_policy_generation"] = intent.policy_generation
    try:
        answer = get_client().resume_intent(
            intent.intent_id,
            body,
            owner_agent=intent.owner_agent or None,
            idempotency_key=_key(intent, "resume", intent.last_seq, reason),
        )
    except AxmeConflictError as exc:
        refresh_intent(intent)
        return OperationResult(
            False,
            _("AXME refused to resume: %(error)s. The page shows the current state.")
            % {"error": exc},
            messages.WARNING,
        )
    except AxmeError as exc:
        return _remote_error(_("Resume"), exc)
    refresh_intent(intent)
    if isinstance(answer, Mapping) and answer.get("applied") is False:
        return OperationResult(
            False,
            _("AXME did not resume the intent (%(reason)s).")
            % {"reason": answer.get("reason") or _("no reason given")},
            messages.WARNING,
        )
    return OperationResult(True, _("Intent resumed."))


def _stale_result(intent: Intent, expected: int | None, current: Any) -> OperationResult:
    refresh_intent(intent)
    return OperationResult(
        False,
        _(
            "Nothing was changed: someone updated this intent's controls after you opened the "
            "form (you edited policy generation %(expected)s, AXME is now at %(current)s). "
            "The form below shows the current values; check them and submit again."
        )
        % {"expected": expected, "current": current if current is not None else "?"},
        messages.WARNING,
        {"stale": True},
    )


def update_controls(
    intent: Intent,
    *,
    controls_patch: Mapping[str, Any],
    envelope_patch: Mapping[str, Any],
    expected_generation: int | None,
    reason: str,
    user: AbstractBaseUser | AnonymousUser,
) -> OperationResult:
    """Apply a controls patch and a retry-envelope patch with compare-and-set on the generation.

    The envelope (retries) goes through ``update_intent_policy`` and the rest through
    ``update_intent_controls``; each call carries ``expected_policy_generation`` (the second one
    the generation the first returned). A stale generation, in either the 409 or the
    ``applied: false`` form, is explained to the user, never raised.
    """
    from django_axme import get_client
    from django_axme.exceptions import AxmeConflictError, AxmeError

    assert intent.intent_id
    client = get_client()
    generation = expected_generation
    calls: list[tuple[Any, dict[str, Any]]] = []
    common = {"actor": actor_for(user)}
    if reason:
        common["reason"] = reason
    if envelope_patch:
        calls.append((client.update_intent_policy, {"envelope_patch": dict(envelope_patch)}))
    if controls_patch:
        calls.append((client.update_intent_controls, {"controls_patch": dict(controls_patch)}))
    if not calls:
        return OperationResult(False, _("Nothing to change."), messages.INFO)
    for call, body in calls:
        body = {**body, **common}
        if generation is not None:
            body["expected_policy_generation"] = generation
        try:
            answer = call(
                intent.intent_id,
                body,
                owner_agent=intent.owner_agent or None,
                idempotency_key=_key(intent, "controls", generation, sorted(body.items())),
            )
        except AxmeConflictError as exc:
            body_data = getattr(exc, "body", None)
            current = body_data.get("policy_generation") if isinstance(body_data, dict) else None
            return _stale_result(intent, generation, current)
        except AxmeError as exc:
            return _remote_error(_("Updating the controls"), exc)
        if isinstance(answer, Mapping) and answer.get("applied") is False:
            if answer.get("reason") == STALE_POLICY_REASON:
                return _stale_result(intent, generation, answer.get("policy_generation"))
            refresh_intent(intent)
            return OperationResult(
                False,
                _("AXME did not apply the change (%(reason)s).")
                % {"reason": answer.get("reason") or _("no reason given")},
                messages.WARNING,
            )
        if isinstance(answer, Mapping) and isinstance(answer.get("policy_generation"), int):
            generation = answer["policy_generation"]
    refresh_intent(intent)
    return OperationResult(
        True,
        _("Controls updated (policy generation %(generation)s).") % {"generation": generation},
    )


def refresh_approval(approval: Approval) -> OperationResult:
    """Re-read the approval's inbox thread (and its intent, when known) into the mirror."""
    from django_axme import get_client, sync
    from django_axme.exceptions import AxmeError

    try:
        answer = get_client().get_inbox_thread(
            approval.thread_id, owner_agent=approval.owner_agent or None
        )
        thread = answer.get("thread", answer) if isinstance(answer, Mapping) else {}
        sync.ingest_thread(thread)
        intent_id = approval.remote_intent_id or (approval.intent and approval.intent.intent_id)
        if intent_id:
            last_seq = approval.intent.last_seq if approval.intent else 0
            _sync_intent(intent_id, last_seq)
    except AxmeError as exc:
        return _remote_error(_("Refresh from AXME"), exc)
    return OperationResult(True, _("Refreshed from AXME."))


def inbox_owners() -> list[str]:
    """The owner agents whose inboxes the admin reads (``INBOX_OWNER_AGENTS``, else default)."""
    from django_axme.conf import get_setting

    owners = [o for o in (get_setting("INBOX_OWNER_AGENTS") or []) if o]
    if not owners and get_setting("DEFAULT_OWNER_AGENT"):
        owners = [get_setting("DEFAULT_OWNER_AGENT")]
    return owners


def refresh_inbox() -> OperationResult:
    """Read every configured owner's inbox and mirror the threads that wait for a human.

    Each thread goes through :func:`django_axme.refresh.ingest_inbox_thread`, which reads the
    thread's intent first when the mirror and the thread disagree (the mirrored intent is what
    says whether a thread still waits for a human). Idempotent; costs one call per owner plus
    two per thread that is ahead of the mirror. A thread whose intent the gateway no longer
    knows is logged and does not stop the others.
    """
    from django_axme import get_client
    from django_axme.exceptions import AxmeError
    from django_axme.refresh import ingest_inbox_thread

    owners = inbox_owners()
    if not owners:
        return OperationResult.failure(
            _("No inbox to read: set AXME['INBOX_OWNER_AGENTS'] (or DEFAULT_OWNER_AGENT).")
        )
    client = get_client()
    mirrored = 0
    try:
        for owner in owners:
            answer = client.list_inbox(owner_agent=owner)
            threads = answer.get("threads", []) if isinstance(answer, Mapping) else []
            for thread in threads:
                if not isinstance(thread, Mapping):
                    continue
                if ingest_inbox_thread(client, thread) is not None:
                    mirrored += 1
    except AxmeError as exc:
        return _remote_error(_("Reading the AXME inbox"), exc)
    return OperationResult(
        True,
        _("Inbox read for %(owners)s: %(count)s approval(s) mirrored.")
        % {"owners": ", ".join(owners), "count": mirrored},
    )
