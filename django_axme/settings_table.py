"""Every key of ``settings.AXME``, declared once, and the one validator for its values.

:data:`SETTINGS` lists each setting with its default, accepted types, choices, bounds and a
one-line description. Everything else is derived from it: ``conf.DEFAULTS``, the runtime
validation in ``conf.get_setting()`` / ``conf.build_client()``, the system checks
(``checks.py``), and the headings of ``docs/settings.rst`` (a test compares them).

:func:`problems` is the single validator: the system checks turn its answers into
``axme.E00x`` messages and the runtime into ``AxmeSettingsError``, so a value the check lets
through is a value the runtime accepts, and the other way round.

This module imports nothing from Django (it is plain data and pure functions) and never
puts a secret's value (``API_KEY``, ``ACTOR_TOKEN``) or URL credentials in a message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

NUMBER: tuple[type, ...] = (int, float)
INT: tuple[type, ...] = (int,)
STR: tuple[type, ...] = (str,)
OPT_STR: tuple[type, ...] = (str, type(None))
BOOL: tuple[type, ...] = (bool,)
SEQUENCE: tuple[type, ...] = (list, tuple)

SECTIONS = (
    "Connection and client",
    "Idempotency ledger",
    "Retention",
    "Celery",
    "Admin",
    "Agent",
)

_TYPE_NAMES = {
    str: "str",
    type(None): "None",
    int: "int",
    float: "float",
    bool: "bool",
    list: "list",
    tuple: "tuple",
}
_REPR_LIMIT = 80


@dataclass(frozen=True)
class Problem:
    """One reason a value is refused.

    ``kind`` is ``"type"`` (the value or a list element has the wrong type), ``"choice"``,
    ``"range"`` (below the minimum, above the maximum, or not finite), ``"url"`` (not an
    http(s) URL) or ``"credentials"`` (a URL with ``user:password@``).
    ``template % params`` is the English message, which starts with ``AXME['<KEY>']``; the
    system checks translate ``template`` first.
    """

    kind: str
    key: str
    template: str
    params: dict[str, Any]

    def message(self, translate: Callable[[str], str] | None = None) -> str:
        """The message, through ``translate`` (e.g. gettext) when given."""
        template = translate(self.template) if translate else self.template
        return template % self.params


@dataclass(frozen=True)
class Setting:
    """One key of ``settings.AXME``.

    ``types``: accepted types (``bool`` is never accepted as a number unless listed);
    ``choices``: allowed values (empty: any); ``minimum`` / ``maximum``: inclusive bounds,
    ``minimum_exclusive`` makes the lower one strict; ``finite``: refuse NaN and infinities;
    ``item_types``: accepted types of each element of a list or tuple; ``required``: must be
    set to a non-blank value (reported by ``axme.E001``); ``secret``: the value is never shown;
    ``client_field``: the ``AxmeClientConfig`` field the value is passed to, if any;
    ``check``: an extra validator of a value that has the right type.
    """

    name: str
    default: Any
    types: tuple[type, ...]
    doc: str
    section: str
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    minimum_exclusive: bool = False
    maximum: float | None = None
    finite: bool = True
    item_types: tuple[type, ...] | None = None
    required: bool = False
    secret: bool = False
    client_field: str | None = None
    check: Callable[[Setting, Any], Problem | None] | None = field(default=None, repr=False)

    @property
    def is_number(self) -> bool:
        return int in self.types or float in self.types

    def type_names(self) -> str:
        """The accepted types for a message, e.g. ``"int or float"``."""
        return type_names(self.types)

    def bounds_text(self) -> str:
        """The bounds as written in the docs, e.g. ``"> 0, <= 300"`` (empty when none)."""
        parts = []
        if self.minimum is not None:
            parts.append(f"{'>' if self.minimum_exclusive else '>='} {_number(self.minimum)}")
        if self.maximum is not None:
            parts.append(f"<= {_number(self.maximum)}")
        return ", ".join(parts)

    def rst_heading(self) -> str:
        """The heading of this setting's entry in ``docs/settings.rst``.

        For example ``TIMEOUT_SECONDS`` gives ````TIMEOUT_SECONDS`` (``15.0``; > 0, <= 300)``.
        """
        notes = [f"``{literal(self.default)}``"]
        if self.choices:
            notes.append("one of " + ", ".join(f"``{literal(c)}``" for c in self.choices))
        if self.item_types:
            notes.append(f"list of {type_names(self.item_types)}")
        if self.bounds_text():
            notes.append(self.bounds_text())
        if self.required:
            notes.append("required")
        return f"``{self.name}`` ({'; '.join(notes)})"


def type_names(types: tuple[type, ...]) -> str:
    """``(int, float)`` -> ``"int or float"``."""
    return " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)


def literal(value: Any) -> str:
    """A default as the docs write it: Python literals, strings in double quotes."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def short_repr(value: Any) -> str:
    """``repr(value)`` cut to a length a message can carry."""
    text = repr(value)
    return text if len(text) <= _REPR_LIMIT else text[: _REPR_LIMIT - 3] + "..."


