"""Client-side idempotency hook: the store protocol and the request fingerprint."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "IdempotencyStore",
    "correlation_id_for_key",
    "operation_name",
    "request_fingerprint",
]

# Fixed namespace: the same idempotency key always yields the same correlation id, in every
# process and release, so that a replayed create_intent() has the same fingerprint.
_CORRELATION_NAMESPACE = uuid.UUID("6f1d4c1e-7f3a-5b8e-9a51-2d0c6e1b7a44")


@runtime_checkable
class IdempotencyStore(Protocol):
    """Where the client keeps answers of keyed writes (the Django ledger implements it).

    The client consults the store only for mutating calls that carry a caller-given
    idempotency key, before anything is sent.
    """

    def check(self, key: str, operation: str, fingerprint: str) -> dict[str, Any] | None:
        """Return the stored answer of an exact replay (same key, operation and fingerprint,
        within the TTL) so the client returns it without a network call; ``None`` for a new key.

        For a key reused with a different fingerprint: warn with
        :class:`~django_axme.client.errors.AxmeIdempotencyWarning` and return ``None`` (the call
        proceeds), or raise :class:`~django_axme.client.errors.AxmeIdempotencyError`.
        """
        ...

    def record(self, key: str, operation: str, fingerprint: str, response: dict[str, Any]) -> None:
        """Remember the successful answer of a keyed write."""
        ...


def operation_name(method: str, path: str) -> str:
    """``"<METHOD> <path>"``, the operation a key is scoped to."""
    return f"{method.upper()} {path}"


def request_fingerprint(method: str, path: str, params: Mapping[str, Any] | None, body: Any) -> str:
    """SHA-256 hex digest of the canonical JSON (sorted keys, compact) of the request.

    Equal requests give equal fingerprints regardless of dict ordering.
    """
    canonical = json.dumps(
        {
            "method": method.upper(),
            "path": path,
            "params": dict(params) if params else {},
            "body": body,
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def correlation_id_for_key(idempotency_key: str) -> str:
    """The correlation id derived deterministically (UUID5) from an idempotency key."""
    return str(uuid.uuid5(_CORRELATION_NAMESPACE, idempotency_key))
