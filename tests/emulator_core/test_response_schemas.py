"""Every family's answers validate against the AXME response JSON Schemas (and requests we
send validate against the request schemas, so the tests exercise documented bodies)."""

from __future__ import annotations

import uuid

from .conftest import assert_schema, call, intent_body

OWNER = "agent://tests/owner"


def _post(gw, path, body, request_schema=None, **kw):
    if request_schema:
        assert_schema(request_schema, body)
    answer = call(gw, "POST", path, body, **kw)
    assert answer.status == 200, answer.body
    return answer.body


def test_intent_family(gw):
    body = intent_body(reply_to="agent://tests/reply")
    created = _post(gw, "/v1/intents", body, "api.intents.create.request")
    assert_schema("api.intents.create.response", created)
    iid = created["intent_id"]
    assert_schema("api.intents.get.response", call(gw, "GET", f"/v1/intents/{iid}").body)
    assert_schema(
        "api.intents.events.list.response", call(gw, "GET", f"/v1/intents/{iid}/events").body
    )
    resolve_body = {"status": "COMPLETED", "result": {"ok": True}}
    resolved = _post(gw, f"/v1/intents/{iid}/resolve", resolve_body, "api.intents.resolve.request")
    assert_schema("api.intents.resolve.response", resolved)
    assert resolved["completion_delivery"]["delivered"] is True
    other = _post(gw, "/v1/intents", intent_body())["intent_id"]
    failed = _post(
        gw,
        f"/v1/intents/{other}/resolve",
        {"status": "FAILED", "error": {"code": "boom"}},
        "api.intents.resolve.request",
    )
    assert_schema("api.intents.resolve.response", failed)
    assert failed["completion_delivery"] == {"delivered": False, "reason": "reply_to_not_set"}


def test_inbox_and_approvals(gw):
    iid = _post(gw, "/v1/intents", intent_body(to_agent=OWNER))["intent_id"]
    assert_schema(
        "api.inbox.list.response", call(gw, "GET", "/v1/inbox", query={"owner_agent": OWNER}).body
    )
    q = {"owner_agent": OWNER}
    assert_schema("api.inbox.thread.response", call(gw, "GET", f"/v1/inbox/{iid}", query=q).body)
    assert_schema("api.inbox.changes.response", call(gw, "GET", "/v1/inbox/changes", query=q).body)
    for action, body, schema in [
        ("reply", {"message": "hi"}, "api.inbox.reply.request"),
        (
            "delegate",
            {"delegate_to": "agent://tests/other", "note": "n"},
            "api.inbox.delegate.request",
        ),
        ("approve", {"comment": "fine"}, "api.inbox.decision.request"),
        ("reject", {"comment": "changed my mind"}, "api.inbox.decision.request"),
    ]:
        answer = _post(gw, f"/v1/inbox/{iid}/{action}", body, schema, query=q)
        assert_schema("api.inbox.thread.response", answer)
    deleted = _post(
        gw,
        f"/v1/inbox/{iid}/messages/delete",
        {"mode": "both", "limit": 5},
        "api.inbox.messages.delete.request",
        query=q,
    )
    assert_schema("api.inbox.messages.delete.response", deleted)
    decision = _post(
        gw,
        f"/v1/approvals/{uuid.uuid4()}/decision",
        {"decision": "reject", "comment": None} | {"comment": "no"},
        "api.approvals.decision.request",
    )
    assert_schema("api.approvals.decision.response", decision)


