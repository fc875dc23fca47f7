"""Obviously bad arguments raise ValueError naming the argument, before anything is sent."""

from __future__ import annotations

import pytest

from .cases import ORG, WS

BAD_CALLS = [
    ("token", lambda c: c.get_invite("")),
    ("token", lambda c: c.accept_invite("   ", {"nick": "@a"})),
    ("payload", lambda c: c.accept_invite("tok", ["nick"])),
    ("payload", lambda c: c.create_invite(None)),
    ("payload", lambda c: c.create_invite('{"owner_agent": "x"}')),
    ("upload_id", lambda c: c.get_media_upload(None)),
    ("payload", lambda c: c.finalize_media_upload(42)),
    ("semantic_type", lambda c: c.get_schema("")),
    ("nick", lambda c: c.check_nick("")),
    ("owner_agent", lambda c: c.get_user_profile(" ")),
    ("subscription_id", lambda c: c.delete_webhook_subscription("")),
    ("owner_agent", lambda c: c.list_webhook_subscriptions(owner_agent="")),
    ("event_id", lambda c: c.replay_webhook_event("", owner_agent="agent://x")),
    ("org_id", lambda c: c.list_service_accounts(org_id="")),
    ("workspace_id", lambda c: c.list_service_accounts(org_id=ORG, workspace_id="")),
    ("service_account_id", lambda c: c.create_service_account_key("", {})),
    ("key_id", lambda c: c.revoke_service_account_key("sa_1", "")),
    ("org_id", lambda c: c.update_organization("", {})),
    ("payload", lambda c: c.update_organization(ORG, [("name", "x")])),
    ("workspace_id", lambda c: c.update_workspace(ORG, "", {})),
    ("member_id", lambda c: c.remove_organization_member(ORG, "")),
    ("access_request_id", lambda c: c.review_access_request("", {})),
    ("state", lambda c: c.list_access_requests(state="")),
    ("workspace_id", lambda c: c.get_quota(org_id=ORG, workspace_id="")),
    ("org_id", lambda c: c.get_usage_summary(org_id=None, workspace_id=WS)),
    ("window_days", lambda c: c.get_usage_timeseries(org_id=ORG, workspace_id=WS, window_days=0)),
    ("window_days", lambda c: c.get_usage_timeseries(org_id=ORG, workspace_id=WS, window_days=-3)),
    ("principal_id", lambda c: c.get_principal("")),
    ("limit", lambda c: c.list_aliases(org_id=ORG, workspace_id=WS, limit=0)),
    ("alias", lambda c: c.resolve_alias(org_id=ORG, workspace_id=WS, alias="")),
    ("route_id", lambda c: c.update_routing_endpoint("", {})),
    ("binding_id", lambda c: c.remove_transport_binding("")),
    ("delivery_id", lambda c: c.replay_delivery("")),
    ("invoice_id", lambda c: c.get_billing_invoice("")),
    ("payload", lambda c: c.update_billing_plan(None)),
    ("name", lambda c: c.mcp_call_tool("")),
    ("arguments", lambda c: c.mcp_call_tool("axme.send", arguments=["to"])),
    ("address_id", lambda c: c.mesh.kill("")),
    ("limit", lambda c: c.mesh.list_agents(limit=0)),
    ("limit", lambda c: c.mesh.list_events(limit=True)),
    ("metrics", lambda c: c.mesh.heartbeat(metrics=[1, 2])),
    ("interval_seconds", lambda c: c.mesh.start_heartbeat(interval_seconds=0)),
]


@pytest.mark.parametrize(
    ("argument", "call"), BAD_CALLS, ids=[f"{i}-{a}" for i, (a, _) in enumerate(BAD_CALLS)]
)
def test_bad_argument_is_named_and_nothing_is_sent(client, rsps, argument, call) -> None:
    with pytest.raises(ValueError, match=argument):
        call(client)
    assert len(rsps.calls) == 0
    assert not client.mesh.heartbeat_running
