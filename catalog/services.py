"""Catalog services: submitting versions, reviewing them, browsing and searching.

Both the JSON API and the web pages call these, so their rules cannot drift apart.
Visibility is decided here: an app is public once it has a listed version; before that
only its publisher's members and curators see it, and everyone else gets NotFound.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from piccolo.query.functions.aggregate import Count

from catalog import schemas
from catalog.bundles import BundleError, BundleInfo, BundleLimits, BundleStore, inspect_bundle
from catalog.categories import CATEGORIES, category_label
from catalog.manifest import Manifest, ManifestError, load_manifest
from catalog.markdown import MAX_MARKDOWN_CHARS, markdown_to_text
from catalog.search import SearchBackend, SearchDocument, SearchQuery, SearchResult, validate_query
from catalog.tables import App, AppVersion
from catalog.versions import InvalidVersion, is_listed, latest, parse_version, sort_versions
from marketplace.db import is_unique_violation, transaction
from marketplace.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from provisioning.tables import Installation
from tenants import audit
from tenants.principal import Principal
from tenants.tables import Tenant

log = logging.getLogger(__name__)

MAX_PER_PAGE = 100
ACTION_EVENTS = {"approve": "approved", "reject": "rejected", "yank": "yanked", "unyank": "unyanked"}
SUMMARY_COLUMNS = (
    App.id, App.slug, App.name, App.name_en, App.summary, App.summary_en, App.category, App.license,
    App.latest_version, App.development_status, App.updated_at,
)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Submission:
    """A bundle upload, already spooled to a temporary file by the caller."""

    version: str
    changelog: str
    bundle_path: Path
    app_slug: str | None = None  # None: the app the manifest names (web form)
    tenant_slug: str | None = None


class CatalogService:
    """The catalog's rules, over the database, the bundle store and the search index."""

    def __init__(self, *, search: SearchBackend, store: BundleStore, limits: BundleLimits):
        self.search = search
        self.store = store
        self.limits = limits
        # Called with the app's id when one of its versions becomes adoptable (approved or
        # unyanked): provisioning applies installations' update policies.
        self.version_listeners: list[Callable[[int], Awaitable[Any]]] = []

    # -- publishing -------------------------------------------------------------------

    async def submit_version(self, principal: Principal, submission: Submission) -> schemas.Version:
        """Validate a bundle and record it as a submitted version awaiting review.

        Raises ValidationFailed (with field errors), PermissionDenied, NotFound or Conflict;
        nothing is stored unless the whole submission is accepted.
        """
        if not principal.is_publisher:
            raise PermissionDenied("only admins and operators of a publishing tenant can submit apps")
        errors: list[dict[str, str]] = []
        try:
            parse_version(submission.version)
        except InvalidVersion as exc:
            errors.append({"field": "version", "message": str(exc)})
        if len(submission.changelog or "") > MAX_MARKDOWN_CHARS:
            errors.append({"field": "changelog", "message": f"at most {MAX_MARKDOWN_CHARS} characters"})
        if "\x00" in (submission.changelog or ""):
            errors.append({"field": "changelog", "message": "may not contain NUL"})
        try:
            info = await asyncio.to_thread(inspect_bundle, submission.bundle_path, self.limits)
        except BundleError as exc:
            errors.append({"field": "bundle", "message": str(exc)})
            raise ValidationFailed("the bundle was not accepted", errors=errors) from None
        try:
            manifest = load_manifest(info.manifest_bytes)
        except ManifestError as exc:
            errors.extend({"field": f"manifest.{e['field']}", "message": e["message"]} for e in exc.errors)
            raise ValidationFailed("lumbung.yaml is not valid", errors=errors) from None
        if submission.app_slug is not None and manifest.slug != submission.app_slug:
            errors.append(
                {"field": "manifest.slug", "message": f"is {manifest.slug!r} but the app is {submission.app_slug!r}"}
            )
        if not errors and manifest.version != submission.version:
            errors.append(
                {
                    "field": "manifest.version",
                    "message": f"is {manifest.version!r} but the submitted version is {submission.version!r}",
                }
            )
        if errors:
            raise ValidationFailed("the submission is not valid", errors=errors)

        app = await App.objects().where(App.slug == manifest.slug).first()
        if app is not None:
            if not principal.can_publish_for(app.publisher):
                if await self._visible(principal, app):
                    raise PermissionDenied("this app is published by another tenant")
                raise Conflict(f"the app slug {manifest.slug!r} is taken")
            publisher_id = app.publisher
        else:
            publisher_id = self._choose_publisher(principal, submission.tenant_slug)
            if isinstance(publisher_id, str):
                tenant = await Tenant.select(Tenant.id).where(Tenant.slug == publisher_id).first()
                if tenant is None or not principal.can_publish_for(tenant["id"]):
                    raise ValidationFailed(
                        "you cannot publish for that tenant",
                        errors=[{"field": "tenant", "message": "not one of your publishing tenants"}],
                    )
                publisher_id = tenant["id"]

        if app is not None and await AppVersion.exists().where(
            (AppVersion.app == app.id) & (AppVersion.version == manifest.version)
        ):
            raise Conflict(f"version {manifest.version} of {manifest.slug} already exists")

        new_app = app is None
        stored_before = await asyncio.to_thread(self.store.exists, info.sha256)
        await asyncio.to_thread(self.store.put, submission.bundle_path, info.sha256)
        try:
            async with transaction():
                if app is None:
                    app = App(publisher=publisher_id, created_at=_utcnow(), **self._app_fields(manifest))
                    await app.save()
                row = self._version_row(app.id, manifest, info, submission.changelog, principal.user_id)
                await row.save()
        except Exception as exc:
            if not stored_before:
                await self._forget_bundle(info.sha256)
            if is_unique_violation(exc):
                raise Conflict(f"version {manifest.version} of {manifest.slug} already exists") from None
            raise
        where = {"actor": principal, "tenant_id": publisher_id, "subject_tenant_id": publisher_id}
        if new_app:
            await audit.record("app.submitted", object_type="app", object_id=manifest.slug, **where)
        await audit.record(
            "version.submitted", object_type="app_version", object_id=f"{manifest.slug}@{manifest.version}",
            detail={"sha256": info.sha256, "size": info.size}, **where,
        )
        await self.sync_search([manifest.slug])
        return self._version_schema(row, manifest.slug)

    def _choose_publisher(self, principal: Principal, tenant_slug: str | None) -> int | str:
        tenants = principal.publishing_tenants
        if tenant_slug:
            return tenant_slug
        if len(tenants) == 1:
            return tenants[0].tenant_id
        raise ValidationFailed(
            "choose the tenant that publishes this app",
            errors=[{"field": "tenant", "message": "you publish for several tenants: choose one"}],
        )

    async def _forget_bundle(self, sha256: str) -> None:
        if not await AppVersion.exists().where(AppVersion.bundle_sha256 == sha256):
            await asyncio.to_thread(self.store.delete, sha256)

    @staticmethod
    def _app_fields(manifest: Manifest) -> dict[str, Any]:
        meta = manifest.catalog
        return {
            "slug": manifest.slug,
            "name": manifest.name,
            "name_en": meta.name_en,
            "summary": meta.summary.id,
            "summary_en": meta.summary.en,
            "description": meta.description.id if meta.description else "",
            "description_en": meta.description.en if meta.description else "",
            "category": meta.category,
            "license": meta.license,
            "source_url": meta.source_url or "",
            "docs_url": meta.docs_url or "",
            "screenshots": list(meta.screenshots),
            "contact_email": next((c.email for c in meta.maintenance.contacts if c.email), ""),
            "maintenance": meta.maintenance.type,
            "development_status": meta.development_status,
            "cost_estimate_idr": meta.cost_estimate_idr,
            "aliases": list(meta.aliases),
            "tags": list(meta.tags),
            "updated_at": _utcnow(),
        }

    @staticmethod
    def _version_row(app_id: int, manifest: Manifest, info: BundleInfo, changelog: str, user_id: int) -> AppVersion:
        parsed = manifest.semver
        return AppVersion(
            app=app_id,
            version=manifest.version,
            major=parsed.major,
            minor=parsed.minor,
            patch=parsed.patch,
            prerelease=parsed.prerelease or "",
            changelog=changelog or "",
            manifest=manifest.to_document(),
            bundle_sha256=info.sha256,
            bundle_size=info.size,
            bundle_kind=info.kind,
            status="submitted",
            security_fixes=manifest.catalog.security_fixes,
            submitted_by=user_id,
            created_at=_utcnow(),
        )

    # -- review -----------------------------------------------------------------------

    async def review_queue(self, principal: Principal) -> list[schemas.QueueItem]:
        self._require_curator(principal)
        rows = await AppVersion.select(
            AppVersion.all_columns(exclude=[AppVersion.manifest]),
            AppVersion.app.slug,
            AppVersion.app.name,
            AppVersion.app.publisher.slug,
            AppVersion.app.publisher.name,
            AppVersion.app.publisher.province,
            AppVersion.submitted_by.username,
        ).where(AppVersion.status == "submitted").order_by(AppVersion.created_at)
        approved_apps = {
            r["app"]
            for r in await AppVersion.select(AppVersion.app).where(AppVersion.status == "approved")
        }
        return [
            schemas.QueueItem(
                app_slug=r["app.slug"],
                app_name=r["app.name"],
                publisher=schemas.PublisherRef(
                    slug=r["app.publisher.slug"], name=r["app.publisher.name"], province=r["app.publisher.province"]
                ),
                version=r["version"],
                prerelease=bool(r["prerelease"]),
                submitted_by=r["submitted_by.username"] or "",
                created_at=_aware(r["created_at"]),
                changelog=r["changelog"],
                new_app=r["app"] not in approved_apps,
            )
            for r in rows
        ]

    async def approve(self, principal: Principal, slug: str, version: str) -> schemas.Version:
        """Approve a submitted version; it becomes listed and adoptable."""
        return await self._review(principal, slug, version, "approve")

    async def reject(self, principal: Principal, slug: str, version: str, reason: str) -> schemas.Version:
        """Reject a submitted version; a reason is required and shown to the publisher."""
        return await self._review(principal, slug, version, "reject", reason)

    async def yank(self, principal: Principal, slug: str, version: str, reason: str = "") -> schemas.Version:
        """Yank an approved version: installations keep it, new adoptions cannot pick it."""
        return await self._review(principal, slug, version, "yank", reason)

    async def unyank(self, principal: Principal, slug: str, version: str) -> schemas.Version:
        return await self._review(principal, slug, version, "unyank")

    async def _review(
        self, principal: Principal, slug: str, version: str, action: str, reason: str = ""
    ) -> schemas.Version:
        self._require_curator(principal)
        reason = (reason or "").strip()
        if action == "reject" and not reason:
            raise ValidationFailed(
                "a rejection needs a reason", errors=[{"field": "reason", "message": "say why it is rejected"}]
            )
        if len(reason) > 2000:
            raise ValidationFailed("reason too long", errors=[{"field": "reason", "message": "at most 2000 characters"}])
        async with transaction():
            row = await self._version_for_update(slug, version)
            if action in ("approve", "reject"):
                if row.status != "submitted":
                    raise Conflict(f"version {version} is already {row.status}")
                if row.submitted_by == principal.user_id and action == "approve":
                    raise PermissionDenied("a curator cannot approve a version they submitted")
                row.status = "approved" if action == "approve" else "rejected"
                row.rejection_reason = reason if action == "reject" else ""
                row.reviewed_by = principal.user_id
                row.reviewed_at = _utcnow()
                await row.save(
                    [AppVersion.status, AppVersion.rejection_reason, AppVersion.reviewed_by, AppVersion.reviewed_at]
                )
            elif action == "yank":
                if row.status != "approved":
                    raise Conflict("only approved versions can be yanked")
                if row.yanked:
                    raise Conflict(f"version {version} is already yanked")
                row.yanked, row.yank_reason, row.yanked_at = True, reason, _utcnow()
                await row.save([AppVersion.yanked, AppVersion.yank_reason, AppVersion.yanked_at])
            else:
                if not row.yanked:
                    raise Conflict(f"version {version} is not yanked")
                row.yanked, row.yank_reason, row.yanked_at = False, "", None
                await row.save([AppVersion.yanked, AppVersion.yank_reason, AppVersion.yanked_at])
            await self._refresh_app_metadata(row.app)
            publisher = await App.select(App.publisher).where(App.id == row.app).first()
            await audit.record(
                f"version.{ACTION_EVENTS[action]}",
                actor=principal,
                subject_tenant_id=publisher["publisher"],
                object_type="app_version",
                object_id=f"{slug}@{version}",
                detail={"reason": reason} if reason else {},
            )
        await self.sync_search([slug])
        if action in ("approve", "unyank"):
            for listener in self.version_listeners:
                try:
                    await listener(row.app)
                except Exception:  # noqa: BLE001  (the review stands; the reconciler retries)
                    log.exception("a listener for %s@%s failed", slug, version)
        return self._version_schema(row, slug)

    async def _version_for_update(self, slug: str, version: str) -> AppVersion:
        app = await App.select(App.id).where(App.slug == slug).first()
        if app is None:
            raise NotFound("no such app")
        row = await AppVersion.objects().output(load_json=True).where((AppVersion.app == app["id"]) & (AppVersion.version == version)).first()
        if row is None:
            raise NotFound("no such version")
        return row

    async def _refresh_app_metadata(self, app_id: int) -> None:
        """The app's catalog text follows its latest listed version's manifest."""
        versions = await AppVersion.objects().output(load_json=True).where(AppVersion.app == app_id)
        current = latest(versions)
        if current is None:
            await App.update({App.latest_version: ""}).where(App.id == app_id)
            return
        fields = self._app_fields(load_manifest_document(current.manifest))
        fields.pop("slug")
        fields["latest_version"] = current.version
        await App.update({getattr(App, k): v for k, v in fields.items()}).where(App.id == app_id)

    @staticmethod
    def _require_curator(principal: Principal) -> None:
        if not principal.can_review:
            raise PermissionDenied("only curators review versions")

    # -- browsing ---------------------------------------------------------------------

    async def browse(
        self,
        query: SearchQuery,
        *,
        locale: str = "id",
    ) -> schemas.CatalogPage:
        """Search the listed apps, with facets and a page of summaries."""
        try:
            validate_query(query)
        except ValueError as exc:
            raise ValidationFailed(str(exc), errors=[{"field": "query", "message": str(exc)}]) from None
        result: SearchResult = await self.search.search(query)
        summaries = await self._summaries(result.slugs)
        per_page = query.limit
        return schemas.CatalogPage(
            items=[summaries[s] for s in result.slugs if s in summaries],
            total=result.total,
            page=query.offset // per_page + 1,
            per_page=per_page,
            facets=await self._facet_values(result.facets, locale),
        )

    async def _facet_values(self, facets: dict[str, dict[str, int]], locale: str) -> dict[str, list[schemas.FacetValue]]:
        publisher_slugs = list(facets.get("publisher", {}))
        names = {}
        if publisher_slugs:
            names = {
                r["slug"]: r["name"]
                for r in await Tenant.select(Tenant.slug, Tenant.name).where(Tenant.slug.is_in(publisher_slugs))
            }
        out: dict[str, list[schemas.FacetValue]] = {}
        for facet, counts in facets.items():
            values = []
            for value, count in counts.items():
                if facet == "category":
                    label = category_label(value, locale)
                elif facet == "publisher":
                    label = names.get(value, value)
                else:
                    label = value
                values.append(schemas.FacetValue(value=value, label=label, count=count))
            values.sort(key=lambda v: (-v.count, v.label.lower()))
            out[facet] = values
        return out

    async def _summaries(self, slugs: Sequence[str]) -> dict[str, schemas.AppSummary]:
        if not slugs:
            return {}
        apps = await App.select(
            *SUMMARY_COLUMNS,
            App.publisher.slug,
            App.publisher.name,
            App.publisher.province,
        ).where(App.slug.is_in(list(slugs)))
        adoptions = await self._adoption_counts([a["id"] for a in apps])
        return {
            a["slug"]: self._summary(a, a["latest_version"] or None, adoptions.get(a["id"], 0)) for a in apps
        }

    @staticmethod
    def _summary(a: dict[str, Any], latest_version: str | None, adoptions: int) -> schemas.AppSummary:
        return schemas.AppSummary(
            slug=a["slug"],
            name=a["name"],
            name_en=a["name_en"],
            summary=a["summary"],
            summary_en=a["summary_en"],
            category=a["category"],
            publisher=schemas.PublisherRef(
                slug=a["publisher.slug"], name=a["publisher.name"], province=a["publisher.province"]
            ),
            license=a["license"],
            latest_version=latest_version,
            adoptions=adoptions,
            development_status=a["development_status"],
            updated_at=_aware(a["updated_at"]),
        )

    @staticmethod
    async def _adoption_counts(app_ids: Sequence[int]) -> dict[int, int]:
        if not app_ids:
            return {}
        rows = await Installation.select(Installation.app, Count(Installation.id, alias="n")).where(
            Installation.app.is_in(list(app_ids)) & (Installation.desired_state != "removed")
        ).group_by(Installation.app)
        return {r["app"]: r["n"] for r in rows}

    async def app_detail(
        self, principal: Principal | None, slug: str, *, include_prereleases: bool = False
    ) -> schemas.App:
        """One app with its versions and adopters. Publishers and curators also see
        versions under review, rejected and yanked; others see what is listed."""
        a = await App.select(
            App.all_columns(), App.publisher.slug, App.publisher.name, App.publisher.province
        ).where(App.slug == slug).output(load_json=True).first()
        if a is None:
            raise NotFound("no such app")
        versions = await AppVersion.objects().output(load_json=True).where(AppVersion.app == a["id"])
        insider = principal is not None and (
            principal.can_review or principal.role_in(a["publisher"]) in ("admin", "operator", "viewer")
        )
        if not insider and not any(is_listed(v, include_prereleases=True) for v in versions):
            raise NotFound("no such app")
        # Insiders see every version with its review state; others see what is listed.
        shown = [v for v in sort_versions(versions) if insider or is_listed(v, include_prereleases=include_prereleases)]
        current = latest(versions)
        adoptions = await self._adoption_counts([a["id"]])
        summary = self._summary(a, current.version if current else None, adoptions.get(a["id"], 0))
        return schemas.App(
            **{f: getattr(summary, f) for f in summary.__struct_fields__},
            description=a["description"],
            description_en=a["description_en"],
            source_url=a["source_url"],
            docs_url=a["docs_url"],
            screenshots=list(a["screenshots"] or []),
            contact_email=a["contact_email"],
            maintenance=a["maintenance"],
            aliases=list(a["aliases"] or []),
            tags=list(a["tags"] or []),
            cost_estimate_idr=a["cost_estimate_idr"],
            versions=[self._version_schema(v, a["slug"]) for v in shown],
            adopted_by=await self.adopters(a["id"]),
            can_publish=principal is not None and principal.can_publish_for(a["publisher"]),
        )

    async def version_detail(self, principal: Principal | None, slug: str, version: str) -> schemas.Version:
        detail = await self.app_detail(principal, slug, include_prereleases=True)
        for v in detail.versions:
            if v.version == version:
                return v
        raise NotFound("no such version")

    @staticmethod
    async def adopters(app_id: int) -> list[schemas.TenantRef]:
        rows = await Installation.select(
            Installation.tenant.slug,
            Installation.tenant.name,
            Installation.tenant.kind,
            Installation.tenant.province,
        ).where((Installation.app == app_id) & (Installation.desired_state != "removed"))
        seen: dict[str, schemas.TenantRef] = {}
        for r in rows:
            seen.setdefault(
                r["tenant.slug"],
                schemas.TenantRef(
                    slug=r["tenant.slug"], name=r["tenant.name"], kind=r["tenant.kind"], province=r["tenant.province"]
                ),
            )
        return sorted(seen.values(), key=lambda t: t.name)

    async def _visible(self, principal: Principal | None, app: App) -> bool:
        try:
            await self.app_detail(principal, app.slug)
        except NotFound:
            return False
        return True

    async def publisher_apps(self, principal: Principal) -> list[dict[str, Any]]:
        """Every app of the principal's publishing tenants, with each version's review state."""
        tenant_ids = [t.tenant_id for t in principal.memberships]
        if not tenant_ids:
            return []
        apps = await App.select(App.id, App.slug, App.name, App.publisher.name).where(
            App.publisher.is_in(tenant_ids)
        ).order_by(App.name)
        ids = [a["id"] for a in apps] or [0]
        versions = await AppVersion.objects().output(load_json=True).where(AppVersion.app.is_in(ids))
        # The fleet: which regions run which version of each app.
        fleet = await Installation.select(
            Installation.app, Installation.tenant.name, Installation.tenant.province, Installation.version.version,
            Installation.observed_state,
        ).where(Installation.app.is_in(ids) & (Installation.desired_state != "removed")).order_by(Installation.tenant.name)
        out = []
        for a in apps:
            mine = sort_versions([v for v in versions if v.app == a["id"]])
            out.append({
                **a,
                "versions": [self._version_schema(v, a["slug"]) for v in mine],
                "fleet": [f for f in fleet if f["app"] == a["id"]],
            })
        return out

    # -- the search index -------------------------------------------------------------

    async def sync_search(self, slugs: Sequence[str]) -> None:
        """Bring the index in line with the database for these apps."""
        upserts, deletes = [], []
        for slug in slugs:
            doc = await self.search_document(slug)
            if doc is None:
                deletes.append(slug)
            else:
                upserts.append(doc)
        if upserts:
            await self.search.upsert(upserts)
        if deletes:
            await self.search.delete(deletes)

    async def search_document(self, slug: str) -> SearchDocument | None:
        docs = await self._search_documents(App.slug == slug)
        return docs[0] if docs else None

    async def _search_documents(self, where: Any | None = None) -> list[SearchDocument]:
        query = App.select(
            App.all_columns(), App.publisher.slug, App.publisher.name, App.publisher.province
        ).output(load_json=True)
        if where is not None:
            query = query.where(where)
        apps = await query
        if not apps:
            return []
        ids = [a["id"] for a in apps]
        versions = await AppVersion.objects().output(load_json=True).where(AppVersion.app.is_in(ids))
        by_app: dict[int, list[AppVersion]] = {}
        for v in versions:
            by_app.setdefault(v.app, []).append(v)
        counts = await self._adoption_counts(ids)
        docs = []
        for a in apps:
            current = latest(by_app.get(a["id"], []))
            if current is None:
                continue
            reviewed = _aware(current.reviewed_at) or _aware(current.created_at) or _utcnow()
            docs.append(
                SearchDocument(
                    slug=a["slug"],
                    name=a["name"],
                    name_en=a["name_en"],
                    summary=a["summary"],
                    summary_en=a["summary_en"],
                    description=" ".join(
                        p for p in (markdown_to_text(a["description"]), markdown_to_text(a["description_en"])) if p
                    ),
                    aliases=tuple(a["aliases"] or ()),
                    tags=tuple(a["tags"] or ()),
                    category=a["category"],
                    publisher=a["publisher.slug"],
                    publisher_name=a["publisher.name"],
                    province=a["publisher.province"],
                    license=a["license"],
                    adoptions=counts.get(a["id"], 0),
                    published_at=reviewed.timestamp(),
                )
            )
        return docs

    async def reindex(self, *, clear: bool = False) -> int:
        """Bring the whole search index in line with the database; returns the apps indexed.

        Listed apps are written over their old entries and unlisted ones removed, so searches
        keep working during a reindex. `clear` empties the index first (for an index that
        may hold apps the database no longer has).
        """
        docs = await self._search_documents()
        if clear:
            await self.search.clear()
        for start in range(0, len(docs), 1000):
            await self.search.upsert(docs[start : start + 1000])
        listed = {d.slug for d in docs}
        unlisted = [r["slug"] for r in await App.select(App.slug) if r["slug"] not in listed]
        if unlisted:
            await self.search.delete(unlisted)
        return len(docs)

    # -- shaping ----------------------------------------------------------------------

    @staticmethod
    def _version_schema(v: AppVersion, app_slug: str) -> schemas.Version:
        return schemas.Version(
            app_slug=app_slug,
            version=v.version,
            status=v.status,
            yanked=bool(v.yanked),
            prerelease=bool(v.prerelease),
            changelog=v.changelog,
            security_fixes=bool(v.security_fixes),
            bundle_sha256=v.bundle_sha256,
            bundle_size=v.bundle_size,
            bundle_kind=v.bundle_kind,
            created_at=_aware(v.created_at),
            reviewed_at=_aware(v.reviewed_at),
            rejection_reason=v.rejection_reason,
            yank_reason=v.yank_reason,
            requirements=requirements_from(v.manifest),
        )


