"""Tenant services: registering regional governments and ministries."""

from __future__ import annotations

import re

from marketplace.errors import ValidationFailed
from tenants.regions import Region, load_regions, tenant_slug
from tenants.tables import TENANT_KINDS, Tenant

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$"
SLUG_RE = re.compile(SLUG_PATTERN)
REGION_CODE_RE = re.compile(r"^\d{2}(?:\.\d{2}(?:\.\d{2}(?:\.\d{4})?)?)?$")


async def register_tenant(
    slug: str,
    name: str,
    kind: str,
    *,
    province: str = "",
    region_code: str | None = None,
    contact_email: str = "",
    publishes: bool = False,
) -> Tenant:
    """Create a tenant, or return the existing one with that slug."""
    errors = []
    if not SLUG_RE.match(slug or ""):
        errors.append({"field": "slug", "message": "lowercase letters, digits and '-', up to 80 characters"})
    if not 1 <= len((name or "").strip()) <= 200:
        errors.append({"field": "name", "message": "1–200 characters"})
    if kind not in TENANT_KINDS:
        errors.append({"field": "kind", "message": f"one of {', '.join(TENANT_KINDS)}"})
    if region_code and not REGION_CODE_RE.match(region_code):
        errors.append({"field": "region_code", "message": "a Kemendagri code such as 35, 35.78 or 64.01"})
    if errors:
        raise ValidationFailed("the tenant is not valid", errors=errors)
    existing = await Tenant.objects().where(Tenant.slug == slug).first()
    if existing is not None:
        return existing
    tenant = Tenant(
        slug=slug,
        name=name.strip(),
        kind=kind,
        province=province or "",
        region_code=region_code or None,
        contact_email=contact_email or "",
        publishes=publishes,
    )
    await tenant.save()
    return tenant


MINISTRY = {
    "slug": "kementerian-komunikasi-dan-digital",
    "name": "Kementerian Komunikasi dan Digital",
    "kind": "kementerian",
    "contact_email": "spbe@komdigi.go.id",
}


def government_name(region: Region) -> str:
    """'Pemerintah Provinsi Jawa Timur', 'Pemerintah Kota Surabaya'."""
    if region.kind == "provinsi":
        return f"Pemerintah Provinsi {region.name}"
    return f"Pemerintah {region.name}"


async def seed_regions(regions: list[Region] | None = None) -> int:
    """A tenant for every province, regency and city (matched by Kemendagri code) and for
    the ministry. Existing tenants are kept as they are; returns how many were added."""
    regions = regions if regions is not None else load_regions()
    known = {r["region_code"] for r in await Tenant.select(Tenant.region_code) if r["region_code"]}
    taken = {r["slug"] for r in await Tenant.select(Tenant.slug)}
    rows = [
        Tenant(
            slug=tenant_slug(region),
            name=government_name(region),
            kind=region.kind,
            province=region.province_name,
            region_code=region.code,
            publishes=False,
        )
        for region in regions
        if region.code not in known and tenant_slug(region) not in taken
    ]
    if MINISTRY["slug"] not in taken:
        rows.append(Tenant(slug=MINISTRY["slug"], name=MINISTRY["name"], kind="kementerian",
                           contact_email=MINISTRY["contact_email"], publishes=False))
    for start in range(0, len(rows), 200):
        await Tenant.insert(*rows[start : start + 200])
    return len(rows)
