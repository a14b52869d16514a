"""Tables of the catalog domain."""

from __future__ import annotations

from piccolo.columns import (
    JSONB,
    BigInt,
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from tenants.tables import Tenant, User

REVIEW_STATUSES = ("submitted", "approved", "rejected")


class App(Table):
    """An application a tenant publishes for other regions to adopt."""

    slug = Varchar(length=64, unique=True, index=True)
    name = Varchar(length=120)
    name_en = Varchar(length=120, default="")
    summary = Varchar(length=300, default="")
    summary_en = Varchar(length=300, default="")
    description = Text(default="")
    description_en = Text(default="")
    category = Varchar(length=60, index=True)
    publisher = ForeignKey(Tenant, on_delete=OnDelete.restrict, index=True)
    license = Varchar(length=100, default="")
    source_url = Varchar(length=500, default="")
    docs_url = Varchar(length=500, default="")
    screenshots = JSONB(default=[])
    contact_email = Varchar(length=254, default="")
    maintenance = Varchar(length=20, default="internal")
    development_status = Varchar(length=20, default="stable")
    cost_estimate_idr = BigInt(default=0)
    aliases = JSONB(default=[])
    tags = JSONB(default=[])
    # The highest approved, unyanked, final version; kept by the review service.
    latest_version = Varchar(length=100, default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class AppVersion(Table):
    """One SemVer version of an app, with its manifest, bundle and review state."""

    app = ForeignKey(App, on_delete=OnDelete.cascade, index=True)
    version = Varchar(length=100)
    major = Integer()
    minor = Integer()
    patch = Integer()
    prerelease = Varchar(length=100, default="")
    changelog = Text(default="")
    manifest = JSONB(default={})
    bundle_sha256 = Varchar(length=64, index=True)
    bundle_size = BigInt(default=0)
    bundle_kind = Varchar(length=20, default="bundle")
    status = Varchar(length=20, default="submitted", index=True)
    rejection_reason = Text(default="")
    reviewed_by = ForeignKey(User, on_delete=OnDelete.set_null, null=True)
    reviewed_at = Timestamptz(null=True, default=None)
    yanked = Boolean(default=False)
    yank_reason = Text(default="")
    yanked_at = Timestamptz(null=True, default=None)
    security_fixes = Boolean(default=False)
    submitted_by = ForeignKey(User, on_delete=OnDelete.set_null, null=True)
    created_at = Timestamptz()
