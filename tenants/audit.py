"""The audit trail: every change writes who did what to what, when, from where.

Services call `record`; the caller's address comes from the request context, so no
controller has to pass it along.
"""

from __future__ import annotations

import csv
import io
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from marketplace.errors import PermissionDenied, ValidationFailed
from tenants.principal import Principal
from tenants.tables import AuditEntry, Tenant, User

client_address: ContextVar[str] = ContextVar("client_address", default="")

ACTIONS = (
    "auth.sign_in",
    "auth.sign_in_failed",
    "auth.locked_out",
    "auth.sign_out",
    "token.created",
    "token.revoked",
    "member.added",
    "member.role_changed",
    "member.removed",
    "app.submitted",
    "version.submitted",
    "version.approved",
    "version.rejected",
    "version.yanked",
    "version.unyanked",
    "session.tenant_switched",
    "tenant.updated",
    "user.roles_changed",
    "installation.adopted",
    "installation.start",
    "installation.stop",
    "installation.restart",
    "installation.deprovision",
    "installation.purge",
    "installation.upgrade",
    "installation.rollback",
    "installation.reconfigure",
    "installation.policy",
    "installation.export",
)
PAGE_SIZE = 50
EXPORT_LIMIT = 100_000


async def record(
    action: str,
    *,
    actor: Principal | None = None,
    actor_id: int | None = None,
    actor_name: str = "",
    tenant_id: int | None = None,
    subject_tenant_id: int | None = None,
    object_type: str = "",
    object_id: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one entry; the acting tenant defaults to the actor's active tenant."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if actor is not None:
        actor_id = actor.user_id
        actor_name = actor.username
        if tenant_id is None and actor.active_tenant is not None:
            tenant_id = actor.active_tenant.tenant_id
    elif actor_id is not None and not actor_name:
        row = await User.select(User.username).where(User.id == actor_id).first()
        actor_name = row["username"] if row else ""
    await AuditEntry(
        created_at=datetime.now(timezone.utc),
        actor=actor_id,
        actor_name=actor_name[:80],
        tenant=tenant_id,
        subject_tenant=subject_tenant_id,
        action=action,
        object_type=object_type,
        object_id=object_id[:200],
        detail=detail or {},
        ip_address=client_address.get()[:64],
    ).save()


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    action: str = ""
    since: date | None = None
    until: date | None = None
    tenant: str = ""  # a tenant slug; platform-wide readers only

    def validate(self) -> None:
        errors = []
        if self.action and self.action not in ACTIONS:
            errors.append({"field": "action", "message": "unknown action"})
        if self.since and self.until and self.since > self.until:
            errors.append({"field": "since", "message": "is after 'until'"})
        if len(self.actor) > 80:
            errors.append({"field": "actor", "message": "at most 80 characters"})
        if errors:
            raise ValidationFailed("the filter is not valid", errors=errors)


def sees_everything(principal: Principal) -> bool:
    return principal.is_platform_admin or principal.is_ministry_staff


async def _scope(principal: Principal, tenant_slug: str) -> list[int] | None:
    """Tenant ids whose trail the principal may read; None means every tenant."""
    if sees_everything(principal):
        if not tenant_slug:
            return None
        row = await Tenant.select(Tenant.id).where(Tenant.slug == tenant_slug).first()
        return [row["id"]] if row else [-1]
    admin_of = [m.tenant_id for m in principal.memberships if m.role == "admin"]
    if not admin_of:
        raise PermissionDenied("only tenant admins read the audit trail")
    if tenant_slug:
        chosen = [m.tenant_id for m in principal.memberships if m.slug == tenant_slug and m.role == "admin"]
        return chosen or [-1]
    active = principal.active_tenant
    if active is not None and active.tenant_id in admin_of:
        return [active.tenant_id]
    return admin_of


async def _query(principal: Principal, flt: AuditFilter):
    flt.validate()
    tenant_ids = await _scope(principal, flt.tenant)
    query = AuditEntry.select(
        AuditEntry.all_columns(), AuditEntry.tenant.slug, AuditEntry.subject_tenant.slug
    ).output(load_json=True)
    if tenant_ids is not None:
        query = query.where(AuditEntry.tenant.is_in(tenant_ids) | AuditEntry.subject_tenant.is_in(tenant_ids))
    if flt.actor:
        query = query.where(AuditEntry.actor_name == flt.actor)
    if flt.action:
        query = query.where(AuditEntry.action == flt.action)
    if flt.since:
        query = query.where(AuditEntry.created_at >= datetime.combine(flt.since, time.min, timezone.utc))
    if flt.until:
        query = query.where(
            AuditEntry.created_at < datetime.combine(flt.until + timedelta(days=1), time.min, timezone.utc)
        )
    return query.order_by(AuditEntry.id, ascending=False)


async def search(principal: Principal, flt: AuditFilter, *, page: int = 1) -> list[dict[str, Any]]:
    """A page of entries the principal may read, newest first."""
    query = await _query(principal, flt)
    return await query.limit(PAGE_SIZE).offset((max(page, 1) - 1) * PAGE_SIZE)


async def export_csv(principal: Principal, flt: AuditFilter) -> str:
    query = await _query(principal, flt)
    rows = await query.limit(EXPORT_LIMIT)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["time", "actor", "tenant", "action", "object_type", "object_id", "subject_tenant", "ip_address", "detail"])
    for r in rows:
        writer.writerow(
            [
                r["created_at"].isoformat() if hasattr(r["created_at"], "isoformat") else r["created_at"],
                _safe_cell(r["actor_name"]),
                r["tenant.slug"] or "",
                r["action"],
                r["object_type"],
                _safe_cell(r["object_id"]),
                r["subject_tenant.slug"] or "",
                r["ip_address"],
                _safe_cell(_detail_text(r["detail"])),
            ]
        )
    return out.getvalue()


def _detail_text(detail: Any) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{k}={v}" for k, v in sorted(detail.items()))
    return str(detail or "")


def _safe_cell(value: str) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas; quote them."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value
