"""A URLconf without django_axme.urls (for the axme.W030 check test)."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
