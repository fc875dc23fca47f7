"""In-memory idempotency store of the emulator (reference section 5).

Keys are scoped by ``(caller identity, operation, key)`` where the operation is
``"<METHOD> <path>"``. A stored answer is replayed for the same request fingerprint within the
TTL (24 h by default, measured with the gateway's injectable clock); a different fingerprint is a
conflict. Only successful (2xx) answers are stored, so a failed attempt can be retried. Callers
hold the gateway lock around check-then-record, which makes the pair atomic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = ["IdempotencyHit", "IdempotencyStore"]

DEFAULT_TTL = timedelta(hours=24)


@dataclass
class IdempotencyHit:
    """What the store knows about a key: the fingerprint and the stored answer."""

    fingerprint: str
    status: int
    payload: Any
    stored_at: datetime


class IdempotencyStore:
    """Maps scoped keys to stored answers; expired entries are dropped lazily."""

    def __init__(self, clock: Callable[[], datetime], ttl: timedelta = DEFAULT_TTL) -> None:
        self._clock = clock
        self._ttl = ttl
        self._entries: dict[tuple[str, str, str], IdempotencyHit] = {}

    def lookup(self, scope: str, operation: str, key: str) -> IdempotencyHit | None:
        """The live entry for the key, or ``None`` when unknown or expired."""
        entry = self._entries.get((scope, operation, key))
        if entry is None:
            return None
        if self._clock() - entry.stored_at >= self._ttl:
            del self._entries[(scope, operation, key)]
            return None
        return entry

    def record(
        self, scope: str, operation: str, key: str, fingerprint: str, status: int, payload: Any
    ) -> None:
        """Store the answer given for the key (overwrites an expired entry)."""
        self._entries[(scope, operation, key)] = IdempotencyHit(
            fingerprint=fingerprint, status=status, payload=payload, stored_at=self._clock()
        )

    def purge_expired(self) -> int:
        """Drop every expired entry; returns how many were dropped."""
        now = self._clock()
        stale = [k for k, v in self._entries.items() if now - v.stored_at >= self._ttl]
        for k in stale:
            del self._entries[k]
        return len(stale)
