"""``AxmeClient``: the core families plus the admin families, over one HTTP transport."""

from __future__ import annotations

from typing import Any

from django_axme.client.agents import AgentsMixin
from django_axme.client.families import AdminFamiliesMixin
from django_axme.client.inbox import InboxMixin
from django_axme.client.observe import ObserveMixin

__all__ = ["AxmeClient"]


# The families declare ``_config`` as a read-only protocol; BaseClient provides the real one.
class AxmeClient(AdminFamiliesMixin, ObserveMixin, InboxMixin, AgentsMixin):  # type: ignore[misc]
    """Client of the AXME HTTP API with the methods, arguments and defaults of the official
    Python SDK 0.2.0, and the call styles of its 0.1 README.

    ``AxmeClient(AxmeClientConfig(api_key=...))`` works without Django. One instance keeps one
    connection pool; it is safe to share between threads, not across a fork. Use it as a
    context manager or call :meth:`close` to release the pool.
    """

    def __enter__(self) -> AxmeClient:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
