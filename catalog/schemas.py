"""Request and response schemas of the catalog (what goes over the wire)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec


class PublisherRef(msgspec.Struct):
    slug: str
    name: str
    province: str


class TenantRef(msgspec.Struct):
    slug: str
    name: str
    kind: str
    province: str


class EnvRequirement(msgspec.Struct):
    name: str
    label: str
    description: str
    required: bool
    secret: bool
    generate: bool
    default: str | None
    pattern: str | None


class Requirements(msgspec.Struct):
    memory_bytes: int
    cpu: float
    min_memory_bytes: int | None
    min_cpu: float | None
    port: int
    health_check_path: str
    env: list[EnvRequirement]
    volumes: list[str]
    capabilities: list[str]
    writable_paths: list[str]
    min_lumbung_version: str


class Version(msgspec.Struct):
    app_slug: str
    version: str
    status: str
    yanked: bool
    prerelease: bool
    changelog: str
    security_fixes: bool
    bundle_sha256: str
    bundle_size: int
    bundle_kind: str
    created_at: datetime
    reviewed_at: datetime | None
    rejection_reason: str
    yank_reason: str
    requirements: Requirements


class AppSummary(msgspec.Struct):
    slug: str
    name: str
    name_en: str
    summary: str
    summary_en: str
    category: str
    publisher: PublisherRef
    license: str
    latest_version: str | None
    adoptions: int
    development_status: str
    updated_at: datetime


class App(AppSummary):
    description: str
    description_en: str
    source_url: str
    docs_url: str
    screenshots: list[str]
    contact_email: str
    maintenance: str
    aliases: list[str]
    tags: list[str]
    cost_estimate_idr: int
    versions: list[Version]
    adopted_by: list[TenantRef]
    can_publish: bool = False


class FacetValue(msgspec.Struct):
    value: str
    label: str
    count: int


class CatalogPage(msgspec.Struct):
    items: list[AppSummary]
    total: int
    page: int
    per_page: int
    facets: dict[str, list[FacetValue]]


class QueueItem(msgspec.Struct):
    app_slug: str
    app_name: str
    publisher: PublisherRef
    version: str
    prerelease: bool
    submitted_by: str
    created_at: datetime
    changelog: str
    new_app: bool


# Free text the database stores: anything but a NUL byte, which PostgreSQL refuses in text.
NO_NUL = r"^[^\x00]*$"


class ReasonBody(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000, pattern=NO_NUL)]


class OptionalReasonBody(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(max_length=2000, pattern=NO_NUL)] = ""


class Category(msgspec.Struct):
    key: str
    label_id: str
    label_en: str
    group: str