def test_directory_families(gw):
    assert_schema("api.capabilities.get.response", call(gw, "GET", "/v1/capabilities").body)
    inv_body = {"owner_agent": OWNER, "recipient_hint": "Bob", "ttl_seconds": 3600}
    invite = _post(gw, "/v1/invites/create", inv_body, "api.invites.create.request")
    assert_schema("api.invites.create.response", invite)
    assert_schema(
        "api.invites.get.response", call(gw, "GET", f"/v1/invites/{invite['token']}").body
    )
    accepted = _post(
        gw,
        f"/v1/invites/{invite['token']}/accept",
        {"nick": "@Bob.Builder", "display_name": "Bob"},
        "api.invites.accept.request",
    )
    assert_schema("api.invites.accept.response", accepted)
    assert_schema(
        "api.invites.get.response", call(gw, "GET", f"/v1/invites/{invite['token']}").body
    )

    up_body = {
        "owner_agent": OWNER,
        "filename": "a.pdf",
        "mime_type": "application/pdf",
        "size_bytes": 3,
    }
    upload = _post(gw, "/v1/media/create-upload", up_body, "api.media.create_upload.request")
    assert_schema("api.media.create_upload.response", upload)
    assert_schema(
        "api.media.get.response", call(gw, "GET", f"/v1/media/{upload['upload_id']}").body
    )
    fin = _post(
        gw,
        "/v1/media/finalize-upload",
        {"upload_id": upload["upload_id"], "size_bytes": 3},
        "api.media.finalize_upload.request",
    )
    assert_schema("api.media.finalize_upload.response", fin)
    assert_schema(
        "api.media.get.response", call(gw, "GET", f"/v1/media/{upload['upload_id']}").body
    )

    schema_body = {
        "semantic_type": "axme.calendar.schedule.v1",
        "compatibility_mode": "strict",
        "schema_json": {"type": "object", "properties": {"at": {"type": "string"}}},
    }
    assert_schema(
        "api.schemas.upsert.response",
        _post(gw, "/v1/schemas", schema_body, "api.schemas.upsert.request"),
    )
    assert_schema(
        "api.schemas.get.response", call(gw, "GET", "/v1/schemas/axme.calendar.schedule.v1").body
    )

    assert_schema(
        "api.users.check_nick.response",
        call(gw, "GET", "/v1/users/check-nick", query={"nick": "@alice"}).body,
    )
    reg = _post(
        gw,
        "/v1/users/register-nick",
        {"nick": "@alice", "display_name": "Alice"},
        "api.users.register_nick.request",
    )
    assert_schema("api.users.register_nick.response", reg)
    ren = _post(
        gw,
        "/v1/users/rename-nick",
        {"owner_agent": reg["owner_agent"], "nick": "@alice2"},
        "api.users.rename_nick.request",
    )
    assert_schema("api.users.rename_nick.response", ren)
    assert_schema(
        "api.users.profile.get.response",
        call(gw, "GET", "/v1/users/profile", query={"owner_agent": reg["owner_agent"]}).body,
    )
    upd = _post(
        gw,
        "/v1/users/profile/update",
        {"owner_agent": reg["owner_agent"], "email": "a@example.com"},
        "api.users.profile.update.request",
    )
    assert_schema("api.users.profile.update.response", upd)

    sub_body = {
        "callback_url": "https://example.com/hook",
        "event_types": ["inbox.thread_created"],
        "secret": "s" * 20,
    }
    sub = _post(
        gw, "/v1/webhooks/subscriptions", sub_body, "api.webhooks.subscriptions.upsert.request"
    )
    assert_schema("api.webhooks.subscriptions.response", sub)
    assert_schema(
        "api.webhooks.subscriptions.list.response",
        call(gw, "GET", "/v1/webhooks/subscriptions").body,
    )
    event_body = {"event_type": "inbox.thread_created", "source": "tests", "payload": {}}
    event = _post(gw, "/v1/webhooks/events", event_body, "api.webhooks.events.request")
    assert_schema("api.webhooks.events.response", event)
    assert event["queued_deliveries"] == 1
    replay = _post(gw, f"/v1/webhooks/events/{event['event_id']}/replay", None)
    assert_schema("api.webhooks.events.replay.response", replay)
    deleted = call(
        gw, "DELETE", f"/v1/webhooks/subscriptions/{sub['subscription']['subscription_id']}"
    )
    assert_schema("api.webhooks.subscriptions.delete.response", deleted.body)


def test_agents_family(gw):
    sa = _post(
        gw,
        "/v1/service-accounts",
        {
            "org_id": str(uuid.uuid4()),
            "workspace_id": str(uuid.uuid4()),
            "name": "billing-bot",
            "created_by_actor_id": "actor_1",
        },
        "api.service_accounts.create.request",
    )
    assert_schema("api.service_accounts.create.response", sa)
    account = sa["service_account"]
    org, ws = account["org_id"], account["workspace_id"]
    listed = call(gw, "GET", "/v1/agents", query={"org_id": org, "workspace_id": ws}).body
    assert_schema("api.agents.list.response", listed)
    assert [a["address"] for a in listed["agents"]] == [account["agent_address"]]
    path = account["agent_address"][len("agent://") :]
    assert_schema("api.agents.get.response", call(gw, "GET", f"/v1/agents/{path}").body)
    assert_schema(
        "api.service_accounts.get.response",
        call(gw, "GET", f"/v1/service-accounts/{account['service_account_id']}").body,
    )
    assert_schema(
        "api.service_accounts.list.response",
        call(gw, "GET", "/v1/service-accounts", query={"org_id": org}).body,
    )
    key = _post(
        gw,
        f"/v1/service-accounts/{account['service_account_id']}/keys",
        {"created_by_actor_id": "actor_1"},
        "api.service_accounts.keys.create.request",
    )
    assert_schema("api.service_accounts.keys.create.response", key)
    # the new key is accepted at once, and refused after revocation
    token = key["key"]["token"]
    assert call(gw, "GET", "/v1/capabilities", api_key=token).status == 200
    revoked = _post(
        gw,
        f"/v1/service-accounts/{account['service_account_id']}/keys/{key['key']['key_id']}/revoke",
        None,
    )
    assert_schema("api.service_accounts.keys.revoke.response", revoked)
    assert call(gw, "GET", "/v1/capabilities", api_key=token).status == 401


