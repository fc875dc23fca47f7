"""The ``AXME`` keys of the optional parts, webhooks and the agent side, as rows of the one
settings table (:data:`django_axme.settings_table.SETTINGS` ends with them). Kept apart only
so that each table module stays short; the vocabulary is :mod:`django_axme.settings_schema`.
"""

from __future__ import annotations

from django_axme.settings_schema import BOOL, INT, NUMBER, OPT_STR, SECTIONS, SEQUENCE, STR, Setting

KIB = 1024
MIB = 1024 * KIB
DAY = 24 * 3600

_WEBHOOKS = SECTIONS[5]
_AGENT = SECTIONS[6]

#: Shortest webhook signing secret accepted (AXME's own lower bound, reference 3.10).
WEBHOOK_MIN_SECRET_LENGTH = 16

#: Event types a webhook subscription asks for by default (reference 3.10).
WEBHOOK_DEFAULT_EVENT_TYPES = [
    "inbox.thread_created",
    "inbox.thread_updated",
    "inbox.reply_received",
]

#: The optional parts' settings, in documentation order.
FEATURE_SETTINGS: tuple[Setting, ...] = (
    # Webhooks
    Setting(
        "WEBHOOK_SECRETS",
        [],
        SEQUENCE,
        "Signing secrets a delivery may be signed with, newest first (rotation: add, then drop).",
        _WEBHOOKS,
        item_types=STR,
        secret=True,
    ),
    Setting(
        "WEBHOOK_SECRET",
        None,
        OPT_STR,
        "One signing secret (the one-secret spelling; tried before WEBHOOK_SECRETS).",
        _WEBHOOKS,
        secret=True,
    ),
    Setting(
        "WEBHOOK_MAX_BODY_BYTES",
        MIB,
        INT,
        "Largest delivery body the webhook view reads; a larger one is answered 413.",
        _WEBHOOKS,
        minimum=KIB,
        maximum=64 * MIB,
    ),
    Setting(
        "WEBHOOK_TOLERANCE_SECONDS",
        300,
        NUMBER,
        "A delivery whose signed timestamp is further from now than this is refused (400).",
        _WEBHOOKS,
        minimum=0,
        minimum_exclusive=True,
        maximum=DAY,
    ),
    Setting(
        "WEBHOOK_PROCESSING",
        "celery",
        STR,
        "Process a recorded delivery in a Celery task, or inline in the request.",
        _WEBHOOKS,
        choices=("celery", "inline"),
    ),
    Setting(
        "WEBHOOK_URL",
        None,
        OPT_STR,
        "Public URL of the webhook view that 'manage.py axme_webhooks sync' subscribes.",
        _WEBHOOKS,
    ),
    Setting(
        "WEBHOOK_EVENT_TYPES",
        WEBHOOK_DEFAULT_EVENT_TYPES,
        SEQUENCE,
        "Event types 'manage.py axme_webhooks sync' subscribes to.",
        _WEBHOOKS,
        item_types=STR,
    ),
    Setting(
        "WEBHOOK_REPROCESS_AFTER_SECONDS",
        60,
        NUMBER,
        "The reconcile sweep processes deliveries left unprocessed for this long, in seconds.",
        _WEBHOOKS,
        minimum=0,
        minimum_exclusive=True,
        maximum=DAY,
    ),
    # Agent (django_axme.agent)
    Setting(
        "AGENT_ADDRESSES",
        [],
        SEQUENCE,
        "The agent:// addresses this project serves as an AXME agent.",
        _AGENT,
        item_types=STR,
    ),
    Setting(
        "AGENT_WINDOW_SECONDS",
        15,
        INT,
        "Length of one agent stream window, in seconds.",
        _AGENT,
        minimum=1,
        maximum=60,
    ),
    Setting(
        "AGENT_LEASE_SECONDS",
        60,
        NUMBER,
        "Lease that keeps a second listener of the same address from running, in seconds.",
        _AGENT,
        minimum=0,
        minimum_exclusive=True,
        maximum=3600,
    ),
    Setting(
        "AGENT_JOB_LEASE_SECONDS",
        300,
        NUMBER,
        "Lease of one handler run; a killed worker's run is started again after it, in seconds.",
        _AGENT,
        minimum=0,
        minimum_exclusive=True,
        maximum=DAY,
    ),
    Setting(
        "AGENT_HEARTBEAT_SECONDS",
        30,
        NUMBER,
        "Period of the mesh heartbeat sent while listening, in seconds (0 = none).",
        _AGENT,
        minimum=0,
        maximum=3600,
    ),
    Setting(
        "AGENT_LISTEN_IN_WORKER",
        False,
        BOOL,
        "Start the listeners as Celery tasks when a worker starts.",
        _AGENT,
    ),
    Setting(
        "AGENT_LISTEN_SLICE_SECONDS",
        300,
        NUMBER,
        "Length of one agent_listen task slice before it re-enqueues itself, in seconds.",
        _AGENT,
        minimum=1,
        maximum=DAY,
    ),
)
