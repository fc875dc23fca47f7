"""``manage.py axme_webhooks sync|list|delete``: the project's webhook subscription at AXME.

- ``sync`` upserts the subscription from settings: ``AXME["WEBHOOK_URL"]``,
  ``AXME["WEBHOOK_EVENT_TYPES"]`` and the newest secret (the first of
  ``WEBHOOK_SECRET``/``WEBHOOK_SECRETS``). The gateway upserts by callback URL, so running it
  again (e.g. after a rotation) updates the same subscription.
- ``list`` shows the subscriptions (``--all`` includes revoked ones).
- ``delete <subscription_id>`` revokes one.

The secret is never printed: only the gateway's ``secret_hint``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from django_axme.conf import AxmeSettingsError, get_setting
from django_axme.exceptions import AxmeError


class Command(BaseCommand):
    help = _("Create or update (sync), list or delete the AXME webhook subscription.")

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sync = sub.add_parser("sync", help=_("upsert the subscription from settings"))
        sync.add_argument("--description", default="django-axme", help=_("description"))
        listing = sub.add_parser("list", help=_("list the subscriptions"))
        listing.add_argument("--all", action="store_true", help=_("include revoked ones"))
        delete = sub.add_parser("delete", help=_("revoke a subscription"))
        delete.add_argument("subscription_id")

    def handle(self, *args: Any, **options: Any) -> None:
        from django_axme import get_client

        try:
            client = get_client()
            if options["action"] == "sync":
                self._sync(client, options["description"])
            elif options["action"] == "list":
                self._list(client, options["all"])
            else:
                answer = client.delete_webhook_subscription(options["subscription_id"])
                self.stdout.write(
                    _("Revoked %(id)s at %(at)s.")
                    % {"id": answer.get("subscription_id"), "at": answer.get("revoked_at")}
                )
        except (AxmeError, AxmeSettingsError) as exc:
            raise CommandError(str(exc)) from exc

    def _sync(self, client: Any, description: str) -> None:
        from django_axme.services.webhooks import configured_secrets

        url = get_setting("WEBHOOK_URL")
        if not url:
            raise CommandError(_("Set AXME['WEBHOOK_URL'] to the public URL of axme:webhook."))
        secrets = configured_secrets()
        if not secrets:
            raise CommandError(_("Set AXME['WEBHOOK_SECRETS'] (or AXME['WEBHOOK_SECRET'])."))
        answer = client.upsert_webhook_subscription(
            {
                "callback_url": url,
                "event_types": list(get_setting("WEBHOOK_EVENT_TYPES")),
                "secret": secrets[0],
                "active": True,
                "description": description,
            }
        )
        self._show(answer.get("subscription") or {})

    def _list(self, client: Any, include_inactive: bool) -> None:
        answer = client.list_webhook_subscriptions(include_inactive=include_inactive or None)
        subs = answer.get("subscriptions") or []
        if not subs:
            self.stdout.write(_("No webhook subscriptions."))
        for sub in subs:
            self._show(sub)

    def _show(self, sub: dict[str, Any]) -> None:
        state = _("active") if sub.get("active") else _("revoked %s") % sub.get("revoked_at")
        self.stdout.write(
            f"{sub.get('subscription_id')}  {sub.get('callback_url')}  "
            f"[{', '.join(sub.get('event_types') or [])}]  {state}  "
            f"secret {sub.get('secret_hint') or '-'}"
        )
