"""Celery app of the test project: ``celery -A testproject worker`` from ``testproject/``.

With the default no-server broker (``CELERY_BROKER_URL`` unset, so ``filesystem://``) the app
uses django-axme's filesystem transport, which writes message files atomically (kombu's own can
hand a consumer a half-written file). Redis and RabbitMQ URLs are used as they are.
"""

import os
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")

app = Celery("testproject")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _atomic_filesystem_broker(sender: Celery, **kwargs: Any) -> None:
    if (
        str(sender.conf.broker_url or "").startswith("filesystem://")
        and not sender.conf.broker_transport
    ):
        from django_axme.celery import FILESYSTEM_TRANSPORT

        sender.conf.broker_transport = FILESYSTEM_TRANSPORT
