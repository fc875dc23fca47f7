"""The vocabulary of the settings table: :class:`Setting`, :class:`Problem`, the accepted
types and the helpers that format values for messages and docs.

Split out of :mod:`django_axme.settings_table` (which re-exports every name here) so that
the table itself stays short; like it, this module imports nothing from Django and never
puts a secret's value in a message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
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
    "Webhooks",
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