def type_ok(value: Any, types: tuple[type, ...]) -> bool:
    """``isinstance`` where ``True``/``False`` are not numbers (unless ``bool`` is listed)."""
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)


_USERINFO = re.compile(r"(//)[^/?#]*@")


def redact_url(value: str) -> str:
    """``value`` with any ``user:password@`` replaced by ``***@`` (also in a malformed URL)."""
    return _USERINFO.sub(r"\1***@", value)


def _check_base_url(setting: Setting, value: Any) -> Problem | None:
    """An ``http(s)://host[:port][/path]`` URL with no query, fragment or credentials."""
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
    ):
        return Problem(
            "url",
            setting.name,
            "AXME[%(key)r] is not a valid http(s) URL: %(value)s.",
            {"key": setting.name, "value": short_repr(redact_url(value))},
        )
    if parts.username is not None or parts.password is not None:
        return Problem(
            "credentials",
            setting.name,
            "AXME[%(key)r] must not contain credentials (user:password@): the API key goes "
            "in AXME['API_KEY'].",
            {"key": setting.name},
        )
    return None


KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
DAY = 24 * 3600

_CONNECTION = SECTIONS[0]
_LEDGER = SECTIONS[1]
_RETENTION = SECTIONS[2]
_CELERY = SECTIONS[3]
_ADMIN = SECTIONS[4]
_AGENT = SECTIONS[5]

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

#: The table by name.
BY_NAME: Mapping[str, Setting] = {s.name: s for s in SETTINGS}


def problems(setting: Setting, value: Any) -> Iterator[Problem]:
    """Yield why ``value`` cannot be ``settings.AXME[setting.name]`` (nothing if it can).

    At most one problem per rule, in this order: type (then list elements), choice, range
    (finite, minimum, maximum), the setting's own ``check``. A value of the wrong type yields
    only its type problem. Never includes a secret's value.
    """
    key = setting.name
    if not type_ok(value, setting.types):
        yield Problem(
            "type",
            key,
            "AXME[%(key)r] must be %(expected)s, got %(type)s.",
            {"key": key, "expected": setting.type_names(), "type": type(value).__name__},
        )
        return
    if setting.item_types is not None and isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            if not type_ok(item, setting.item_types):
                yield Problem(
                    "type",
                    key,
                    "AXME[%(key)r] must be a list of %(expected)s, got %(type)s at index "
                    "%(index)d.",
                    {
                        "key": key,
                        "expected": type_names(setting.item_types),
                        "type": type(item).__name__,
                        "index": index,
                    },
                )
                return
    shown = "***" if setting.secret else short_repr(value)
    if setting.choices and value not in setting.choices:
        yield Problem(
            "choice",
            key,
            "AXME[%(key)r] is %(value)s; allowed values: %(allowed)s.",
            {"key": key, "value": shown, "allowed": ", ".join(map(str, setting.choices))},
        )
    if setting.is_number and isinstance(value, (int, float)) and not isinstance(value, bool):
        yield from _range_problems(setting, value, shown)
    if setting.check is not None and value is not None:
        problem = setting.check(setting, value)
        if problem is not None:
            yield problem


def _range_problems(setting: Setting, value: float, shown: str) -> Iterator[Problem]:
    key = setting.name
    if setting.finite and isinstance(value, float) and not math.isfinite(value):
        yield Problem(
            "range",
            key,
            "AXME[%(key)r] must be a finite number, got %(value)s.",
            {"key": key, "value": shown},
        )
        return
    template = "AXME[%(key)r] must be %(relation)s %(bound)s, got %(value)s."
    low = setting.minimum
    if low is not None and (value < low or (setting.minimum_exclusive and value == low)):
        relation = ">" if setting.minimum_exclusive else ">="
        yield Problem(
            "range",
            key,
            template,
            {"key": key, "relation": relation, "bound": _number(low), "value": shown},
        )
    elif setting.maximum is not None and value > setting.maximum:
        yield Problem(
            "range",
            key,
            template,
            {"key": key, "relation": "<=", "bound": _number(setting.maximum), "value": shown},
        )


def first_problem(name: str, value: Any) -> Problem | None:
    """The first :func:`problems` answer for setting ``name`` (``None``: valid or undeclared)."""
    setting = BY_NAME.get(name)
    if setting is None:
        return None
    return next(problems(setting, value), None)
