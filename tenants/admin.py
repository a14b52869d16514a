"""Platform administration: tenants (publishing right, quotas) and platform roles."""

from __future__ import annotations

from typing import Any

from marketplace.db import engine
from marketplace.errors import NotFound, PermissionDenied, ValidationFailed
from tenants import audit
from tenants.principal import Principal
from tenants.tables import Tenant, User

PAGE_SIZE = 50
MAX_QUOTA_MEMORY_MIB = 1024 * 1024


def _require(principal: Principal) -> None:
    if not principal.is_platform_admin:
        raise PermissionDenied("only platform admins can do this")


def _like(text: str) -> str:
    return "%" + text.replace("%", "").replace("_", "")[:80] + "%"


def _matches(column: Any, text: str) -> Any:
    """Case-insensitive containment: SQLite's LIKE already ignores case, PostgreSQL needs ILIKE."""
    return column.like(_like(text)) if engine().engine_type == "sqlite" else column.ilike(_like(text))


async def tenants(principal: Principal, query: str = "", page: int = 1) -> list[dict[str, Any]]:
    _require(principal)
    select = Tenant.select().order_by(Tenant.region_code).order_by(Tenant.name)
    if query:
        select = select.where(_matches(Tenant.name, query) | _matches(Tenant.slug, query))
    return await select.limit(PAGE_SIZE).offset((max(page, 1) - 1) * PAGE_SIZE)


async def update_tenant(
    principal: Principal, slug: str, *, publishes: bool, max_installations: str, max_memory_mib: str
) -> None:
    """Set whether a tenant publishes and its quotas (0 means no limit)."""
    _require(principal)
    errors, values = [], {}
    for field, raw, top in (("max_installations", max_installations, 10_000), ("max_memory_mib", max_memory_mib, MAX_QUOTA_MEMORY_MIB)):
        try:
            number = int(raw)
            if not 0 <= number <= top:
                raise ValueError
            values[field] = number
        except ValueError:
            errors.append({"field": field, "message": f"a whole number from 0 (no limit) to {top}"})
    if errors:
        raise ValidationFailed("the tenant's settings are not valid", errors=errors)
    tenant = await Tenant.select(Tenant.id).where(Tenant.slug == slug).first()
    if tenant is None:
        raise NotFound("no such tenant")
    await Tenant.update({
        Tenant.publishes: publishes,
        Tenant.max_installations: values["max_installations"],
        Tenant.max_memory_bytes: values["max_memory_mib"] * 1024 * 1024,
    }).where(Tenant.id == tenant["id"])
    await audit.record("tenant.updated", actor=principal, subject_tenant_id=tenant["id"], object_type="tenant",
                       object_id=slug, detail={"publishes": publishes, **values})


async def users(principal: Principal, query: str = "", page: int = 1) -> list[dict[str, Any]]:
    _require(principal)
    select = User.select(
        User.username, User.display_name, User.is_curator, User.is_platform_admin, User.is_ministry_staff, User.is_active
    ).order_by(User.username)
    if query:
        select = select.where(_matches(User.username, query) | _matches(User.display_name, query))
    return await select.limit(PAGE_SIZE).offset((max(page, 1) - 1) * PAGE_SIZE)


async def set_roles(principal: Principal, username: str, *, curator: bool, platform_admin: bool, ministry_staff: bool) -> None:
    """Grant or take back the platform roles; nobody takes away their own admin role."""
    _require(principal)
    user = await User.select(User.id).where(User.username == username).first()
    if user is None:
        raise NotFound("no such user")
    if user["id"] == principal.user_id and not platform_admin:
        raise ValidationFailed("you cannot remove your own platform admin role",
                               errors=[{"field": "platform_admin", "message": "ask another platform admin"}])
    await User.update({
        User.is_curator: curator, User.is_platform_admin: platform_admin, User.is_ministry_staff: ministry_staff,
    }).where(User.id == user["id"])
    await audit.record("user.roles_changed", actor=principal, object_type="user", object_id=username,
                       detail={"curator": curator, "platform_admin": platform_admin, "ministry_staff": ministry_staff})
