"""URLs of the test project: the admin, and ``/`` sends visitors to the purchase requests."""

from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

urlpatterns = [
    path("admin/", admin.site.urls),
    path(
        "",
        RedirectView.as_view(pattern_name="admin:purchases_purchaserequest_changelist"),
        name="home",
    ),
]
