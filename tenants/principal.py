"""Who is calling: the signed-in user with their tenants and roles, or a token's holder."""

from __future__ import annotations

from dataclasses import dataclass, field

SCOPES = {
    "catalog:read": "Browse and search the catalog",
    "apps:publish": "Submit apps and versions for the publisher's tenant",
    "catalog:review": "Review, approve, reject and yank versions (curators)",
    "installations:write": "Adopt and operate apps for the tenant",
    "stats:read": "Read adoption statistics",
}


@dataclass(frozen=True)
class TenantRole:
    tenant_id: int
    slug: str
    name: str
    role: str
    publishes: bool


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    display_name: str
    is_curator: bool = False
    is_platform_admin: bool = False
    is_ministry_staff: bool = False
    memberships: tuple[TenantRole, ...] = ()
    active_tenant_id: int | None = None
    # None for a browser session (every right the user has); a token's scopes otherwise.
    scopes: frozenset[str] | None = None
    via: str = "session"
    token_tenant_id: int | None = field(default=None)

    def has_scope(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes

    def role_in(self, tenant_id: int) -> str | None:
        if self.token_tenant_id is not None and tenant_id != self.token_tenant_id:
            return None
        for membership in self.memberships:
            if membership.tenant_id == tenant_id:
                return membership.role
        return None

    def can_publish_for(self, tenant_id: int) -> bool:
        """Publishing is a right of a publishing tenant's admins and operators."""
        if not self.has_scope("apps:publish"):
            return False
        for membership in self.publishing_tenants:
            if membership.tenant_id == tenant_id:
                return True
        return False

    @property
    def publishing_tenants(self) -> tuple[TenantRole, ...]:
        return tuple(
            m
            for m in self.memberships
            if m.publishes
            and m.role in ("admin", "operator")
            and (self.token_tenant_id is None or m.tenant_id == self.token_tenant_id)
        )

    @property
    def is_publisher(self) -> bool:
        return self.has_scope("apps:publish") and bool(self.publishing_tenants)

    @property
    def can_review(self) -> bool:
        return self.is_curator and self.has_scope("catalog:review")

    @property
    def active_tenant(self) -> TenantRole | None:
        for membership in self.memberships:
            if membership.tenant_id == self.active_tenant_id:
                return membership
        return self.memberships[0] if self.memberships else None
