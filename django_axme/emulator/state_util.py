"""Small pure helpers of the emulator core: timestamps, ids, canonical JSON."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "canonical_json",
    "format_ts",
    "is_uuid",
    "new_id",
    "parse_ts",
    "sha256_hex",
    "utc_now",
]

_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def utc_now() -> datetime:
    """The default clock: an aware UTC datetime."""
    return datetime.now(timezone.utc)


def format_ts(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds and a ``Z`` suffix (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(value: str) -> datetime:
    """Parse an RFC 3339 timestamp with an offset; raises ``ValueError`` otherwise."""
    if not isinstance(value, str) or not _TS_RE.match(value):
        raise ValueError(f"not an RFC 3339 timestamp with offset: {value!r}")
    text = value.replace("z", "Z").replace("Z", "+00:00")
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def new_id() -> str:
    """A fresh random UUID string."""
    return str(uuid.uuid4())


def is_uuid(value: Any) -> bool:
    """True when ``value`` is a string that parses as a UUID."""
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def canonical_json(value: Any) -> str:
    """Sorted-key compact JSON: equal values give equal strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    """Lower-case hex SHA-256 of the UTF-8 encoding of ``text``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
