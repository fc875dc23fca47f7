"""The client's "other" API families, each a mixin over the core client's ``_request``.

:class:`AdminFamiliesMixin` combines them all; ``django_axme.client.AxmeClient`` inherits it.
The core (intents, inbox, approvals, agents, streams) lives in the modules above this package.
"""

from __future__ import annotations

from .access_requests import AccessRequestsMixin
from .billing import BillingMixin
from .capabilities import CapabilitiesMixin
from .deliveries import DeliveriesMixin
from .invites import InvitesMixin
from .mcp import McpMixin, check_tool_arguments, mcp_error_from_rpc
from .media import MediaMixin
from .mesh import MeshClient, MeshMixin
from .organizations import MembersMixin, OrganizationsMixin, WorkspacesMixin
from .principals import AliasesMixin, PrincipalsMixin
from .quotas import QuotasMixin, UsageMixin
from .routing import RoutingMixin, TransportsMixin
from .schemas import SchemasMixin
from .service_accounts import ServiceAccountsMixin
from .users import UsersMixin
from .webhooks import WebhooksMixin

__all__ = [
    "AccessRequestsMixin",
    "AdminFamiliesMixin",
    "AliasesMixin",
    "BillingMixin",
    "CapabilitiesMixin",
    "DeliveriesMixin",
    "InvitesMixin",
    "McpMixin",
    "MediaMixin",
    "MembersMixin",
    "MeshClient",
    "MeshMixin",
    "OrganizationsMixin",
    "PrincipalsMixin",
    "QuotasMixin",
    "RoutingMixin",
    "SchemasMixin",
    "ServiceAccountsMixin",
    "TransportsMixin",
    "UsageMixin",
    "UsersMixin",
    "WebhooksMixin",
    "WorkspacesMixin",
    "check_tool_arguments",
    "mcp_error_from_rpc",
]


class AdminFamiliesMixin(
    CapabilitiesMixin,
    InvitesMixin,
    MediaMixin,
    SchemasMixin,
    UsersMixin,
    WebhooksMixin,
    ServiceAccountsMixin,
    OrganizationsMixin,
    WorkspacesMixin,
    MembersMixin,
    AccessRequestsMixin,
    QuotasMixin,
    UsageMixin,
    PrincipalsMixin,
    AliasesMixin,
    RoutingMixin,
    TransportsMixin,
    DeliveriesMixin,
    BillingMixin,
    McpMixin,
    MeshMixin,
):
    """Every family of this package in one base class.

    Put it before the core class that implements ``_request`` and ``close`` in the bases of
    the client, so :meth:`MeshMixin.close` can stop the heartbeat and then call the core's
    ``close``.
    """
