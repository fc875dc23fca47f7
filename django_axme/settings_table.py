"""Every key of ``settings.AXME``, declared once, and the one validator for its values.

:data:`SETTINGS` lists each setting with its default, accepted types, choices, bounds and a
one-line description. Everything else is derived from it: ``conf.DEFAULTS``, the runtime
validation in ``conf.get_setting()`` / ``conf.build_client()``, the system checks
(``checks.py``), and the headings of ``docs/settings.rst`` (a test compares them).

:func:`problems` is the single validator: the system checks turn its answers into
``axme.E00x`` messages and the runtime into ``AxmeSettingsError``, so a value the check lets
through is a value the runtime accepts, and the other way round.

This module imports nothing from Django (it is plain data and pure functions) and never
puts a secret's value (``API_KEY``, ``ACTOR_TOKEN``) or URL credentials in a message. The
vocabulary (:class:`Setting`, :class:`Problem`, the type tuples and formatting helpers) lives
in :mod:`django_axme.settings_schema` and is re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django_axme.settings_features import (
    FEATURE_SETTINGS,
    WEBHOOK_DEFAULT_EVENT_TYPES,
    WEBHOOK_MIN_SECRET_LENGTH,
)
from django_axme.settings_schema import (
    BOOL,
    INT,
    NUMBER,
    OPT_STR,
    SECTIONS,
    SEQUENCE,
    STR,
    Problem,
    Setting,
    _check_base_url,
    literal,
    problems,
    redact_url,
    short_repr,
    type_names,
    type_ok,
)

__all__ = [
    "BOOL",
    "BY_NAME",
    "INT",
    "NUMBER",
    "OPT_STR",
    "SECTIONS",
    "SEQUENCE",
    "SETTINGS",
    "STR",
    "WEBHOOK_DEFAULT_EVENT_TYPES",
    "WEBHOOK_MIN_SECRET_LENGTH",
    "Problem",
    "Setting",
    "first_problem",
    "literal",
    "problems",
    "redact_url",
    "short_repr",
    "type_names",
    "type_ok",
]

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
DAY = 24 * 3600

_CONNECTION = SECTIONS[0]
_LEDGER = SECTIONS[1]
_RETENTION = SECTIONS[2]
_CELERY = SECTIONS[3]
_ADMIN = SECTIONS[4]
#: Every key of ``settings.AXME``, in documentation order.
SETTINGS: tuple[Setting, ...] = (
    # Connection and client
    Setting(
        "BASE_URL",
        "https://api.cloud.axme.ai",
        STR,
        "The gateway URL: http(s)://host[:port][/path], no query, fragment or credentials.",
        _CONNECTION,
        client_field="base_url",
        check=_check_base_url,
    ),
    Setting(
        "API_KEY",
        None,
        OPT_STR,
        "The AXME service-account key; read it from the environment.",
        _CONNECTION,
        required=True,
        secret=True,
        client_field="api_key",
    ),
    Setting(
        "ACTOR_TOKEN",
        None,
        OPT_STR,
        "An actor JWT sent as 'Authorization: Bearer <token>' next to the API key.",
        _CONNECTION,
        secret=True,
        client_field="actor_token",
    ),
    Setting(
        "AUTH_STYLE",
        "x-api-key",
        STR,
        "How the API key is sent: the x-api-key header, or as a Bearer token (SDK 0.1).",
        _CONNECTION,
        choices=("x-api-key", "bearer"),
        client_field="auth_style",
    ),
    Setting(
        "TIMEOUT_SECONDS",
        15.0,
        NUMBER,
        "Read timeout of every request, in seconds.",
        _CONNECTION,
        minimum=0,
        minimum_exclusive=True,
        maximum=300,
        client_field="timeout_seconds",
    ),
    Setting(
        "CONNECT_TIMEOUT_SECONDS",
        5.0,
        NUMBER,
        "Connect timeout of every request, in seconds.",
        _CONNECTION,
        minimum=0,
        minimum_exclusive=True,
        maximum=300,
        client_field="connect_timeout_seconds",
    ),
    Setting(
        "MAX_RETRIES",
        2,
        INT,
        "Retries after the first attempt of a call that is safe to repeat.",
        _CONNECTION,
        minimum=0,
        maximum=10,
        client_field="max_retries",
    ),
    Setting(
        "RETRY_BACKOFF_SECONDS",
        0.2,
        NUMBER,
        "Base of the exponential backoff between retries, in seconds.",
        _CONNECTION,
        minimum=0,
        maximum=60,
        client_field="retry_backoff_seconds",
    ),
    Setting(
        "RETRY_BACKOFF_MAX_SECONDS",
        10.0,
        NUMBER,
        "Cap of one backoff, in seconds; a longer Retry-After is raised, not slept through.",
        _CONNECTION,
        minimum=0,
        maximum=300,
        client_field="retry_backoff_max_seconds",
    ),
    Setting(
        "POOL_MAXSIZE",
        10,
        INT,
        "Connections kept per host by the shared client.",
        _CONNECTION,
        minimum=1,
        maximum=1000,
        client_field="pool_maxsize",
    ),
    Setting(
        "MAX_RESPONSE_BYTES",
        16 * MIB,
        INT,
        "Largest decoded response body the client reads, in bytes.",
        _CONNECTION,
        minimum=KIB,
        maximum=GIB,
        client_field="max_response_bytes",
    ),
    Setting(
        "MAX_SSE_EVENT_BYTES",
        4 * MIB,
        INT,
        "Largest line or event the client reads from a server-sent event stream, in bytes.",
        _CONNECTION,
        minimum=KIB,
        maximum=GIB,
        client_field="max_sse_event_bytes",
    ),
    Setting(
        "AUTO_TRACE_ID",
        True,
        BOOL,
        "Generate an X-Trace-Id for calls without trace_id=.",
        _CONNECTION,
        client_field="auto_trace_id",
    ),
    Setting(
        "AUTO_IDEMPOTENCY_KEY",
        True,
        BOOL,
        "Give each write without idempotency_key= a generated key, so it can be retried.",
        _CONNECTION,
        client_field="auto_idempotency_key",
    ),
    Setting(
        "DEFAULT_OWNER_AGENT",
        None,
        OPT_STR,
        "Owner agent of inbox calls not given owner_agent=.",
        _CONNECTION,
        client_field="default_owner_agent",
    ),
    Setting(
        "DEFAULT_FROM_AGENT",
        None,
        OPT_STR,
        "from_agent of intents sent through send_intent_on_commit() when none is given.",
        _CONNECTION,
    ),
    # Idempotency ledger
    Setting(
        "IDEMPOTENCY_TTL_SECONDS",
        DAY,
        NUMBER,
        "How long a keyed call's answer is kept for replays, in seconds.",
        _LEDGER,
        minimum=0,
        minimum_exclusive=True,
        maximum=30 * DAY,
    ),
    Setting(
        "IDEMPOTENCY_MISMATCH",
        "warn",
        STR,
        "A key reused with different parameters: warn and send, or raise before sending.",
        _LEDGER,
        choices=("warn", "raise"),
    ),
    # Retention
    Setting(
        "RETENTION_DAYS",
        90,
        INT,
        "Age in days after which closed intents, events and ledger rows are pruned.",
        _RETENTION,
        minimum=1,
        maximum=36500,
    ),
    Setting(
        "PRUNE_BATCH_SIZE",
        1000,
        INT,
        "Rows deleted per transaction while pruning.",
        _RETENTION,
        minimum=1,
        maximum=10000,
    ),
    # Celery
    Setting(
        "TASK_MAX_RETRIES",
        5,
        INT,
        "Celery retries of a task whose API call failed with a retryable error.",
        _CELERY,
        minimum=0,
        maximum=100,
    ),
    Setting(
        "TASK_RETRY_BACKOFF_MAX_SECONDS",
        600,
        NUMBER,
        "Cap of the Celery retry countdown, in seconds.",
        _CELERY,
        minimum=0,
        maximum=DAY,
    ),
    Setting(
        "OBSERVE_WINDOW_SECONDS",
        25,
        INT,
        "Length of one observer slice (one SSE window; the gateway holds at most 60 s).",
        _CELERY,
        minimum=1,
        maximum=60,
    ),
    Setting(
        "OBSERVER_LEASE_SECONDS",
        90,
        NUMBER,
        "Lease that keeps a second observer of the same intent from running, in seconds.",
        _CELERY,
        minimum=0,
        minimum_exclusive=True,
        maximum=3600,
    ),
    Setting(
        "OBSERVER_QUEUE",
        None,
        OPT_STR,
        "Celery queue of the observer tasks; None uses the default queue.",
        _CELERY,
    ),
    Setting(
        "OBSERVER_BATCH_SIZE",
        500,
        INT,
        "Most intents one observe_many slice follows (one reader thread each).",
        _CELERY,
        minimum=1,
        maximum=2000,
    ),
    Setting(
        "RECONCILE_AFTER_SECONDS",
        300,
        NUMBER,
        "The reconcile task re-reads open intents not heard from for this long, in seconds.",
        _CELERY,
        minimum=0,
        minimum_exclusive=True,
        maximum=7 * DAY,
    ),
    Setting(
        "OBSERVER_IDLE_AFTER_SECONDS",
        300,
        NUMBER,
        "A WAITING intent silent this long leaves the live stream for the idle poll (0: never).",
        _CELERY,
        minimum=0,
        maximum=DAY,
    ),
    Setting(
        "OBSERVER_IDLE_SWEEP_SECONDS",
        7200,
        NUMBER,
        "Seconds between safety re-reads of an idle intent whose approval thread is in a "
        "synchronised inbox (the inbox feed and webhooks wake it sooner).",
        _CELERY,
        minimum=60,
        maximum=7 * DAY,
    ),
    Setting(
        "INBOX_OWNER_AGENTS",
        [],
        SEQUENCE,
        "Owner agents whose inboxes are synchronised into approvals.",
        _CELERY,
        item_types=STR,
    ),
    # Admin
    Setting(
        "ADMIN_ALLOW_DELETE",
        False,
        BOOL,
        "Allow deleting mirror rows in the admin (with the delete permission).",
        _ADMIN,
    ),
    Setting(
        "ADAPTER",
        "django_axme.adapter.DefaultAxmeAdapter",
        STR,
        "Dotted path of the adapter class (actor of admin mutations, deciding identity, "
        "one-line summaries of intents and approvals).",
        _ADMIN,
    ),
    *FEATURE_SETTINGS,
)

#: The table by name.
BY_NAME: Mapping[str, Setting] = {s.name: s for s in SETTINGS}


def first_problem(name: str, value: Any) -> Problem | None:
    """The first :func:`problems` answer for setting ``name`` (``None``: valid or undeclared)."""
    setting = BY_NAME.get(name)
    if setting is None:
        return None
    return next(problems(setting, value), None)
