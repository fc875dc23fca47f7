"""URLs of the test project: the admin, django-axme's webhook view (``/axme/webhook/``), and
``/`` sends visitors to the purchase requests."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("axme/", include("django_axme.urls")),
    path(
        "",
        RedirectView.as_view(pattern_name="admin:purchases_purchaserequest_changelist"),
        name="home",
    ),
]
