"""django-axme's URLs. Include them once, e.g. ``path("axme/", include("django_axme.urls"))``.

- ``webhook/`` (name ``axme:webhook``): the view AXME delivers webhooks to.
"""

from __future__ import annotations

from django.urls import path

from django_axme.webhooks.views import webhook

app_name = "axme"

urlpatterns = [
    path("webhook/", webhook, name="webhook"),
]
