"""Tenant membership: who belongs to a tenant and with which role; tenant profiles.

Scoping lives here, not in controllers: a tenant that is not yours answers NotFound, the
same as one that does not exist; a lower role in your own tenant answers PermissionDenied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from catalog.tables import App
from marketplace.db import transaction
from marketplace.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from provisioning.tables import Installation
from tenants import audit
from tenants.identity import digest_secret
from tenants.principal import Principal
from tenants.tables import MEMBER_ROLES, Membership, Session, Tenant, User


@dataclass(frozen=True)
class Member:
    username: str
    display_name: str
    role: str
    is_self: bool


async def _tenant(slug: str) -> dict[str, Any]:
    row = await Tenant.select().where(Tenant.slug == slug).first()
    if row is None:
        raise NotFound("no such tenant")
    return row


async def _managed_tenant(principal: Principal, slug: str) -> dict[str, Any]:
    """The tenant, if the principal administers it (or is a platform admin)."""
    tenant = await _tenant(slug)
    if principal.is_platform_admin:
        return tenant
    role = principal.role_in(tenant["id"])
    if role is None:
        raise NotFound("no such tenant")
    if role != "admin":
        raise PermissionDenied("only the tenant's admins manage its members")
    return tenant


async def list_members(principal: Principal, slug: str) -> tuple[dict[str, Any], list[Member]]:
    tenant = await _managed_tenant(principal, slug)
    rows = await Membership.select(
        Membership.role, Membership.user.username, Membership.user.display_name
    ).where(Membership.tenant == tenant["id"]).order_by(Membership.user.username)
    return tenant, [
        Member(
            username=r["user.username"],
            display_name=r["user.display_name"],
            role=r["role"],
            is_self=r["user.username"] == principal.username,
        )
        for r in rows
    ]


def _check_role(role: str) -> None:
    if role not in MEMBER_ROLES:
        raise ValidationFailed("unknown role", errors=[{"field": "role", "message": f"one of {', '.join(MEMBER_ROLES)}"}])


async def add_member(principal: Principal, slug: str, username: str, role: str) -> None:
    """Add an existing account to the tenant with a role."""
    tenant = await _managed_tenant(principal, slug)
    _check_role(role)
    user = await User.select(User.id).where(User.username == (username or "").strip().lower()[:80]).first()
    if user is None:
        raise ValidationFailed("no such account", errors=[{"field": "username", "message": "no account has this username"}])
    if await Membership.exists().where((Membership.user == user["id"]) & (Membership.tenant == tenant["id"])):
        raise Conflict(f"{username} is already a member")
    await Membership(user=user["id"], tenant=tenant["id"], role=role).save()
    await audit.record("member.added", actor=principal, tenant_id=tenant["id"], subject_tenant_id=tenant["id"],
                       object_type="member", object_id=username, detail={"role": role})


async def change_role(principal: Principal, slug: str, username: str, role: str) -> None:
    tenant = await _managed_tenant(principal, slug)
    _check_role(role)
    async with transaction():
        membership = await _membership(tenant["id"], username)
        if membership["role"] == role:
            return
        if membership["role"] == "admin":
            await _keep_an_admin(tenant["id"])
        await Membership.update({Membership.role: role}).where(Membership.id == membership["id"])
    await audit.record("member.role_changed", actor=principal, tenant_id=tenant["id"], subject_tenant_id=tenant["id"],
                       object_type="member", object_id=username, detail={"from": membership["role"], "to": role})


async def remove_member(principal: Principal, slug: str, username: str) -> None:
    tenant = await _managed_tenant(principal, slug)
    async with transaction():
        membership = await _membership(tenant["id"], username)
        if membership["role"] == "admin":
            await _keep_an_admin(tenant["id"])
        await Membership.delete().where(Membership.id == membership["id"])
        # A removed member no longer acts for the tenant in open sessions.
        await Session.update({Session.tenant: None}).where(
            (Session.user == membership["user"]) & (Session.tenant == tenant["id"])
        )
    await audit.record("member.removed", actor=principal, tenant_id=tenant["id"], subject_tenant_id=tenant["id"],
                       object_type="member", object_id=username, detail={"role": membership["role"]})


async def _membership(tenant_id: int, username: str) -> dict[str, Any]:
    row = await Membership.select(Membership.id, Membership.role, Membership.user).where(
        (Membership.tenant == tenant_id) & (Membership.user.username == username)
    ).first()
    if row is None:
        raise NotFound("no such member")
    return row


async def _keep_an_admin(tenant_id: int) -> None:
    admins = await Membership.count().where((Membership.tenant == tenant_id) & (Membership.role == "admin"))
    if admins <= 1:
        raise Conflict("a tenant keeps at least one admin: make someone else admin first")


async def switch_tenant(principal: Principal, session_secret: str, slug: str) -> None:
    """Act for another of the principal's tenants in this session."""
    tenant = await _tenant(slug)
    if principal.role_in(tenant["id"]) is None:
        raise NotFound("no such tenant")
    await Session.update({Session.tenant: tenant["id"]}).where(Session.token_hash == digest_secret(session_secret))
    await audit.record("session.tenant_switched", actor=principal, tenant_id=tenant["id"], object_type="tenant",
                       object_id=slug)


async def profile(slug: str) -> dict[str, Any]:
    """A tenant's public profile: what it publishes and what it runs."""
    tenant = await _tenant(slug)
    published = await App.select(App.slug, App.name, App.name_en, App.summary, App.category, App.latest_version).where(
        (App.publisher == tenant["id"]) & (App.latest_version != "")
    ).order_by(App.name)
    adopted = await Installation.select(
        Installation.app.slug, Installation.app.name, Installation.version.version, Installation.app.publisher.name
    ).where((Installation.tenant == tenant["id"]) & (Installation.desired_state != "removed"))
    return {"tenant": tenant, "published": published, "adopted": adopted}
