"""Hand-written validators for request bodies and query strings.

Every failure raises :class:`EmulatorValidationError` (422) whose message starts with the field
name, so a client sees exactly what to fix. The package never reads the JSON Schemas at runtime.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .state_errors import EmulatorValidationError
from .state_util import is_uuid, parse_ts

__all__ = ["Fields", "QueryFields"]

_MISSING = object()


def _fail(name: str, problem: str) -> EmulatorValidationError:
    return EmulatorValidationError(f"{name}: {problem}", field=name)


class Fields:
    """Typed accessors over a JSON object; ``prefix`` names the enclosing object in messages."""

    def __init__(self, data: Mapping[builtins.str, Any], prefix: builtins.str = "") -> None:
        self.data = data
        self.prefix = prefix

    def _name(self, name: builtins.str) -> builtins.str:
        return f"{self.prefix}{name}"

    def _get(self, name: builtins.str, required: builtins.bool) -> Any:
        value = self.data.get(name, _MISSING)
        if value is _MISSING or value is None:
            if required:
                raise _fail(self._name(name), "field required")
            return _MISSING
        return value

    def str(
        self,
        name: builtins.str,
        *,
        required: builtins.bool = False,
        min_len: builtins.int | None = None,
        max_len: builtins.int | None = None,
        pattern: builtins.str | None = None,
        choices: Iterable[builtins.str] | None = None,
        default: builtins.str | None = None,
    ) -> builtins.str | None:
        """A string field, checked for length, pattern and allowed values."""
        value = self._get(name, required)
        if value is _MISSING:
            return default
        label = self._name(name)
        if not isinstance(value, str):
            raise _fail(label, "must be a string")
        if min_len is not None and len(value) < min_len:
            raise _fail(label, f"must be at least {min_len} characters")
        if max_len is not None and len(value) > max_len:
            raise _fail(label, f"must be at most {max_len} characters")
        if pattern is not None and not re.fullmatch(pattern, value):
            raise _fail(label, f"must match {pattern}")
        if choices is not None:
            allowed = list(choices)
            if value not in allowed:
                raise _fail(label, f"must be one of {', '.join(allowed)}")
        return value

    def required_str(self, name: builtins.str, **kwargs: Any) -> builtins.str:
        """Like :meth:`str` with ``required=True``; never returns ``None``."""
        value = self.str(name, required=True, **kwargs)
        assert value is not None
        return value

    def uuid(self, name: builtins.str, *, required: builtins.bool = False) -> builtins.str | None:
        """A UUID string field."""
        value = self.str(name, required=required)
        if value is not None and not is_uuid(value):
            raise _fail(self._name(name), "must be a UUID")
        return value

    def timestamp(
        self, name: builtins.str, *, required: builtins.bool = False
    ) -> builtins.str | None:
        """An RFC 3339 date-time string field (returned unchanged)."""
        value = self.str(name, required=required)
        if value is not None:
            try:
                parse_ts(value)
            except ValueError:
                raise _fail(self._name(name), "must be an RFC 3339 date-time") from None
        return value

    def int(
        self,
        name: builtins.str,
        *,
        required: builtins.bool = False,
        minimum: builtins.int | None = None,
        maximum: builtins.int | None = None,
        default: builtins.int | None = None,
    ) -> builtins.int | None:
        """An integer field (booleans are rejected)."""
        value = self._get(name, required)
        if value is _MISSING:
            return default
        label = self._name(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(label, "must be an integer")
        if minimum is not None and value < minimum:
            raise _fail(label, f"must be >= {minimum}")
        if maximum is not None and value > maximum:
            raise _fail(label, f"must be <= {maximum}")
        return value

    def bool(
        self, name: builtins.str, *, default: builtins.bool | None = None
    ) -> builtins.bool | None:
        """A boolean field."""
        value = self._get(name, False)
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            raise _fail(self._name(name), "must be a boolean")
        return value

    def obj(
        self,
        name: builtins.str,
        *,
        required: builtins.bool = False,
        default: dict[builtins.str, Any] | None = None,
    ) -> dict[builtins.str, Any] | None:
        """A JSON object field."""
        value = self._get(name, required)
        if value is _MISSING:
            return default
        if not isinstance(value, dict):
            raise _fail(self._name(name), "must be an object")
        return value

    def str_list(
        self,
        name: builtins.str,
        *,
        required: builtins.bool = False,
        min_items: builtins.int | None = None,
        max_items: builtins.int | None = None,
        item_min_len: builtins.int | None = None,
        item_max_len: builtins.int | None = None,
        choices: Iterable[builtins.str] | None = None,
    ) -> list[builtins.str] | None:
        """A list of strings field."""
        value = self._get(name, required)
        if value is _MISSING:
            return None
        label = self._name(name)
        if not isinstance(value, list):
            raise _fail(label, "must be an array of strings")
        if min_items is not None and len(value) < min_items:
            raise _fail(label, f"must have at least {min_items} items")
        if max_items is not None and len(value) > max_items:
            raise _fail(label, f"must have at most {max_items} items")
        allowed = list(choices) if choices is not None else None
        for index, item in enumerate(value):
            item_label = f"{label}[{index}]"
            if not isinstance(item, str):
                raise _fail(item_label, "must be a string")
            if item_min_len is not None and len(item) < item_min_len:
                raise _fail(item_label, f"must be at least {item_min_len} characters")
            if item_max_len is not None and len(item) > item_max_len:
                raise _fail(item_label, f"must be at most {item_max_len} characters")
            if allowed is not None and item not in allowed:
                raise _fail(item_label, f"must be one of {', '.join(allowed)}")
        return list(value)


class QueryFields:
    """Typed accessors over a parsed query string (first value of each parameter)."""

    def __init__(self, query: Mapping[builtins.str, list[builtins.str]]) -> None:
        self.query = query

    def str(
        self,
        name: builtins.str,
        *,
        required: builtins.bool = False,
        default: builtins.str | None = None,
    ) -> builtins.str | None:
        """A string parameter; empty counts as missing."""
        values = self.query.get(name)
        if not values or values[0] == "":
            if required:
                raise _fail(name, "query parameter required")
            return default
        return values[0]

    def int(
        self,
        name: builtins.str,
        *,
        default: builtins.int | None = None,
        minimum: builtins.int | None = None,
        maximum: builtins.int | None = None,
    ) -> builtins.int | None:
        """An integer parameter."""
        raw = self.str(name)
        if raw is None:
            return default
        try:
            value = int(raw.strip())
        except ValueError:
            raise _fail(name, "must be an integer") from None
        if minimum is not None and value < minimum:
            raise _fail(name, f"must be >= {minimum}")
        if maximum is not None and value > maximum:
            raise _fail(name, f"must be <= {maximum}")
        return value

    def bool(self, name: builtins.str, *, default: builtins.bool = False) -> builtins.bool:
        """A boolean parameter (true/false/1/0/yes/no)."""
        raw = self.str(name)
        if raw is None:
            return default
        lowered = raw.strip().lower()
        if lowered in {"true", "1", "yes"}:
            return True
        if lowered in {"false", "0", "no"}:
            return False
        raise _fail(name, "must be true or false")
