"""Tables of the provisioning domain."""

from __future__ import annotations

from piccolo.columns import JSONB, BigInt, Float, ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.table import Table

from catalog.tables import App, AppVersion
from tenants.tables import Tenant, User

DESIRED_STATES = ("running", "stopped", "removed")
UPDATE_POLICIES = ("pinned", "auto-patch", "auto-minor")
JOB_KINDS = (
    "provision", "restore", "upgrade", "rollback", "reconfigure", "start", "stop", "restart", "deprovision", "purge",
)
JOB_STATES = ("queued", "running", "succeeded", "failed")


class Installation(Table):
    """One tenant running one app at one version."""

    tenant = ForeignKey(Tenant, on_delete=OnDelete.restrict, index=True)
    app = ForeignKey(App, on_delete=OnDelete.restrict, index=True)
    version = ForeignKey(AppVersion, on_delete=OnDelete.restrict)
    # Configuration values; secrets are stored encrypted (provisioning.secrets).
    config = JSONB(default={})
    update_policy = Varchar(length=20, default="pinned")
    desired_state = Varchar(length=20, default="running")
    observed_state = Varchar(length=20, default="pending")
    memory_bytes = BigInt(default=0)
    cpu = Float(default=0)
    image_id = Varchar(length=100, default="")
    container_id = Varchar(length=100, default="")
    url = Varchar(length=300, default="")
    last_error = Text(default="")
    # The version before the last upgrade or rollback, and the snapshot of the data volumes
    # taken then (a path in the snapshot directory): a rollback returns to both.
    previous_version = ForeignKey(AppVersion, on_delete=OnDelete.set_null, null=True)
    snapshot = Varchar(length=500, default="")
    # A version whose upgrade failed and was rolled back; update policies skip it.
    skipped_version = Varchar(length=100, default="")
    created_by = ForeignKey(User, on_delete=OnDelete.set_null, null=True)
    created_at = Timestamptz()
    removed_at = Timestamptz(null=True, default=None)
    # After a deprovision the data volumes are kept until then; afterwards they are purged.
    retain_until = Timestamptz(null=True, default=None)


class ProvisionJob(Table):
    """Long work on an installation, persisted step by step so it survives a restart."""

    installation = ForeignKey(Installation, on_delete=OnDelete.cascade, index=True)
    kind = Varchar(length=20)
    # What the job needs beyond the installation: a target version, a configuration, the
    # image and snapshot made by earlier steps (so a resumed job finds them).
    params = JSONB(default={})
    state = Varchar(length=20, default="queued", index=True)
    steps = JSONB(default=[])  # [{"key", "label", "state": pending|running|done|failed, "detail"}]
    progress = Integer(default=0)  # percent
    log = Text(default="")
    error = Text(default="")
    attempts = Integer(default=0)
    claimed_by = Varchar(length=100, default="")
    heartbeat_at = Timestamptz(null=True, default=None)
    created_by = ForeignKey(User, on_delete=OnDelete.set_null, null=True)
    created_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)


class AdoptionEvent(Table):
    """A fact for the statistics: adopted, upgraded, rolled back, removed. Never updated."""

    kind = Varchar(length=20, index=True)
    tenant = ForeignKey(Tenant, on_delete=OnDelete.restrict, index=True)
    app = ForeignKey(App, on_delete=OnDelete.restrict, index=True)
    installation = ForeignKey(Installation, on_delete=OnDelete.set_null, null=True)
    from_version = Varchar(length=100, default="")
    to_version = Varchar(length=100, default="")
    created_at = Timestamptz(index=True)
