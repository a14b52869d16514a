"""Tables of the provisioning domain."""

from __future__ import annotations

from piccolo.columns import ForeignKey, OnDelete, Timestamptz, Varchar
from piccolo.table import Table

from catalog.tables import App, AppVersion
from tenants.tables import Tenant

DESIRED_STATES = ("running", "stopped", "removed")


class Installation(Table):
    """One tenant running one app at one version."""

    tenant = ForeignKey(Tenant, on_delete=OnDelete.restrict, index=True)
    app = ForeignKey(App, on_delete=OnDelete.restrict, index=True)
    version = ForeignKey(AppVersion, on_delete=OnDelete.restrict)
    desired_state = Varchar(length=20, default="running")
    observed_state = Varchar(length=20, default="pending")
    created_at = Timestamptz()
    removed_at = Timestamptz(null=True, default=None)
