"""The idempotency ledger in use: :class:`DatabaseIdempotencyStore`.

The configured client (``django_axme.get_client()``) is given a ``DatabaseIdempotencyStore``.
For every mutating call that carries a caller-given ``idempotency_key`` the client asks
:meth:`~DatabaseIdempotencyStore.check` first and :meth:`~DatabaseIdempotencyStore.record`
after a successful answer:

- an exact replay (same key, same request fingerprint) within ``IDEMPOTENCY_TTL_SECONDS``
  returns the stored answer, and nothing is sent;
- the same key with a different fingerprint warns (:class:`AxmeIdempotencyWarning`, then the
  call proceeds) or raises (:class:`AxmeIdempotencyError`, nothing is sent), per the
  ``IDEMPOTENCY_MISMATCH`` setting (``"warn"`` or ``"raise"``);
- an expired row is ignored, and replaced when the new call is recorded.

``axme_prune`` deletes expired rows.
"""

from __future__ import annotations

import warnings
from typing import Any

from django.utils import timezone

from django_axme.client.errors import AxmeIdempotencyError, AxmeIdempotencyWarning
from django_axme.conf import get_setting
from django_axme.models import IdempotencyRecord

__all__ = ["MISMATCH_MODES", "DatabaseIdempotencyStore"]

MISMATCH_MODES = ("warn", "raise")


class DatabaseIdempotencyStore:
    """Implements the client's ``IdempotencyStore`` protocol on :class:`IdempotencyRecord`.

    ``ttl_seconds`` and ``mismatch`` override the settings (read at each call otherwise, so
    ``override_settings`` applies). Stateless and thread-safe: every call uses the calling
    thread's database connection.
    """

    def __init__(self, *, ttl_seconds: float | None = None, mismatch: str | None = None) -> None:
        if mismatch is not None and mismatch not in MISMATCH_MODES:
            raise ValueError(f"mismatch must be 'warn' or 'raise', got {mismatch!r}")
        self._ttl_seconds = ttl_seconds
        self._mismatch = mismatch

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    @property
    def ttl_seconds(self) -> float:
        if self._ttl_seconds is not None:
            return self._ttl_seconds
        return float(get_setting("IDEMPOTENCY_TTL_SECONDS"))

    @property
    def mismatch(self) -> str:
        mode = self._mismatch or get_setting("IDEMPOTENCY_MISMATCH")
        if mode not in MISMATCH_MODES:
            raise ValueError(
                f"AXME['IDEMPOTENCY_MISMATCH'] must be 'warn' or 'raise', got {mode!r}"
            )
        return str(mode)

    def check(self, key: str, operation: str, fingerprint: str) -> dict[str, Any] | None:
        """Stored answer of an exact replay within the TTL, else ``None`` (see module doc)."""
        row = (
            IdempotencyRecord.objects.filter(key=key[:255], expires_at__gt=timezone.now())
            .only("operation", "fingerprint", "response")
            .first()
        )
        if row is None:
            return None
        if row.fingerprint != fingerprint:
            message = (
                f"idempotency key {key!r} was already used for {row.operation} with different "
                f"parameters; now reused for {operation}"
            )
            if self.mismatch == "raise":
                raise AxmeIdempotencyError(message)
            warnings.warn(message, AxmeIdempotencyWarning, stacklevel=3)
            return None
        if isinstance(row.response, dict):
            return row.response
        return None

    def record(self, key: str, operation: str, fingerprint: str, response: dict[str, Any]) -> None:
        """Remember the answer of a keyed call (upsert; expiry restarts)."""
        from django_axme.sync.ledger import store_answer

        store_answer(key, operation, fingerprint, response, ttl_seconds=self.ttl_seconds)
