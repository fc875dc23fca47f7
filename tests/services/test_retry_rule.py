"""One retry rule: the client's errors say whether they are retryable, by the status table
the client's own retries use, and the tasks follow it (no second list in the tasks).

Drift this pins (issue 13): a 408 reaching ``send_intent`` used to mark the outbox row
rejected although the client retries 408, and a 501 was retried ``TASK_MAX_RETRIES`` times
although the client treats 501/505 as final. The tasks had their own jitter scheme too.
"""

from __future__ import annotations

import pytest

from django_axme import tasks
from django_axme.client.errors import (
    AxmeError,
    AxmeIdempotencyError,
    AxmeInvalidResponseError,
    AxmeResponseTooLargeError,
    AxmeTransportError,
)
from django_axme.client.retry import RetryPolicy, is_retryable_status
from django_axme.models import Intent, SendState
from django_axme.sync.outbox import create_outbox_row
from tests.services.fakes import FakeClient, http_error


@pytest.mark.parametrize("status", [*range(400, 432), *range(500, 512)])
def test_http_errors_are_retryable_exactly_when_the_client_retries_the_status(status) -> None:
    error = http_error(status)
    assert error.retryable is is_retryable_status(status)


def test_retryable_for_the_errors_without_a_status() -> None:
    assert AxmeTransportError("connection refused").retryable is True
    assert AxmeResponseTooLargeError("too big", limit=10).retryable is False  # never retried
    assert AxmeIdempotencyError("key reused").retryable is False
    assert AxmeError("anything").retryable is False
    assert AxmeInvalidResponseError("not json").retryable is True  # a 502 from the gateway
    assert http_error(408).retryable and not http_error(501).retryable


def _send(monkeypatch, settings, error: Exception) -> tuple[Intent, FakeClient]:
    settings.AXME = {**settings.AXME, "TASK_MAX_RETRIES": 1}
    fake = FakeClient(create_intent=error)
    monkeypatch.setattr("django_axme.conf.get_client", lambda: fake)
    row = create_outbox_row(
        {"intent_type": "intent.retry.v1", "to_agent": "agent://unit/x", "payload": {}}
    )
    tasks.send_intent.apply(args=(row.pk,))
    row.refresh_from_db()
    return row, fake


@pytest.mark.django_db
def test_send_intent_retries_a_408_and_keeps_the_row_pending(monkeypatch, settings) -> None:
    row, fake = _send(monkeypatch, settings, http_error(408))
    assert len(fake.named("create_intent")) == 2  # the first try and one Celery retry
    assert row.send_state == SendState.PENDING
    assert row.last_error is None


@pytest.mark.django_db
def test_send_intent_rejects_a_501_without_retrying(monkeypatch, settings) -> None:
    row, fake = _send(monkeypatch, settings, http_error(501))
    assert len(fake.named("create_intent")) == 1
    assert row.send_state == SendState.REJECTED
    assert row.last_error["status_code"] == 501
    assert row.last_error["retryable"] is False


def test_task_backoff_is_the_clients_retry_policy(monkeypatch, settings) -> None:
    settings.AXME = {**settings.AXME, "TASK_RETRY_BACKOFF_MAX_SECONDS": 8}
    seen = []

    def delay(self, attempt_index, retry_after=None):
        seen.append((self.cap, attempt_index, retry_after))
        return 1.25

    monkeypatch.setattr(RetryPolicy, "delay", delay)
    assert tasks._backoff_seconds(3, http_error(503)) == 1.25
    assert seen == [(8.0, 3, None)]


def test_task_backoff_bounds_and_retry_after(settings) -> None:
    settings.AXME = {**settings.AXME, "TASK_RETRY_BACKOFF_MAX_SECONDS": 8}
    samples = [tasks._backoff_seconds(2, None) for _ in range(200)]
    assert all(0.0 <= s <= 4.0 for s in samples)  # full jitter: [0, min(cap, 2**2)]
    limited = http_error(429)
    limited.retry_after = 5
    assert tasks._backoff_seconds(0, limited) == 5.0
    limited.retry_after = 60  # longer than the cap: wait the cap, never longer
    assert tasks._backoff_seconds(0, limited) == 8.0
