"""The axme:webhook view: what it refuses before trusting anything, what it records, and that
it hands a recorded delivery to processing exactly once."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import pytest
from django.test import AsyncClient, Client
from django.urls import reverse

from django_axme.models import Approval, Intent, WebhookDelivery
from django_axme.services import webhooks as service
from django_axme.tasks import webhooks as webhook_tasks
from tests.webhooks.conftest import OLD_SECRET, SECRET, delivery_body, signed_headers

pytestmark = pytest.mark.django_db

URL = "/axme/webhook/"


@pytest.fixture
def processed(monkeypatch):
    """Record the deliveries handed to processing instead of calling AXME."""
    calls: list[int] = []
    monkeypatch.setattr(service, "process_delivery", lambda pk, **kw: calls.append(pk))
    return calls


def post(client: Client, body: bytes, **headers: str):
    return client.post(URL, data=body, content_type="application/json", **headers)


def test_url_is_named_axme_webhook():
    assert reverse("axme:webhook") == URL


def test_valid_signature_records_and_processes_once(client, webhook_settings, processed):
    body = delivery_body()
    response = post(client, body, **signed_headers(body))
    assert response.status_code == 200 and response.json()["ok"] is True
    row = WebhookDelivery.objects.get()
    assert (row.event_type, row.thread_id, row.intent_id, row.verified, row.outcome) == (
        "inbox.thread_created",
        "t-1",
        "i-1",
        True,
        "received",
    )
    assert processed == [row.pk]


def test_bare_hex_and_an_older_secret_verify(client, webhook_settings, processed):
    body = delivery_body()
    bare = hmac.new(OLD_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert post(client, body, HTTP_X_AXME_SIGNATURE=bare.upper()).status_code == 200
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.parametrize(
    "header",
    [None, "", "sha256=", "sha256=" + "0" * 64, "md5=abc", "sha256=" + "g" * 64 + "," * 20],
)
def test_missing_or_wrong_signature_is_403_and_stores_nothing(
    client, webhook_settings, processed, header
):
    body = delivery_body()
    headers = {} if header is None else {"HTTP_X_AXME_SIGNATURE": header}
    before = service.rejection_counts().get("signature", 0)
    response = post(client, body, **headers)
    assert response.status_code == 403
    assert not WebhookDelivery.objects.exists() and processed == []
    assert service.rejection_counts()["signature"] == before + 1


def test_signed_with_another_secret_is_403(client, webhook_settings, processed):
    body = delivery_body()
    response = post(client, body, **signed_headers(body, "someone-elses-secret-123"))
    assert response.status_code == 403 and not WebhookDelivery.objects.exists()


def test_no_secret_configured_refuses_everything(client, settings, processed):
    settings.AXME = {**settings.AXME, "WEBHOOK_SECRETS": []}
    body = delivery_body()
    assert post(client, body, **signed_headers(body)).status_code == 403


def test_oversized_body_is_413_before_reading(client, webhook_settings, processed):
    webhook_settings.AXME = {**webhook_settings.AXME, "WEBHOOK_MAX_BODY_BYTES": 1024}
    body = delivery_body(padding="x" * 2000)
    response = post(client, body, **signed_headers(body))
    assert response.status_code == 413
    assert not WebhookDelivery.objects.exists() and processed == []


def test_malformed_json_after_a_valid_signature_is_400_and_stored_as_rejected(
    client, webhook_settings, processed
):
    body = b'{"delivery_id": "d-1", "event_type": '
    response = post(client, body, HTTP_X_AXME_DELIVERY="d-1", **signed_headers(body))
    assert response.status_code == 400
    row = WebhookDelivery.objects.get()
    assert (row.delivery_id, row.outcome, row.payload) == ("d-1", "rejected", None)
    assert "not JSON" in row.error and row.processed_at is not None
    assert processed == []


@pytest.mark.parametrize("body", [b"[1, 2]", b'{"payload": [1]}', b'{"timestamp": "soon"}'])
def test_signed_bodies_that_are_not_deliveries_are_400(client, webhook_settings, processed, body):
    assert post(client, body, **signed_headers(body)).status_code == 400
    assert WebhookDelivery.objects.get().outcome == "rejected"


def test_timestamp_outside_tolerance_is_400_and_not_stored(client, webhook_settings, processed):
    old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=301)).isoformat()
    body = delivery_body(sent_at=old)
    assert post(client, body, **signed_headers(body)).status_code == 400
    future = dt.datetime.now(dt.timezone.utc).timestamp() + 400
    body = delivery_body(timestamp=future)
    assert post(client, body, **signed_headers(body)).status_code == 400
    assert not WebhookDelivery.objects.exists() and processed == []
    fresh = delivery_body(timestamp=dt.datetime.now(dt.timezone.utc).timestamp() - 5)
    assert post(client, fresh, **signed_headers(fresh)).status_code == 200


def test_duplicate_delivery_is_200_and_nothing_is_done_again(client, webhook_settings, processed):
    body = delivery_body(delivery_id="dup-1")
    assert post(client, body, **signed_headers(body)).status_code == 200
    again = post(client, body, **signed_headers(body))
    assert again.status_code == 200 and again.json()["detail"] == "duplicate delivery"
    assert WebhookDelivery.objects.count() == 1
    assert len(processed) == 1


def test_delivery_id_falls_back_to_header_then_body_digest(client, webhook_settings, processed):
    body = json.dumps({"event_type": "inbox.thread_updated", "thread_id": "t-9"}).encode()
    post(client, body, HTTP_X_AXME_DELIVERY="hdr-1", **signed_headers(body))
    other = json.dumps({"event_type": "inbox.thread_updated", "thread_id": "t-8"}).encode()
    post(client, other, **signed_headers(other))
    post(client, other, **signed_headers(other))  # the same body again: a duplicate
    ids = set(WebhookDelivery.objects.values_list("delivery_id", flat=True))
    assert ids == {"hdr-1", "sha256:" + hashlib.sha256(other).hexdigest()}


def test_only_post_is_allowed(client, webhook_settings):
    assert client.get(URL).status_code == 405
    assert client.put(URL, data=b"{}").status_code == 405


def test_csrf_exempt(webhook_settings, processed):
    strict = Client(enforce_csrf_checks=True)
    body = delivery_body()
    assert post(strict, body, **signed_headers(body)).status_code == 200


def test_works_under_asgi(webhook_settings, processed, transactional_db):
    import asyncio

    from asgiref.sync import sync_to_async
    from django.db import connections

    body = delivery_body()

    async def run():
        response = await AsyncClient().post(
            URL,
            data=body,
            content_type="application/json",
            headers={"X-AXME-Signature": service.sign(body, SECRET)},
        )
        # The view ran on asgiref's thread: close that thread's connection.
        await sync_to_async(connections.close_all)()
        return response

    assert asyncio.run(run()).status_code == 200
    assert WebhookDelivery.objects.count() == 1


def test_celery_mode_sends_the_task_after_commit(
    client, webhook_settings, monkeypatch, transactional_db
):
    webhook_settings.AXME = {**webhook_settings.AXME, "WEBHOOK_PROCESSING": "celery"}
    sent: list[tuple] = []
    monkeypatch.setattr(
        webhook_tasks.process_webhook_delivery,
        "apply_async",
        lambda args=(), **kw: sent.append(tuple(args)),
    )
    body = delivery_body()
    assert post(client, body, **signed_headers(body)).status_code == 200
    assert sent == [(WebhookDelivery.objects.get().pk,)]
    assert webhook_tasks.process_webhook_delivery.name == (
        "django_axme.tasks.process_webhook_delivery"
    )


def test_broker_down_still_answers_200_and_leaves_the_row_for_the_sweep(
    client, webhook_settings, monkeypatch, transactional_db
):
    webhook_settings.AXME = {**webhook_settings.AXME, "WEBHOOK_PROCESSING": "celery"}

    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(webhook_tasks.process_webhook_delivery, "apply_async", down)
    body = delivery_body()
    assert post(client, body, **signed_headers(body)).status_code == 200
    assert WebhookDelivery.objects.get().outcome == "received"


def test_refused_deliveries_never_change_the_mirror(client, webhook_settings, processed):
    good = delivery_body()
    stale = delivery_body(sent_at="2020-01-01T00:00:00Z")
    attempts = [
        (delivery_body(), {"HTTP_X_AXME_SIGNATURE": "sha256=" + "1" * 64}),  # forged
        (stale, signed_headers(stale)),  # replayed old delivery
        (b"{not json", signed_headers(b"{not json")),  # malformed
    ]
    webhook_settings.AXME = {**webhook_settings.AXME, "WEBHOOK_MAX_BODY_BYTES": 1024}
    big = delivery_body(padding="y" * 4096)
    attempts.append((big, signed_headers(big)))  # oversized
    for body, headers in attempts:
        assert post(client, body, **headers).status_code in (400, 403, 413)
    assert (Intent.objects.count(), Approval.objects.count(), processed) == (0, 0, [])
    assert post(client, good, **signed_headers(good)).status_code == 200
