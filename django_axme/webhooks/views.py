"""The ``axme:webhook`` view: AXME pushes deliveries here.

Thin on purpose: it enforces the size cap before reading, hands the raw body to
:func:`django_axme.services.webhooks.receive` (signature, parsing, tolerance, the audit row)
and then starts processing: in a Celery task (``AXME["WEBHOOK_PROCESSING"] = "celery"``, the
default) or in the request (``"inline"``). A plain sync view, so it runs under WSGI and ASGI.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from django_axme.conf import get_setting
from django_axme.services import webhooks as service

logger = logging.getLogger("django_axme.webhooks")

__all__ = ["webhook"]


def _answer(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"ok": 200 <= status < 300, "detail": detail}, status=status)


def _too_large(request: HttpRequest, limit: int) -> bytes | None:
    """The raw body, or ``None`` when it is over ``limit`` (read at most ``limit + 1`` bytes,
    never Django's ``request.body``, whose own cap may be lower or higher)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    body = request.read(limit + 1)
    return None if len(body) > limit else body


def _start_processing(pk: int) -> None:
    if get_setting("WEBHOOK_PROCESSING") == "inline":
        service.process_delivery(pk)
        return
    from django_axme.tasks.webhooks import enqueue_delivery

    enqueue_delivery(pk)


@csrf_exempt
@require_POST
def webhook(request: HttpRequest) -> JsonResponse:
    """Receive one delivery: 413 over ``WEBHOOK_MAX_BODY_BYTES``, 403 for a bad signature,
    400 for a malformed or stale delivery, 200 once recorded (or already seen); 503 when
    inline processing met a transient gateway error (AXME retries, and the retry processes
    the recorded row again)."""
    limit = int(get_setting("WEBHOOK_MAX_BODY_BYTES"))
    body = _too_large(request, limit)
    if body is None:
        service._count("too_large")
        logger.warning("webhook delivery refused: body over %s bytes", limit)
        return _answer(413, "body too large")
    result = service.receive(body, request.headers)
    if result.process and result.delivery is not None:
        try:
            _start_processing(result.delivery.pk)
        except Exception as exc:
            # Recorded: the sweep (or AXME's retry, for inline processing) processes it later.
            logger.warning(
                "webhook delivery %s recorded, processing not started: %s",
                result.delivery.delivery_id,
                exc,
            )
            if get_setting("WEBHOOK_PROCESSING") == "inline":
                return _answer(503, "recorded; processing failed, retry later")
    return _answer(result.status, result.detail)