def load_manifest_document(document: dict[str, Any]) -> Manifest:
    """A stored (already validated and normalised) manifest back as a Manifest."""
    return Manifest.model_validate(document)


def requirements_from(document: dict[str, Any]) -> schemas.Requirements:
    manifest = load_manifest_document(document)
    return schemas.Requirements(
        memory_bytes=manifest.resources.memory,
        cpu=manifest.resources.cpu,
        min_memory_bytes=manifest.resources.min_memory,
        min_cpu=manifest.resources.min_cpu,
        port=manifest.container.port,
        health_check_path=manifest.container.health_check.path,
        env=[
            schemas.EnvRequirement(
                name=e.name,
                label=e.label or e.name,
                description=e.description,
                required=e.required,
                secret=e.secret or e.generate,
                generate=e.generate,
                default=e.default,
                pattern=e.pattern,
            )
            for e in manifest.env
        ],
        volumes=[v.path for v in manifest.volumes],
        capabilities=list(manifest.capabilities),
        writable_paths=list(manifest.writable_paths),
        min_lumbung_version=manifest.compatibility.lumbung,
    )


def categories() -> list[schemas.Category]:
    return [schemas.Category(key=k, label_id=v[0], label_en=v[1], group=v[2]) for k, v in CATEGORIES.items()]

