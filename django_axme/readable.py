"""JSON from the gateway as fields a person reads: labels from keys, formatted values.

Everything here treats its input as untrusted: the walk is bounded (depth, number of fields,
length of each text), nothing is marked safe (templates escape every label and value), and a
value of an unexpected type is shown by its ``str``, never interpreted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import formats, timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

MAX_DEPTH = 4
MAX_FIELDS = 200
MAX_TEXT = 1000

_DECIMAL_TEXT = re.compile(r"^-?\d{1,15}\.\d{1,6}$")
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


@dataclass
class ReadableField:
    """One labelled value; ``children`` holds the fields of a nested object or list."""

    key: str
    label: str
    value: str = ""
    children: list[ReadableField] = field(default_factory=list)

    @property
    def nested(self) -> bool:
        return bool(self.children)


def label_for(key: object) -> str:
    """``"purchase_request_id"`` / ``"purchaseRequestId"`` -> ``"Purchase request id"``."""
    text = str(key)[:120]
    words = _WORDS.findall(text.replace("-", "_"))
    if not words:
        return text or "—"
    sentence = " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words)
    return sentence[:1].upper() + sentence[1:]


def format_value(value: Any) -> str:
    """A scalar as text: numbers grouped in the active locale (``1,800.00``), ISO dates and
    times as localized dates, booleans as Yes/No, ``None`` as a dash, long text clipped."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, int | float | Decimal):
        return _number(value)
    if isinstance(value, datetime | date):
        return _date(value)
    text = str(value)
    if _DECIMAL_TEXT.match(text):
        try:
            return _number(Decimal(text))
        except InvalidOperation:  # pragma: no cover - the pattern only lets numbers through
            return text
    if 10 <= len(text) <= 40 and text[:4].isdigit() and text[4:5] == "-":
        parsed: date | datetime | None = None
        try:
            parsed = parse_datetime(text) if len(text) > 10 else parse_date(text)
        except ValueError:
            parsed = None
        if parsed is not None:
            return _date(parsed)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _number(value: int | float | Decimal) -> str:
    if isinstance(value, float) and value != value:  # NaN
        return str(value)
    places: int | None = None
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        places = -exponent if isinstance(exponent, int) and exponent < 0 else None
    return formats.number_format(value, decimal_pos=places, force_grouping=True)


def _date(value: date | datetime) -> str:
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return formats.date_format(value, "DATETIME_FORMAT")
    return formats.date_format(value, "DATE_FORMAT")


def readable_fields(data: Any) -> list[ReadableField]:
    """The fields of a JSON object (or list) for display, nested values as children.

    At most :data:`MAX_FIELDS` fields in all and :data:`MAX_DEPTH` levels; what is cut is
    said in a last field, so nothing disappears silently.
    """
    budget = [MAX_FIELDS]
    return _fields(data, 0, budget)


def _fields(data: Any, depth: int, budget: list[int]) -> list[ReadableField]:
    if isinstance(data, Mapping):
        items = [(str(k), label_for(k), v) for k, v in data.items()]
    elif isinstance(data, list | tuple):
        items = [(str(i), f"#{i + 1}", v) for i, v in enumerate(data)]
    else:
        return [ReadableField("", _("Value"), format_value(data))]
    fields: list[ReadableField] = []
    for position, (key, label, value) in enumerate(items):
        if budget[0] <= 0:
            left = len(items) - position
            fields.append(ReadableField("", "…", _("%(count)d more not shown") % {"count": left}))
            break
        budget[0] -= 1
        if isinstance(value, Mapping | list | tuple) and value:
            if depth + 1 >= MAX_DEPTH:
                fields.append(ReadableField(key, label, _("(nested too deep to show)")))
            else:
                fields.append(ReadableField(key, label, "", _fields(value, depth + 1, budget)))
        elif isinstance(value, Mapping | list | tuple):
            fields.append(ReadableField(key, label, "—"))
        else:
            fields.append(ReadableField(key, label, format_value(value)))
    return fields
