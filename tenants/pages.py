"""Web pages of the tenants domain: profiles, members, acting tenant, audit trail."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

from marketplace.errors import DomainError, ValidationFailed
from marketplace.params import TenantSlug, Username
from tenants import admin, audit, members
from tenants.auth import SESSION_COOKIE
from tenants.controllers import safe_next
from tenants.tables import MEMBER_ROLES


def _text(form: Any, name: str, limit: int = 200) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _date(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed("bad date", errors=[{"field": field, "message": "a date such as 2026-11-23"}]) from None


def audit_filter(
    actor: Annotated[str, QueryParameter(name="actor", max_length=80)] = "",
    action: Annotated[str, QueryParameter(name="action", max_length=60)] = "",
    since: Annotated[str | None, QueryParameter(name="since", max_length=10)] = None,
    until: Annotated[str | None, QueryParameter(name="until", max_length=10)] = None,
    tenant: Annotated[str, QueryParameter(name="tenant", max_length=80)] = "",
) -> audit.AuditFilter:
    """The audit trail's filter, from the query string (the page and the CSV share it)."""
    return audit.AuditFilter(actor=actor, action=action, since=_date(since, "since"), until=_date(until, "until"), tenant=tenant)


class TenantPagesController(Controller):
    path = "/"
    include_in_schema = False

    @get("/tenants/{slug:str}", opt={"access": "user"})
    async def profile(self, slug: TenantSlug) -> Template:
        return Template("tenants/profile.html", context=await members.profile(slug))

    @get("/tenants/{slug:str}/members", opt={"access": "user"})
    async def members_page(self, request: Request, slug: TenantSlug) -> Template:
        return await self._members(request, slug)

    async def _members(
        self, request: Request, slug: str, *, errors: list[dict[str, str]] | None = None, message: str = "", status: int = 200
    ) -> Template:
        tenant, people = await members.list_members(request.user, slug)
        return Template(
            "tenants/members.html",
            context={"tenant": tenant, "members": people, "roles": MEMBER_ROLES, "errors": errors or [], "message": message},
            status_code=status,
        )

    @post("/tenants/{slug:str}/members", opt={"access": "user"}, status_code=303)
    async def add_member(self, request: Request, slug: TenantSlug) -> Redirect | Template:
        form = await request.form()
        return await self._change(
            request, slug, lambda: members.add_member(request.user, slug, _text(form, "username", 80), _text(form, "role", 20))
        )

    @post("/tenants/{slug:str}/members/{username:str}/role", opt={"access": "user"}, status_code=303)
    async def change_role(self, request: Request, slug: TenantSlug, username: Username) -> Redirect | Template:
        form = await request.form()
        return await self._change(
            request, slug, lambda: members.change_role(request.user, slug, username, _text(form, "role", 20))
        )

    @post("/tenants/{slug:str}/members/{username:str}/remove", opt={"access": "user"}, status_code=303)
    async def remove_member(self, request: Request, slug: TenantSlug, username: Username) -> Redirect | Template:
        return await self._change(request, slug, lambda: members.remove_member(request.user, slug, username))

    async def _change(self, request: Request, slug: str, action: Any) -> Redirect | Template:
        try:
            await action()
        except (ValidationFailed,) as exc:
            return await self._members(request, slug, errors=exc.errors, message=exc.message, status=422)
        except DomainError as exc:
            if exc.status_code in (404, 403):
                raise
            return await self._members(request, slug, message=exc.message, status=exc.status_code)
        return Redirect(f"/tenants/{slug}/members", status_code=303)

    @post("/session/tenant", opt={"access": "user"}, status_code=303)
    async def switch_tenant(self, request: Request) -> Redirect:
        form = await request.form()
        await members.switch_tenant(request.user, request.cookies.get(SESSION_COOKIE, ""), _text(form, "tenant", 80))
        return Redirect(safe_next(_text(form, "next", 500)), status_code=303)

    @get("/audit", opt={"access": "user"}, dependencies={"flt": Provide(audit_filter, sync_to_thread=False)})
    async def audit_trail(
        self,
        request: Request,
        flt: NamedDependency[audit.AuditFilter],
        page: Annotated[int, QueryParameter(name="page", ge=1, le=10_000)] = 1,
    ) -> Template:
        entries = await audit.search(request.user, flt, page=page)
        return Template(
            "tenants/audit.html",
            context={
                "entries": entries,
                "filter": flt,
                "actions": audit.ACTIONS,
                "page": page,
                "page_size": audit.PAGE_SIZE,
                "everything": audit.sees_everything(request.user),
                "query": str(request.url.query or ""),
            },
        )

    @get("/audit.csv", opt={"access": "user"}, dependencies={"flt": Provide(audit_filter, sync_to_thread=False)})
    async def audit_csv(self, request: Request, flt: NamedDependency[audit.AuditFilter]) -> Response:
        body = await audit.export_csv(request.user, flt)
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="lumbung-audit.csv"'},
        )


class AdminPagesController(Controller):
    """Platform administration: tenants and platform roles."""

    path = "/admin"
    include_in_schema = False

    @get("/tenants", opt={"access": "platform_admin"})
    async def tenants(
        self, request: Request,
        q: Annotated[str, QueryParameter(name="q", max_length=80)] = "",
        page: Annotated[int, QueryParameter(name="page", ge=1, le=100)] = 1,
    ) -> Template:
        rows = await admin.tenants(request.user, q, page)
        return Template("admin/tenants.html", context={"tenants": rows, "q": q, "page": page, "page_size": admin.PAGE_SIZE})

    @post("/tenants/{slug:str}", opt={"access": "platform_admin"}, status_code=303)
    async def update_tenant(self, request: Request, slug: TenantSlug) -> Redirect:
        form = await request.form()
        await admin.update_tenant(
            request.user, slug, publishes=_text(form, "publishes") == "on",
            max_installations=_text(form, "max_installations", 10), max_memory_mib=_text(form, "max_memory_mib", 10),
        )
        return Redirect(f"/admin/tenants?q={slug}", status_code=303)

    @get("/users", opt={"access": "platform_admin"})
    async def users(
        self, request: Request,
        q: Annotated[str, QueryParameter(name="q", max_length=80)] = "",
        page: Annotated[int, QueryParameter(name="page", ge=1, le=1000)] = 1,
    ) -> Template:
        rows = await admin.users(request.user, q, page)
        return Template("admin/users.html", context={"users": rows, "q": q, "page": page, "page_size": admin.PAGE_SIZE})

    @post("/users/{username:str}/roles", opt={"access": "platform_admin"}, status_code=303)
    async def set_roles(self, request: Request, username: Username) -> Redirect:
        form = await request.form()
        await admin.set_roles(
            request.user, username, curator=_text(form, "curator") == "on",
            platform_admin=_text(form, "platform_admin") == "on", ministry_staff=_text(form, "ministry_staff") == "on",
        )
        return Redirect(f"/admin/users?q={username}", status_code=303)
