"""One entry per family method: how to call it and what must go on the wire."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ORG = "0b9f3c62-4a57-4c1e-9d0e-3f1a2b3c4d5e"
WS = "6c1d2e3f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
MEMBER = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
UPLOAD = "3e4f5a6b-7c8d-4e9f-8a0b-1c2d3e4f5a6b"
OWNER = "agent://acme/prod/owner"


@dataclass(frozen=True)
class Case:
    name: str
    call: Callable[[Any, dict[str, Any]], Any]  # (client, extra kwargs) -> result
    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    body: Any = None
    request_schema: str | None = None
    keyed: bool = False  # accepts idempotency_key=

    @property
    def mutating(self) -> bool:
        return self.method in {"POST", "PATCH", "PUT", "DELETE"}


QUOTA_DIMENSIONS = {
    "requests_per_minute": 120,
    "intents_per_day": 10000,
    "inbox_writes_per_day": 5000,
    "media_upload_bytes_per_day": 10485760,
    "media_storage_bytes": 104857600,
    "webhook_deliveries_per_day": 1000,
    "schema_writes_per_day": 50,
}

INVITE = {"owner_agent": OWNER, "recipient_hint": "Alice", "ttl_seconds": 3600}
ACCEPT = {"nick": "@alice.example", "display_name": "Alice"}
MEDIA_CREATE = {
    "owner_agent": OWNER,
    "filename": "contract.pdf",
    "mime_type": "application/pdf",
    "size_bytes": 12345,
    "sha256": "a" * 64,
}
MEDIA_FINALIZE = {"upload_id": UPLOAD, "size_bytes": 12345}
SCHEMA = {
    "semantic_type": "axme.calendar.schedule.v1",
    "schema_json": {"type": "object", "required": ["date"]},
    "compatibility_mode": "strict",
}
REGISTER = {"nick": "@alice.example", "display_name": "Alice", "email": "a@example.com"}
RENAME = {"owner_agent": OWNER, "nick": "@alice.renamed"}
PROFILE = {"owner_agent": OWNER, "display_name": "Alice A."}
SUBSCRIPTION = {
    "callback_url": "https://hooks.example.com/axme",
    "event_types": ["inbox.thread_created", "invite.accepted"],
    "secret": "s" * 24,
    "description": "ops",
}
WEBHOOK_EVENT = {"event_type": "inbox.thread_created", "source": "tests", "payload": {"x": 1}}
SERVICE_ACCOUNT = {
    "org_id": ORG,
    "workspace_id": WS,
    "name": "billing-bot",
    "created_by_actor_id": "actor_1",
}
SA_KEY = {"created_by_actor_id": "actor_1", "expires_at": "2027-01-01T00:00:00Z"}
ORGANIZATION = {"name": "Acme", "requested_by_actor_id": "actor_1", "primary_domain": "acme.io"}
ORG_UPDATE = {"org_id": ORG, "name": "Acme Corp", "status": "active"}
WORKSPACE = {"org_id": ORG, "name": "Production", "environment": "production"}
WORKSPACE_UPDATE = {"org_id": ORG, "workspace_id": WS, "region": "eu-west"}
MEMBER_ADD = {"org_id": ORG, "actor_id": "actor_2", "role": "member", "workspace_id": WS}
MEMBER_UPDATE = {"org_id": ORG, "member_id": MEMBER, "role": "org_admin"}
ACCESS_REQUEST = {
    "request_type": "join_organization",
    "requester_actor_id": "actor_3",
    "org_id": ORG,
    "requested_role": "member",
}
ACCESS_REVIEW = {"decision": "approve", "reviewer_actor_id": "actor_1", "review_comment": "ok"}
QUOTA = {
    "org_id": ORG,
    "workspace_id": WS,
    "dimensions": QUOTA_DIMENSIONS,
    "overage_mode": "block",
    "updated_by_actor_id": "actor_1",
}
PRINCIPAL = {"org_id": ORG, "workspace_id": WS, "principal_type": "service_agent"}
ALIAS = {"principal_id": "prn_12345", "alias": "billing@acme", "alias_type": "service"}
ROUTE = {
    "principal_id": "prn_12345",
    "transport_type": "http",
    "endpoint_url": "https://agents.acme.io/inbox",
    "auth_mode": "jwt",
    "priority": 100,
}
ROUTE_UPDATE = {"health_status": "degraded", "priority": 5}
ROUTING_RESOLVE = {"org_id": ORG, "workspace_id": WS, "alias": "billing@acme"}
BINDING = {"principal_id": "prn_12345", "transport_type": "queue", "transport_handle": "q.billing"}
DELIVERY = {
    "org_id": ORG,
    "workspace_id": WS,
    "principal_id": "prn_12345",
    "payload": {"text": "hi"},
    "idempotency_key": "delivery-0001",
}
BILLING_PLAN = {
    "org_id": ORG,
    "workspace_id": WS,
    "plan_code": "team",
    "currency": "EUR",
    "billing_cycle": "monthly",
    "monthly_commit_minor": 9900,
    "overage_unit_price_minor": 0,
    "updated_by_actor_id": "actor_1",
}
SCOPE = {"org_id": [ORG], "workspace_id": [WS]}


def _q(**values: str) -> dict[str, list[str]]:
    return {k: [v] for k, v in values.items()}


CASES: list[Case] = [
    # capabilities
    Case("get_capabilities", lambda c, kw: c.get_capabilities(**kw), "GET", "/v1/capabilities"),
    # invites
    Case(
        "create_invite",
        lambda c, kw: c.create_invite(INVITE, **kw),
        "POST",
        "/v1/invites/create",
        body=INVITE,
        request_schema="api.invites.create.request",
        keyed=True,
    ),
    Case(
        "get_invite",
        lambda c, kw: c.get_invite("tok_abcdef123456", **kw),
        "GET",
        "/v1/invites/tok_abcdef123456",
    ),
    Case(
        "accept_invite",
        lambda c, kw: c.accept_invite("tok_abcdef123456", ACCEPT, **kw),
        "POST",
        "/v1/invites/tok_abcdef123456/accept",
        body=ACCEPT,
        request_schema="api.invites.accept.request",
        keyed=True,
    ),
    # media
    Case(
        "create_media_upload",
        lambda c, kw: c.create_media_upload(MEDIA_CREATE, **kw),
        "POST",
        "/v1/media/create-upload",
        body=MEDIA_CREATE,
        request_schema="api.media.create_upload.request",
        keyed=True,
    ),
    Case(
        "get_media_upload",
        lambda c, kw: c.get_media_upload(UPLOAD, **kw),
        "GET",
        f"/v1/media/{UPLOAD}",
    ),
    Case(
        "finalize_media_upload",
        lambda c, kw: c.finalize_media_upload(MEDIA_FINALIZE, **kw),
        "POST",
        "/v1/media/finalize-upload",
        body=MEDIA_FINALIZE,
        request_schema="api.media.finalize_upload.request",
        keyed=True,
    ),
    # schemas
    Case(
        "upsert_schema",
        lambda c, kw: c.upsert_schema(SCHEMA, **kw),
        "POST",
        "/v1/schemas",
        body=SCHEMA,
        request_schema="api.schemas.upsert.request",
        keyed=True,
    ),
    Case(
        "get_schema",
        lambda c, kw: c.get_schema("axme.calendar.schedule.v1", **kw),
        "GET",
        "/v1/schemas/axme.calendar.schedule.v1",
    ),
    # users
    Case(
        "register_nick",
        lambda c, kw: c.register_nick(REGISTER, **kw),
        "POST",
        "/v1/users/register-nick",
        body=REGISTER,
        request_schema="api.users.register_nick.request",
        keyed=True,
    ),
    Case(
        "check_nick",
        lambda c, kw: c.check_nick("@alice.example", **kw),
        "GET",
        "/v1/users/check-nick",
        query=_q(nick="@alice.example"),
    ),
    Case(
        "rename_nick",
        lambda c, kw: c.rename_nick(RENAME, **kw),
        "POST",
        "/v1/users/rename-nick",
        body=RENAME,
        request_schema="api.users.rename_nick.request",
        keyed=True,
    ),
    Case(
        "get_user_profile",
        lambda c, kw: c.get_user_profile(OWNER, **kw),
        "GET",
        "/v1/users/profile",
        query=_q(owner_agent=OWNER),
    ),
    Case(
        "update_user_profile",
        lambda c, kw: c.update_user_profile(PROFILE, **kw),
        "POST",
        "/v1/users/profile/update",
        body=PROFILE,
        request_schema="api.users.profile.update.request",
        keyed=True,
    ),
    # webhooks
    Case(
        "upsert_webhook_subscription",
        lambda c, kw: c.upsert_webhook_subscription(SUBSCRIPTION, **kw),
        "POST",
        "/v1/webhooks/subscriptions",
        body=SUBSCRIPTION,
        request_schema="api.webhooks.subscriptions.upsert.request",
        keyed=True,
    ),
    Case(
        "list_webhook_subscriptions",
        lambda c, kw: c.list_webhook_subscriptions(**kw),
        "GET",
        "/v1/webhooks/subscriptions",
    ),
    Case(
        "list_webhook_subscriptions[owner]",
        lambda c, kw: c.list_webhook_subscriptions(owner_agent=OWNER, **kw),
        "GET",
        "/v1/webhooks/subscriptions",
        query=_q(owner_agent=OWNER),
    ),
    Case(
        "delete_webhook_subscription",
        lambda c, kw: c.delete_webhook_subscription("sub_123", owner_agent=OWNER, **kw),
        "DELETE",
        "/v1/webhooks/subscriptions/sub_123",
        query=_q(owner_agent=OWNER),
    ),
    Case(
        "publish_webhook_event",
        lambda c, kw: c.publish_webhook_event(WEBHOOK_EVENT, owner_agent=OWNER, **kw),
        "POST",
        "/v1/webhooks/events",
        query=_q(owner_agent=OWNER),
        body=WEBHOOK_EVENT,
        request_schema="api.webhooks.events.request",
        keyed=True,
    ),
    Case(
        "replay_webhook_event",
        lambda c, kw: c.replay_webhook_event("evt_123", **kw),
        "POST",
        "/v1/webhooks/events/evt_123/replay",
        keyed=True,
    ),
    # service accounts
    Case(
        "create_service_account",
        lambda c, kw: c.create_service_account(SERVICE_ACCOUNT, **kw),
        "POST",
        "/v1/service-accounts",
        body=SERVICE_ACCOUNT,
        request_schema="api.service_accounts.create.request",
        keyed=True,
    ),
    Case(
        "list_service_accounts",
        lambda c, kw: c.list_service_accounts(org_id=ORG, **kw),
        "GET",
        "/v1/service-accounts",
        query=_q(org_id=ORG),
    ),
    Case(
        "list_service_accounts[ws]",
        lambda c, kw: c.list_service_accounts(org_id=ORG, workspace_id=WS, **kw),
        "GET",
        "/v1/service-accounts",
        query=SCOPE,
    ),
    Case(
        "get_service_account",
        lambda c, kw: c.get_service_account("sa_abc", **kw),
        "GET",
        "/v1/service-accounts/sa_abc",
    ),
    Case(
        "create_service_account_key",
        lambda c, kw: c.create_service_account_key("sa_abc", SA_KEY, **kw),
        "POST",
        "/v1/service-accounts/sa_abc/keys",
        body=SA_KEY,
        request_schema="api.service_accounts.keys.create.request",
        keyed=True,
    ),
    Case(
        "revoke_service_account_key",
        lambda c, kw: c.revoke_service_account_key("sa_abc", "key_1", **kw),
        "POST",
        "/v1/service-accounts/sa_abc/keys/key_1/revoke",
        keyed=True,
    ),
    # organizations
    Case(
        "create_organization",
        lambda c, kw: c.create_organization(ORGANIZATION, **kw),
        "POST",
        "/v1/organizations",
        body=ORGANIZATION,
        request_schema="api.organizations.create.request",
        keyed=True,
    ),
    Case(
        "get_organization",
        lambda c, kw: c.get_organization(ORG, **kw),
        "GET",
        f"/v1/organizations/{ORG}",
    ),
    Case(
        "update_organization",
        lambda c, kw: c.update_organization(ORG, ORG_UPDATE, **kw),
        "PATCH",
        f"/v1/organizations/{ORG}",
        body=ORG_UPDATE,
        request_schema="api.organizations.update.request",
        keyed=True,
    ),
    # workspaces
    Case(
        "create_workspace",
        lambda c, kw: c.create_workspace(ORG, WORKSPACE, **kw),
        "POST",
        f"/v1/organizations/{ORG}/workspaces",
        body=WORKSPACE,
        request_schema="api.organizations.workspaces.create.request",
        keyed=True,
    ),
    Case(
        "list_workspaces",
        lambda c, kw: c.list_workspaces(ORG, **kw),
        "GET",
        f"/v1/organizations/{ORG}/workspaces",
    ),
    Case(
        "update_workspace",
        lambda c, kw: c.update_workspace(ORG, WS, WORKSPACE_UPDATE, **kw),
        "PATCH",
        f"/v1/organizations/{ORG}/workspaces/{WS}",
        body=WORKSPACE_UPDATE,
        request_schema="api.organizations.workspaces.update.request",
        keyed=True,
    ),
    # members
    Case(
        "list_organization_members",
        lambda c, kw: c.list_organization_members(ORG, **kw),
        "GET",
        f"/v1/organizations/{ORG}/members",
    ),
    Case(
        "list_organization_members[ws]",
        lambda c, kw: c.list_organization_members(ORG, workspace_id=WS, **kw),
        "GET",
        f"/v1/organizations/{ORG}/members",
        query=_q(workspace_id=WS),
    ),
    Case(
        "add_organization_member",
        lambda c, kw: c.add_organization_member(ORG, MEMBER_ADD, **kw),
        "POST",
        f"/v1/organizations/{ORG}/members",
        body=MEMBER_ADD,
        request_schema="api.organizations.members.add.request",
        keyed=True,
    ),
    Case(
        "update_organization_member",
        lambda c, kw: c.update_organization_member(ORG, MEMBER, MEMBER_UPDATE, **kw),
        "PATCH",
        f"/v1/organizations/{ORG}/members/{MEMBER}",
        body=MEMBER_UPDATE,
        request_schema="api.organizations.members.update.request",
        keyed=True,
    ),
    Case(
        "remove_organization_member",
        lambda c, kw: c.remove_organization_member(ORG, MEMBER, **kw),
        "DELETE",
        f"/v1/organizations/{ORG}/members/{MEMBER}",
    ),
    # access requests
    Case(
        "create_access_request",
        lambda c, kw: c.create_access_request(ACCESS_REQUEST, **kw),
        "POST",
        "/v1/access-requests",
        body=ACCESS_REQUEST,
        request_schema="api.access_requests.create.request",
        keyed=True,
    ),
    Case(
        "list_access_requests",
        lambda c, kw: c.list_access_requests(**kw),
        "GET",
        "/v1/access-requests",
    ),
    Case(
        "list_access_requests[filters]",
        lambda c, kw: c.list_access_requests(org_id=ORG, workspace_id=WS, state="pending", **kw),
        "GET",
        "/v1/access-requests",
        query={**SCOPE, "state": ["pending"]},
    ),
    Case(
        "get_access_request",
        lambda c, kw: c.get_access_request("ar_1", **kw),
        "GET",
        "/v1/access-requests/ar_1",
    ),
    Case(
        "review_access_request",
        lambda c, kw: c.review_access_request("ar_1", ACCESS_REVIEW, **kw),
        "POST",
        "/v1/access-requests/ar_1/review",
        body=ACCESS_REVIEW,
        request_schema="api.access_requests.review.request",
        keyed=True,
    ),
    # quotas and usage
    Case(
        "update_quota",
        lambda c, kw: c.update_quota(QUOTA, **kw),
        "PATCH",
        "/v1/quotas",
        body=QUOTA,
        request_schema="api.quotas.update.request",
        keyed=True,
    ),
    Case(
        "get_quota",
        lambda c, kw: c.get_quota(org_id=ORG, workspace_id=WS, **kw),
        "GET",
        "/v1/quotas",
        query=SCOPE,
    ),
    Case(
        "get_usage_summary",
        lambda c, kw: c.get_usage_summary(org_id=ORG, workspace_id=WS, **kw),
        "GET",
        "/v1/usage/summary",
        query=SCOPE,
    ),
    Case(
        "get_usage_summary[window]",
        lambda c, kw: c.get_usage_summary(org_id=ORG, workspace_id=WS, window="week", **kw),
        "GET",
        "/v1/usage/summary",
        query={**SCOPE, "window": ["week"]},
    ),
    Case(
        "get_usage_timeseries",
        lambda c, kw: c.get_usage_timeseries(org_id=ORG, workspace_id=WS, window_days=7, **kw),
        "GET",
        "/v1/usage/timeseries",
        query={**SCOPE, "window_days": ["7"]},
    ),
    # principals and aliases
    Case(
        "create_principal",
        lambda c, kw: c.create_principal(PRINCIPAL, **kw),
        "POST",
        "/v1/principals",
        body=PRINCIPAL,
        request_schema="api.principals.create.request",
        keyed=True,
    ),
    Case(
        "get_principal",
        lambda c, kw: c.get_principal("prn_12345", **kw),
        "GET",
        "/v1/principals/prn_12345",
    ),
    Case(
        "bind_alias",
        lambda c, kw: c.bind_alias(ALIAS, **kw),
        "POST",
        "/v1/aliases",
        body=ALIAS,
        request_schema="api.aliases.bind.request",
        keyed=True,
    ),
    Case(
        "list_aliases",
        lambda c, kw: c.list_aliases(org_id=ORG, workspace_id=WS, **kw),
        "GET",
        "/v1/aliases",
        query=SCOPE,
    ),
    Case(
        "list_aliases[extensions]",
        lambda c, kw: c.list_aliases(
            org_id=ORG, workspace_id=WS, principal_id="prn_12345", status="active", limit=20, **kw
        ),
        "GET",
        "/v1/aliases",
        query={**SCOPE, "principal_id": ["prn_12345"], "status": ["active"], "limit": ["20"]},
    ),
    Case(
        "revoke_alias",
        lambda c, kw: c.revoke_alias("al_1", **kw),
        "POST",
        "/v1/aliases/al_1/revoke",
        keyed=True,
    ),
    Case(
        "resolve_alias",
        lambda c, kw: c.resolve_alias(org_id=ORG, workspace_id=WS, alias="billing@acme", **kw),
        "GET",
        "/v1/aliases/resolve",
        query={**SCOPE, "alias": ["billing@acme"]},
    ),
    # routing and transports
    Case(
        "register_routing_endpoint",
        lambda c, kw: c.register_routing_endpoint(ROUTE, **kw),
        "POST",
        "/v1/routing/endpoints",
        body=ROUTE,
        request_schema="api.routing.endpoints.register.request",
        keyed=True,
    ),
    Case(
        "list_routing_endpoints",
        lambda c, kw: c.list_routing_endpoints(org_id=ORG, workspace_id=WS, **kw),
        "GET",
        "/v1/routing/endpoints",
        query=SCOPE,
    ),
    Case(
        "list_routing_endpoints[extensions]",
        lambda c, kw: c.list_routing_endpoints(
            org_id=ORG, workspace_id=WS, principal_id="prn_12345", limit=5, **kw
        ),
        "GET",
        "/v1/routing/endpoints",
        query={**SCOPE, "principal_id": ["prn_12345"], "limit": ["5"]},
    ),
    Case(
        "update_routing_endpoint",
        lambda c, kw: c.update_routing_endpoint("rt_1", ROUTE_UPDATE, **kw),
        "PATCH",
        "/v1/routing/endpoints/rt_1",
        body=ROUTE_UPDATE,
        request_schema="api.routing.endpoints.update.request",
        keyed=True,
    ),
    Case(
        "remove_routing_endpoint",
        lambda c, kw: c.remove_routing_endpoint("rt_1", **kw),
        "DELETE",
        "/v1/routing/endpoints/rt_1",
    ),
    Case(
        "resolve_routing",
        lambda c, kw: c.resolve_routing(ROUTING_RESOLVE, **kw),
        "POST",
        "/v1/routing/resolve",
        body=ROUTING_RESOLVE,
        request_schema="api.routing.resolve.request",
        keyed=True,
    ),
    Case(
        "upsert_transport_binding",
        lambda c, kw: c.upsert_transport_binding(BINDING, **kw),
        "POST",
        "/v1/transports/bindings",
        body=BINDING,
        request_schema="api.transports.bindings.upsert.request",
        keyed=True,
    ),
    Case(
        "list_transport_bindings",
        lambda c, kw: c.list_transport_bindings(org_id=ORG, workspace_id=WS, **kw),
        "GET",
        "/v1/transports/bindings",
        query=SCOPE,
    ),
    Case(
        "remove_transport_binding",
        lambda c, kw: c.remove_transport_binding("bnd_1", **kw),
        "DELETE",
        "/v1/transports/bindings/bnd_1",
    ),
    # deliveries
    Case(
        "submit_delivery",
        lambda c, kw: c.submit_delivery(DELIVERY, **kw),
        "POST",
        "/v1/deliveries",
        body=DELIVERY,
        request_schema="api.deliveries.submit.request",
        keyed=True,
    ),
    Case(
        "list_deliveries",
        lambda c, kw: c.list_deliveries(org_id=ORG, workspace_id=WS, **kw),
        "GET",
        "/v1/deliveries",
        query=SCOPE,
    ),
    Case(
        "list_deliveries[filters]",
        lambda c, kw: c.list_deliveries(
            org_id=ORG, workspace_id=WS, principal_id="prn_12345", status="failed", **kw
        ),
        "GET",
        "/v1/deliveries",
        query={**SCOPE, "principal_id": ["prn_12345"], "status": ["failed"]},
    ),
    Case(
        "get_delivery", lambda c, kw: c.get_delivery("dlv_1", **kw), "GET", "/v1/deliveries/dlv_1"
    ),
    Case(
        "replay_delivery",
        lambda c, kw: c.replay_delivery("dlv_1", **kw),
        "POST",
        "/v1/deliveries/dlv_1/replay",
        keyed=True,
    ),
    # billing
    Case(
        "update_billing_plan",
        lambda c, kw: c.update_billing_plan(BILLING_PLAN, **kw),
        "PATCH",
        "/v1/billing/plan",
        body=BILLING_PLAN,
        request_schema="api.billing.plan.update.request",
        keyed=True,
    ),
    Case(
        "get_billing_plan",
        lambda c, kw: c.get_billing_plan(org_id=ORG, workspace_id=WS, **kw),
        "GET",
        "/v1/billing/plan",
        query=SCOPE,
    ),
    Case(
        "list_billing_invoices",
        lambda c, kw: c.list_billing_invoices(org_id=ORG, workspace_id=WS, status="paid", **kw),
        "GET",
        "/v1/billing/invoices",
        query={**SCOPE, "status": ["paid"]},
    ),
    Case(
        "get_billing_invoice",
        lambda c, kw: c.get_billing_invoice("inv_1", **kw),
        "GET",
        "/v1/billing/invoices/inv_1",
    ),
]
