"""A human task's ``form_schema`` (JSON Schema, from the gateway) as Django form fields.

The subset understood: an ``object`` schema with ``properties`` and ``required``; property
types ``string`` (``enum``, ``minLength``/``maxLength``, ``format`` ``date``, ``date-time``,
``email``, ``uri``), ``integer`` and ``number`` (``minimum``/``maximum``, ``enum``),
``boolean``, ``array`` of an ``enum`` (checkboxes) or of strings (one per line); anything
else is entered as JSON. ``title`` and ``description`` become label and help text (labels
come from the keys otherwise). The schema is untrusted: at most :data:`MAX_FIELDS` fields,
limits clipped, unknown keywords ignored, nothing rendered unescaped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from django_axme.readable import label_for

MAX_FIELDS = 50
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
MAX_TEXT = 100_000
MAX_CHOICES = 200


@dataclass(frozen=True)
class SchemaField:
    """One form field built from a schema property; ``name`` is the Django field name."""

    key: str
    name: str
    field: forms.Field
    kind: str


def _int(value: Any, default: int | None = None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _choices(values: Any) -> list[tuple[str, str]]:
    if not isinstance(values, list):
        return []
    return [(str(v)[:200], str(v)[:200]) for v in values[:MAX_CHOICES] if v is not None]


def _string_field(spec: Mapping[str, Any], common: dict[str, Any]) -> tuple[forms.Field, str]:
    choices = _choices(spec.get("enum"))
    if choices:
        return forms.ChoiceField(choices=[("", "—"), *choices], **common), "string"
    fmt = spec.get("format")
    if fmt == "date":
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common), "date"
    if fmt == "date-time":
        return forms.DateTimeField(**common), "datetime"
    if fmt == "email":
        return forms.EmailField(**common), "string"
    if fmt == "uri":
        return forms.URLField(**common), "string"
    max_length = min(_int(spec.get("maxLength"), MAX_TEXT) or MAX_TEXT, MAX_TEXT)
    min_length = _int(spec.get("minLength"))
    widget = (
        forms.Textarea(attrs={"rows": 3, "cols": 60})
        if max_length > 255
        else forms.TextInput(attrs={"size": 40})
    )
    field = forms.CharField(
        max_length=max_length, min_length=min_length, widget=widget, strip=True, **common
    )
    return field, "string"


def _field_for(spec: Mapping[str, Any], required: bool, label: str) -> tuple[forms.Field, str]:
    common: dict[str, Any] = {
        "label": label,
        "required": required,
        "help_text": str(spec.get("description") or "")[:500],
    }
    kind = spec.get("type")
    if isinstance(kind, list):  # ["string", "null"]: the first non-null type
        kind = next((k for k in kind if k != "null"), None)
    if kind == "string":
        return _string_field(spec, common)
    if kind in ("integer", "number"):
        bounds = {
            "min_value": _number(spec.get("minimum")),
            "max_value": _number(spec.get("maximum")),
        }
        choices = _choices(spec.get("enum"))
        if choices:
            coerce = int if kind == "integer" else float
            field: forms.Field = forms.TypedChoiceField(
                choices=[("", "—"), *choices], coerce=coerce, empty_value=None, **common
            )
            return field, kind
        low, high = bounds["min_value"], bounds["max_value"]
        if kind == "integer":
            return forms.IntegerField(
                min_value=int(low) if low is not None else None,
                max_value=int(high) if high is not None else None,
                **common,
            ), kind
        return forms.DecimalField(
            min_value=Decimal(str(low)) if low is not None else None,
            max_value=Decimal(str(high)) if high is not None else None,
            **common,
        ), kind
    if kind == "boolean":
        common["required"] = False  # "required" means present; an unticked box sends false
        return forms.BooleanField(**common), "boolean"
    if kind == "array":
        raw_items = spec.get("items")
        items: Mapping[str, Any] = raw_items if isinstance(raw_items, Mapping) else {}
        choices = _choices(items.get("enum"))
        if choices:
            widget = forms.CheckboxSelectMultiple
            return forms.MultipleChoiceField(choices=choices, widget=widget, **common), "multi"
        if items.get("type") in (None, "string"):
            common["help_text"] = common["help_text"] or _("One value per line.")
            area = forms.Textarea(attrs={"rows": 3, "cols": 60})
            return forms.CharField(widget=area, max_length=MAX_TEXT, **common), "lines"
    common["help_text"] = common["help_text"] or _("A JSON value.")
    area = forms.Textarea(attrs={"rows": 3, "cols": 60})
    return forms.JSONField(widget=area, **common), "json"


def schema_fields(schema: Any) -> list[SchemaField]:
    """The fields of ``schema`` (``[]`` when it is not an object schema with properties)."""
    if not isinstance(schema, Mapping) or not isinstance(schema.get("properties"), Mapping):
        return []
    required = schema.get("required")
    required_keys = {str(k) for k in required} if isinstance(required, list) else set()
    properties = list(schema["properties"].items())[:MAX_FIELDS]
    # Stored JSON (PostgreSQL jsonb) does not keep key order: required fields first, then
    # the others, each group in the order the mirror returns.
    properties.sort(key=lambda item: str(item[0]) not in required_keys)
    fields = []
    for index, (key, spec) in enumerate(properties):
        spec = spec if isinstance(spec, Mapping) else {}
        label = str(spec.get("title") or "")[:120] or label_for(key)
        field, kind = _field_for(spec, str(key) in required_keys, label)
        name = f"data__{key}" if _SAFE_NAME.match(str(key)) else f"data_{index}"
        fields.append(SchemaField(str(key), name, field, kind))
    return fields


def to_json(kind: str, value: Any) -> Any:
    """A cleaned form value as the JSON the schema describes."""
    if value is None or value == "":
        return None
    if kind == "date" and isinstance(value, date):
        return value.isoformat()
    if kind == "datetime" and isinstance(value, datetime):
        return value.isoformat()
    if kind == "number" and isinstance(value, Decimal):
        return float(value)
    if kind == "lines":
        return [line.strip() for line in str(value).splitlines() if line.strip()]
    if kind == "multi":
        return list(value)
    return value
