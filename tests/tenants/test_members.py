"""Members, roles, acting tenant, tenant profiles, sign-in lockout and the audit trail."""

from __future__ import annotations

import csv
import io

import pytest

from marketplace.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from tenants import audit, members
from tenants.identity import AccountLocked, authenticate
from tenants.services import seed_regions
from tenants.tables import AuditEntry, Membership, Tenant
from tests.conftest import PASSWORD, make_user, principal
from tests.pages import csrf_token, login, post_form

pytestmark = pytest.mark.db


async def test_admins_manage_members_and_keep_one_admin(world):
    admin = await principal(world["publisher"])
    await make_user("baru")
    await members.add_member(admin, "kota-surabaya", "baru", "operator")
    with pytest.raises(Conflict):
        await members.add_member(admin, "kota-surabaya", "baru", "viewer")
    with pytest.raises(ValidationFailed):
        await members.add_member(admin, "kota-surabaya", "nobody", "viewer")
    with pytest.raises(ValidationFailed):
        await members.add_member(admin, "kota-surabaya", "baru", "emperor")
    await members.change_role(admin, "kota-surabaya", "baru", "viewer")
    _, people = await members.list_members(admin, "kota-surabaya")
    assert {m.username: m.role for m in people}["baru"] == "viewer"

    # The only admin can neither leave nor step down.
    with pytest.raises(Conflict):
        await members.remove_member(admin, "kota-surabaya", "surabaya")
    with pytest.raises(Conflict):
        await members.change_role(admin, "kota-surabaya", "surabaya", "operator")
    await members.change_role(admin, "kota-surabaya", "baru", "admin")
    await members.remove_member(admin, "kota-surabaya", "surabaya")
    assert not await Membership.exists().where(Membership.user == world["publisher"].id)

    actions = [r["action"] for r in await AuditEntry.select(AuditEntry.action).order_by(AuditEntry.id)]
    assert actions == ["member.added", "member.role_changed", "member.role_changed", "member.removed"]


async def test_other_tenants_are_walls(world):
    bandung_admin = await principal(world["other_publisher"])
    with pytest.raises(NotFound):
        await members.list_members(bandung_admin, "kota-surabaya")
    with pytest.raises(NotFound):
        await members.add_member(bandung_admin, "kota-surabaya", "bandung", "admin")
    operator = await principal(world["operator"])
    with pytest.raises(PermissionDenied):
        await members.list_members(operator, "kota-surabaya")
    with pytest.raises(NotFound):
        await members.list_members(bandung_admin, "does-not-exist")


async def test_members_page_and_acting_tenant(client, world):
    await login(client, "surabaya")
    page = await client.get("/tenants/kota-surabaya/members")
    assert page.status_code == 200 and "op-surabaya" in page.text
    assert 'id="acting-tenant"' in page.text and "Pemerintah Kota Surabaya" in page.text
    assert (await client.get("/tenants/kota-bandung/members")).status_code == 404
    added = await post_form(client, "/tenants/kota-surabaya/members", {"username": "paser", "role": "viewer"},
                            page="/tenants/kota-surabaya/members")
    assert added.status_code == 200 and 'id="member-paser"' in added.text
    refused = await post_form(client, "/tenants/kota-surabaya/members/surabaya/remove", {},
                              page="/tenants/kota-surabaya/members")
    assert refused.status_code == 409 and "setidaknya satu admin" in refused.text


async def test_switching_the_acting_tenant(client, world):
    both = await make_user("dua-kota", world["surabaya"], "viewer")
    await Membership(user=both.id, tenant=world["bandung"].id, role="operator").save()
    await login(client, "dua-kota")
    first = await client.get("/")
    assert 'name="tenant"' in first.text
    switched = await post_form(client, "/session/tenant", {"tenant": "kota-bandung", "next": "/"})
    assert switched.status_code == 200
    assert '<option value="kota-bandung" selected>' in switched.text
    not_mine = await post_form(client, "/session/tenant", {"tenant": "kabupaten-paser", "next": "/"})
    assert not_mine.status_code == 404


async def test_tenant_profile_page(client, world):
    await login(client, "paser")
    page = await client.get("/tenants/kota-surabaya")
    assert page.status_code == 200 and "Pemerintah Kota Surabaya" in page.text
    assert (await client.get("/tenants/nowhere")).status_code == 404


async def test_lockout_after_repeated_failures(db):
    user = await make_user("tuban")
    for _ in range(4):
        with pytest.raises(Exception) as caught:
            await authenticate("tuban", "wrong-password")
        assert not isinstance(caught.value, AccountLocked)
    with pytest.raises(AccountLocked):
        await authenticate("tuban", "wrong-password")
    with pytest.raises(AccountLocked):  # even the right password waits out the lockout
        await authenticate("tuban", PASSWORD)
    await user.__class__.update({user.__class__.locked_until: None}).where(user.__class__.id == user.id)
    assert (await authenticate("tuban", PASSWORD)).id == user.id
    actions = [r["action"] for r in await AuditEntry.select(AuditEntry.action)]
    assert actions.count("auth.sign_in_failed") == 6 and actions.count("auth.locked_out") == 1


async def test_locked_account_page_says_so(client, world):
    for _ in range(5):
        await login(client, "paser", "wrong-password-1")
    response = await login(client, "paser")
    assert response.status_code == 401 and "dikunci" in response.text


