"""Tables of the tenants domain."""

from __future__ import annotations

from piccolo.columns import (
    JSONB,
    BigInt,
    Boolean,
    Integer,
    ForeignKey,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

TENANT_KINDS = ("provinsi", "kabupaten", "kota", "kementerian")
MEMBER_ROLES = ("admin", "operator", "viewer")


class Tenant(Table):
    """A regional government (provinsi, kabupaten, kota) or a ministry."""

    slug = Varchar(length=80, unique=True, index=True)
    name = Varchar(length=200)
    kind = Varchar(length=20)
    region_code = Varchar(length=20, null=True, default=None, unique=True)
    province = Varchar(length=120, default="", index=True)
    contact_email = Varchar(length=254, default="")
    publishes = Boolean(default=False)
    # Quotas, enforced by provisioning: 0 means no limit.
    max_installations = Integer(default=20)
    max_memory_bytes = BigInt(default=8 * 1024**3)
    created_at = Timestamptz()


class User(Table, tablename="lumbung_user"):
    username = Varchar(length=80, unique=True, index=True)
    email = Varchar(length=254, default="")
    display_name = Varchar(length=200, default="")
    password_hash = Text(default="")
    is_active = Boolean(default=True)
    is_curator = Boolean(default=False)
    is_platform_admin = Boolean(default=False)
    # Kominfo staff: adoption statistics across every tenant.
    is_ministry_staff = Boolean(default=False)
    # The single sign-on identity this account is bound to (issuer and subject), if any.
    sso_issuer = Varchar(length=300, default="")
    sso_subject = Varchar(length=255, default="")
    failed_logins = Integer(default=0)
    locked_until = Timestamptz(null=True, default=None)
    created_at = Timestamptz()


class Membership(Table):
    """A user's role in a tenant: admin, operator or viewer."""

    user = ForeignKey(User, on_delete=OnDelete.cascade, index=True)
    tenant = ForeignKey(Tenant, on_delete=OnDelete.cascade, index=True)
    role = Varchar(length=20)
    created_at = Timestamptz()


class Session(Table, tablename="web_session"):
    """A signed-in browser. Only the token's hash is stored; logout deletes the row."""

    token_hash = Varchar(length=64, unique=True, index=True)
    user = ForeignKey(User, on_delete=OnDelete.cascade, index=True)
    tenant = ForeignKey(Tenant, on_delete=OnDelete.set_null, null=True)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    ip_address = Varchar(length=64, default="")


class ApiToken(Table):
    """A bearer token for the API and the CLI. Shown once; stored as a hash."""

    name = Varchar(length=100)
    prefix = Varchar(length=16, index=True)
    token_hash = Varchar(length=64, unique=True, index=True)
    user = ForeignKey(User, on_delete=OnDelete.cascade, index=True)
    tenant = ForeignKey(Tenant, on_delete=OnDelete.cascade, null=True)
    scopes = JSONB(default=[])
    created_at = Timestamptz()
    expires_at = Timestamptz(null=True, default=None)
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class AuditEntry(Table):
    """Who did what to what, when, from where, acting for which tenant. Never updated."""

    created_at = Timestamptz(index=True)
    actor = ForeignKey(User, on_delete=OnDelete.set_null, null=True, index=True)
    actor_name = Varchar(length=80, default="")
    # The tenant the actor acted for, and the tenant whose object it was (both see it).
    tenant = ForeignKey(Tenant, on_delete=OnDelete.set_null, null=True, index=True)
    subject_tenant = ForeignKey(Tenant, on_delete=OnDelete.set_null, null=True, index=True)
    action = Varchar(length=60, index=True)
    object_type = Varchar(length=40, default="")
    object_id = Varchar(length=200, default="")
    detail = JSONB(default={})
    ip_address = Varchar(length=64, default="")
