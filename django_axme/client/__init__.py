"""HTTP client for the AXME API (no Django imports anywhere in this package).

from django_axme.client import AxmeClient, AxmeClientConfig

client = AxmeClient(AxmeClientConfig(api_key="axme_sa_..."))
"""

from django_axme.client.client import AxmeClient
from django_axme.client.config import AxmeClientConfig
from django_axme.client.deadline import DeadlineAdapter
from django_axme.client.errors import (
    AxmeAPIError,
    AxmeAuthError,
    AxmeConflictError,
    AxmeError,
    AxmeHttpError,
    AxmeIdempotencyError,
    AxmeIdempotencyWarning,
    AxmeInvalidResponseError,
    AxmeNotFoundError,
    AxmeRateLimitError,
    AxmeResponseTooLargeError,
    AxmeServerError,
    AxmeStalePolicyError,
    AxmeTransportError,
    AxmeValidationError,
)
from django_axme.client.families import MeshClient
from django_axme.client.idempotency import IdempotencyStore
from django_axme.client.streams import SSEEventTooLargeError, StreamCutError

__all__ = [
    "AxmeAPIError",
    "AxmeAuthError",
    "AxmeClient",
    "AxmeClientConfig",
    "AxmeConflictError",
    "AxmeError",
    "AxmeHttpError",
    "AxmeIdempotencyError",
    "AxmeIdempotencyWarning",
    "AxmeInvalidResponseError",
    "AxmeNotFoundError",
    "AxmeRateLimitError",
    "AxmeResponseTooLargeError",
    "AxmeServerError",
    "AxmeStalePolicyError",
    "AxmeTransportError",
    "AxmeValidationError",
    "DeadlineAdapter",
    "IdempotencyStore",
    "MeshClient",
    "SSEEventTooLargeError",
    "StreamCutError",
]