async def test_sign_in_rate_limit_per_address(client, world, monkeypatch):
    from tenants.controllers import LoginLimiter

    limiter = LoginLimiter("3/minute")
    monkeypatch.setattr(LoginLimiter, "allow", limiter.allow)
    for _ in range(3):
        await login(client, "nobody", "x-password-123")
    response = await login(client, "surabaya")
    assert response.status_code == 429 and response.headers["retry-after"] == "60"


async def test_audit_trail_is_scoped_and_exportable(client, world, make_bundle, catalog_service):
    from catalog.services import Submission

    await login(client, "surabaya")
    await client.post("/logout", data={"_csrf_token": await csrf_token(client, "/")})
    publisher = await principal(world["publisher"])
    await catalog_service.submit_version(
        publisher, Submission(version="1.0.0", changelog="", bundle_path=make_bundle(), app_slug="e-perizinan")
    )
    await catalog_service.approve(await principal(world["curator"]), "e-perizinan", "1.0.0")
    await login(client, "bandung")  # another tenant's admin

    mine = await audit.search(publisher, audit.AuditFilter())
    assert {e["action"] for e in mine} >= {"auth.sign_in", "auth.sign_out", "app.submitted", "version.submitted", "version.approved"}
    approved = next(e for e in mine if e["action"] == "version.approved")
    assert approved["actor_name"] == "kurator" and approved["object_id"] == "e-perizinan@1.0.0"
    assert all(e["ip_address"] for e in mine if e["action"].startswith("auth."))

    bandung = await audit.search(await principal(world["other_publisher"]), audit.AuditFilter())
    assert {e["actor_name"] for e in bandung} == {"bandung"}
    with pytest.raises(PermissionDenied):
        await audit.search(await principal(world["operator"]), audit.AuditFilter())

    staff = await make_user("kominfo-staff", world["kominfo"], "viewer", is_ministry_staff=True)
    everything = await audit.search(await principal(staff), audit.AuditFilter())
    assert {"surabaya", "bandung", "kurator"} <= {e["actor_name"] for e in everything}
    only_approvals = await audit.search(await principal(staff), audit.AuditFilter(action="version.approved"))
    assert [e["action"] for e in only_approvals] == ["version.approved"]

    await client.post("/logout", data={"_csrf_token": await csrf_token(client, "/")})
    await login(client, "surabaya")
    page = await client.get("/audit?action=version.approved")
    assert page.status_code == 200 and "e-perizinan@1.0.0" in page.text
    exported = await client.get("/audit.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["action"] for r in rows} >= {"version.approved", "version.submitted"}
    assert (await client.get("/audit?since=yesterday")).status_code == 422


async def test_csv_cells_cannot_become_formulas():
    assert audit._safe_cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert audit._safe_cell("surabaya") == "surabaya"


async def test_seeding_every_region_is_idempotent(db):
    added = await seed_regions()
    assert added == 553  # 38 provinces, 416 regencies, 98 cities and the ministry
    assert await seed_regions() == 0
    surabaya = await Tenant.select().where(Tenant.region_code == "35.78").first()
    assert surabaya["slug"] == "kota-surabaya" and surabaya["name"] == "Pemerintah Kota Surabaya"
    assert surabaya["province"] == "Jawa Timur" and surabaya["kind"] == "kota"


async def test_quotas_are_shown_to_the_tenants_admins(client, world):
    await Tenant.update({Tenant.max_installations: 5, Tenant.max_memory_bytes: 2 * 1024**3}).where(Tenant.slug == "kota-surabaya")
    await login(client, "surabaya")
    page = await client.get("/tenants/kota-surabaya")
    assert "hingga 5 instalasi" in page.text and "2 GiB" in page.text
    await client.post("/logout", data={"_csrf_token": await csrf_token(client, "/")})
    await login(client, "op-surabaya")
    assert 'id="quota"' not in (await client.get("/tenants/kota-surabaya")).text


async def test_platform_admins_manage_tenants_and_platform_roles(client, world):
    await make_user("platform", None, is_platform_admin=True)
    await login(client, "platform")
    listing = await client.get("/admin/tenants?q=bandung")
    assert listing.status_code == 200 and 'id="tenant-kota-bandung"' in listing.text and "kota-surabaya" not in listing.text
    saved = await post_form(client, "/admin/tenants/kota-bandung",
                            {"max_installations": "3", "max_memory_mib": "1024"}, page="/admin/tenants")
    assert saved.status_code == 200
    bandung = await Tenant.select().where(Tenant.slug == "kota-bandung").first()
    assert (bandung["publishes"], bandung["max_installations"], bandung["max_memory_bytes"]) == (False, 3, 1024**3)
    bad = await post_form(client, "/admin/tenants/kota-bandung", {"max_installations": "-1", "max_memory_mib": "x"},
                          page="/admin/tenants")
    assert bad.status_code == 422

    granted = await post_form(client, "/admin/users/bandung/roles", {"curator": "on"}, page="/admin/users")
    assert granted.status_code == 200
    assert (await principal(world["other_publisher"])).is_curator
    own = await post_form(client, "/admin/users/platform/roles", {}, page="/admin/users")
    assert own.status_code == 422  # nobody removes their own admin role
    actions = {r["action"] for r in await AuditEntry.select(AuditEntry.action)}
    assert {"tenant.updated", "user.roles_changed"} <= actions
