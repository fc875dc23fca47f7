"""What the AXME model admins share: audit-style permissions and the custom-view plumbing."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import update_wrapper
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext

from django_axme.admin.operations import OperationResult
from django_axme.client.errors import AxmeError
from django_axme.conf import get_setting

CSS = "django_axme/admin.css"


class AuditModelAdmin(admin.ModelAdmin):
    """A mirror model shown for audit: never added or edited here, deleted only if allowed.

    The mirror is written only by ``django_axme.sync``; the admin offers remote operations
    (custom views, each checking its own permission) instead of editable forms. Deleting rows
    is off unless ``AXME["ADMIN_ALLOW_DELETE"]`` is true (and the user has the delete
    permission).
    """

    #: Custom permissions (codenames on this model) that also grant viewing.
    operation_permissions: tuple[str, ...] = ()

    class Media:
        css = {"all": (CSS,)}

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(get_setting("ADMIN_ALLOW_DELETE")) and super().has_delete_permission(
            request, obj
        )

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if super().has_view_permission(request, obj):
            return True
        return any(self._has_model_perm(request, name) for name in self.operation_permissions)

    def _has_model_perm(self, request: HttpRequest, codename: str) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The changelist; POSTing one of this admin's actions without its permission is a 403
        (Django alone would answer "no action selected" and redirect)."""
        if request.method == "POST":
            name = request.POST.get("action", "")
            if name in (self.actions or ()) and name not in self.get_actions(request):
                raise PermissionDenied
        return super().changelist_view(request, extra_context)

    # -- custom views -------------------------------------------------------------------

    def wrap_view(self, view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        """Wrap a custom view: admin login/staff check, and no request-wide transaction.

        Remote calls must not run inside a transaction that holds the rows they are about
        (a project with ``ATOMIC_REQUESTS`` would otherwise wrap them); the one writer opens
        its own short transactions.
        """

        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                return view(request, *args, **kwargs)
            except MethodNotAllowed as exc:
                return HttpResponseNotAllowed(exc.allowed)

        update_wrapper(wrapper, view)
        return self.admin_site.admin_view(transaction.non_atomic_requests(wrapper))

    def require(self, request: HttpRequest, allowed: bool, *, post_only: bool = False) -> None:
        """Raise 403 unless ``allowed``; for ``post_only`` views, answer 405 to anything else."""
        if not allowed:
            raise PermissionDenied
        if post_only and request.method != "POST":
            raise MethodNotAllowed(["POST"])

    def get_object_or_404(self, request: HttpRequest, object_id: str) -> Any:
        from django.http import Http404

        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404(
                gettext("%(name)s %(id)r does not exist")
                % {"name": self.opts.verbose_name, "id": object_id}
            )
        return obj

    def change_url(self, obj: Any) -> str:
        return reverse(
            f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_change",
            args=[obj.pk],
        )

    def report(self, request: HttpRequest, result: OperationResult, obj: Any = None) -> None:
        """Show the result as a message; when ``obj`` is given, also write it to the object's
        admin history (Django's ``LogEntry``), so "History" lists who did what."""
        messages.add_message(request, result.level, result.message)
        if obj is not None:
            self.log_change(request, obj, str(result.message)[:1000])

    def render_change_page(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any]
    ) -> HttpResponse:
        """The change page as for a GET, with ``extra_context`` (a form with its errors)."""
        get_request = copy.copy(request)
        get_request.method = "GET"
        return self.change_view(get_request, object_id, extra_context=extra_context)

    def redirect_to(self, obj: Any) -> HttpResponseRedirect:
        return HttpResponseRedirect(self.change_url(obj))


class MethodNotAllowed(AxmeError):
    """Raised by :meth:`AuditModelAdmin.require`; :meth:`~AuditModelAdmin.wrap_view` answers 405."""

    def __init__(self, allowed: list[str]) -> None:
        super().__init__(allowed)
        self.allowed = allowed