def test_enterprise_families(gw):
    org = _post(
        gw,
        "/v1/organizations",
        {"name": "Acme", "requested_by_actor_id": "actor_1"},
        "api.organizations.create.request",
    )
    assert_schema("api.organizations.create.response", org)
    org_id = org["organization"]["org_id"]
    assert_schema(
        "api.organizations.get.response", call(gw, "GET", f"/v1/organizations/{org_id}").body
    )
    upd = call(
        gw, "PATCH", f"/v1/organizations/{org_id}", {"org_id": org_id, "legal_name": "Acme Inc"}
    )
    assert_schema("api.organizations.update.response", upd.body)
    ws = _post(
        gw,
        f"/v1/organizations/{org_id}/workspaces",
        {"org_id": org_id, "name": "prod", "environment": "production"},
        "api.organizations.workspaces.create.request",
    )
    assert_schema("api.organizations.workspaces.create.response", ws)
    ws_id = ws["workspace"]["workspace_id"]
    assert_schema(
        "api.organizations.workspaces.list.response",
        call(gw, "GET", f"/v1/organizations/{org_id}/workspaces").body,
    )
    wsu = call(
        gw,
        "PATCH",
        f"/v1/organizations/{org_id}/workspaces/{ws_id}",
        {"org_id": org_id, "workspace_id": ws_id, "region": "eu"},
    )
    assert_schema("api.organizations.workspaces.update.response", wsu.body)
    member = _post(
        gw,
        f"/v1/organizations/{org_id}/members",
        {"org_id": org_id, "actor_id": "actor_2", "role": "member"},
        "api.organizations.members.add.request",
    )
    assert_schema("api.organizations.members.add.response", member)
    mid = member["member"]["member_id"]
    assert_schema(
        "api.organizations.members.list.response",
        call(gw, "GET", f"/v1/organizations/{org_id}/members").body,
    )
    mu = call(
        gw,
        "PATCH",
        f"/v1/organizations/{org_id}/members/{mid}",
        {"org_id": org_id, "member_id": mid, "role": "org_admin"},
    )
    assert_schema("api.organizations.members.update.response", mu.body)
    assert_schema(
        "api.organizations.members.remove.response",
        call(gw, "DELETE", f"/v1/organizations/{org_id}/members/{mid}").body,
    )

    ar = _post(
        gw,
        "/v1/access-requests",
        {"request_type": "join_organization", "requester_actor_id": "actor_3", "org_id": org_id},
        "api.access_requests.create.request",
    )
    assert_schema("api.access_requests.create.response", ar)
    ar_id = ar["access_request"]["access_request_id"]
    assert_schema("api.access_requests.list.response", call(gw, "GET", "/v1/access-requests").body)
    assert_schema(
        "api.access_requests.get.response", call(gw, "GET", f"/v1/access-requests/{ar_id}").body
    )
    review = _post(
        gw,
        f"/v1/access-requests/{ar_id}/review",
        {"decision": "approve", "reviewer_actor_id": "actor_1"},
        "api.access_requests.review.request",
    )
    assert_schema("api.access_requests.review.response", review)
    assert (
        call(
            gw,
            "POST",
            f"/v1/access-requests/{ar_id}/review",
            {"decision": "reject", "reviewer_actor_id": "actor_1"},
        ).status
        == 409
    )

    scope = {"org_id": org_id, "workspace_id": ws_id}
    assert_schema("api.quotas.get.response", call(gw, "GET", "/v1/quotas", query=scope).body)
    quota_body = {
        **scope,
        "dimensions": {
            k: 5
            for k in (
                "requests_per_minute",
                "intents_per_day",
                "inbox_writes_per_day",
                "media_upload_bytes_per_day",
                "media_storage_bytes",
                "webhook_deliveries_per_day",
                "schema_writes_per_day",
            )
        },
        "overage_mode": "grace",
        "updated_by_actor_id": "actor_1",
    }
    assert_schema("api.quotas.update.request", quota_body)
    assert_schema("api.quotas.update.response", call(gw, "PATCH", "/v1/quotas", quota_body).body)
    assert_schema(
        "api.usage.summary.get.response", call(gw, "GET", "/v1/usage/summary", query=scope).body
    )
    assert_schema(
        "api.usage.timeseries.get.response",
        call(gw, "GET", "/v1/usage/timeseries", query=scope | {"window_days": 3}).body,
    )

    principal = _post(
        gw,
        "/v1/principals",
        {**scope, "principal_type": "service_agent"},
        "api.principals.create.request",
    )
    assert_schema("api.principals.create.response", principal)
    pid = principal["principal"]["principal_id"]
    assert_schema("api.principals.get.response", call(gw, "GET", f"/v1/principals/{pid}").body)
    alias = _post(
        gw,
        "/v1/aliases",
        {"principal_id": pid, "alias": "billing", "alias_type": "service"},
        "api.aliases.bind.request",
    )
    assert_schema("api.aliases.bind.response", alias)
    assert_schema("api.aliases.list.response", call(gw, "GET", "/v1/aliases", query=scope).body)
    assert_schema(
        "api.aliases.resolve.response",
        call(gw, "GET", "/v1/aliases/resolve", query=scope | {"alias": "billing"}).body,
    )
    route = _post(
        gw,
        "/v1/routing/endpoints",
        {
            "principal_id": pid,
            "transport_type": "http",
            "endpoint_url": "https://example.com/in",
            "auth_mode": "none",
        },
        "api.routing.endpoints.register.request",
    )
    assert_schema("api.routing.endpoints.register.response", route)
    rid = route["route"]["route_id"]
    assert_schema(
        "api.routing.endpoints.list.response",
        call(gw, "GET", "/v1/routing/endpoints", query=scope).body,
    )
    assert_schema(
        "api.routing.endpoints.update.response",
        call(gw, "PATCH", f"/v1/routing/endpoints/{rid}", {"priority": 5}).body,
    )
    resolution = _post(
        gw, "/v1/routing/resolve", {**scope, "alias": "billing"}, "api.routing.resolve.request"
    )
    assert_schema("api.routing.resolve.response", resolution)
    binding = _post(
        gw,
        "/v1/transports/bindings",
        {"principal_id": pid, "transport_type": "queue", "transport_handle": "q1"},
        "api.transports.bindings.upsert.request",
    )
    assert_schema("api.transports.bindings.upsert.response", binding)
    assert_schema(
        "api.transports.bindings.list.response",
        call(gw, "GET", "/v1/transports/bindings", query=scope).body,
    )
    delivery = _post(
        gw,
        "/v1/deliveries",
        {**scope, "principal_id": pid, "payload": {"a": 1}},
        "api.deliveries.submit.request",
    )
    assert_schema("api.deliveries.submit.response", delivery)
    did = delivery["delivery"]["delivery_id"]
    assert delivery["delivery"]["status"] == "delivered"
    assert_schema("api.deliveries.get.response", call(gw, "GET", f"/v1/deliveries/{did}").body)
    assert_schema(
        "api.deliveries.list.response", call(gw, "GET", "/v1/deliveries", query=scope).body
    )
    replay = _post(gw, f"/v1/deliveries/{did}/replay", None)
    assert_schema("api.deliveries.replay.response", replay)
    assert replay["delivery"]["replay_of_delivery_id"] == did
    assert_schema(
        "api.routing.endpoints.remove.response",
        call(gw, "DELETE", f"/v1/routing/endpoints/{rid}").body,
    )
    assert_schema(
        "api.transports.bindings.remove.response",
        call(gw, "DELETE", f"/v1/transports/bindings/{binding['binding']['binding_id']}").body,
    )
    assert_schema(
        "api.aliases.revoke.response",
        _post(gw, f"/v1/aliases/{alias['alias']['alias_id']}/revoke", None),
    )

    plan_body = {
        **scope,
        "plan_code": "team",
        "currency": "EUR",
        "billing_cycle": "monthly",
        "monthly_commit_minor": 5000,
        "overage_unit_price_minor": 2,
        "updated_by_actor_id": "actor_1",
    }
    assert_schema("api.billing.plan.update.request", plan_body)
    assert_schema(
        "api.billing.plan.update.response", call(gw, "PATCH", "/v1/billing/plan", plan_body).body
    )
    assert_schema(
        "api.billing.plan.get.response", call(gw, "GET", "/v1/billing/plan", query=scope).body
    )
    invoices = call(gw, "GET", "/v1/billing/invoices", query=scope).body
    assert_schema("api.billing.invoices.list.response", invoices)
    inv_id = invoices["invoices"][0]["invoice_id"]
    assert_schema(
        "api.billing.invoices.get.response", call(gw, "GET", f"/v1/billing/invoices/{inv_id}").body
    )


def test_human_tasks_list(gw):
    iid = _post(gw, "/v1/intents", intent_body())["intent_id"]
    gw.open_human_task(iid, owner_agent=OWNER, title="Approve", allowed_outcomes=["yes", "no"])
    tasks = call(gw, "GET", "/v1/me/tasks", query={"owner_agent": OWNER}).body
    assert_schema("api.tasks.list.response", tasks)
    assert [t["intent_id"] for t in tasks["tasks"]] == [iid]
