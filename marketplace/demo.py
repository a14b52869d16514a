"""The demo catalog: real regions as tenants, demo accounts, and the sample bundles.

Idempotent: running it again adds only what is missing.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from catalog.bundles import pack_directory
from catalog.services import Submission
from catalog.tables import App, AppVersion
from catalog.versions import parse_version
from marketplace.app import build_catalog_service
from marketplace.db import migrate
from marketplace.settings import ROOT, get_settings
from tenants import identity
from tenants.services import MINISTRY, register_tenant, seed_regions
from tenants.tables import Tenant, User

EXAMPLES = ROOT / "examples"
DEMO_PASSWORD = "lumbung-demo-2026"
BUSYBOX_CANDIDATES = (Path("/bin/busybox"), Path("/usr/bin/busybox"))

KOMINFO = MINISTRY


def find_busybox() -> Path | None:
    """Debian's static busybox, which the sample bundles run on."""
    for candidate in BUSYBOX_CANDIDATES:
        if candidate.is_file():
            return candidate
    found = shutil.which("busybox")
    return Path(found) if found else None


async def ensure_tenant(data: dict[str, Any], *, publishes: bool) -> Tenant:
    existing = await Tenant.objects().where(Tenant.slug == data["slug"]).first()
    if existing is not None:
        if publishes and not existing.publishes:
            existing.publishes = True
            await existing.save([Tenant.publishes])
        return existing
    return await register_tenant(
        data["slug"],
        data["name"],
        data["kind"],
        province=data.get("province") or "",
        region_code=str(data["region_code"]) if data.get("region_code") else None,
        contact_email=data.get("contact_email", ""),
        publishes=publishes,
    )


async def ensure_user(username: str, display_name: str, **roles: bool) -> User:
    user = await User.objects().where(User.username == username).first()
    if user is None:
        user = await identity.create_user(username, DEMO_PASSWORD, display_name=display_name, **roles)
    return user


def _app_publishers(examples: Path) -> dict[str, str]:
    out = {}
    for app_file in sorted((examples / "apps").glob("*/app.yaml")):
        meta = yaml.safe_load(app_file.read_text(encoding="utf-8")) or {}
        out[app_file.parent.name] = meta["publisher"]
    return out


def _version_dirs(app_dir: Path) -> list[Path]:
    dirs = [d for d in app_dir.iterdir() if d.is_dir() and (d / "lumbung.yaml").is_file()]
    return sorted(dirs, key=lambda d: parse_version(d.name))


async def seed(examples: Path | None, console: Console) -> dict[str, int]:
    """Load tenants, demo users and every sample bundle; approve them as a curator would."""
    examples = examples or EXAMPLES
    settings = get_settings()
    await migrate()
    busybox = find_busybox()
    if busybox is None:
        console.print("[yellow]busybox not found: sample bundles will not run (apt-get install busybox-static)[/yellow]")

    await seed_regions()
    publishers = yaml.safe_load((examples / "publishers.yaml").read_text(encoding="utf-8"))
    tenants = {p["slug"]: await ensure_tenant(p, publishes=True) for p in publishers}
    tenants[KOMINFO["slug"]] = await ensure_tenant(KOMINFO, publishes=False)

    users = 0
    for slug, tenant in tenants.items():
        if tenant.kind == "kementerian":
            continue
        short = slug.split("-", 1)[1] if slug.startswith(("kota-", "kabupaten-", "provinsi-")) else slug
        user = await ensure_user(short, f"Tim TI {tenant.name}")
        await identity.add_membership(user, tenant, "admin")
        users += 1
    curator = await ensure_user("kurator", "Kurator Kominfo", is_curator=True)
    await identity.add_membership(curator, tenants[KOMINFO["slug"]], "viewer")
    viewer = await ensure_user("pengamat", "Pengamat Katalog")
    await identity.add_membership(viewer, tenants[KOMINFO["slug"]], "viewer")
    staff = await ensure_user("kominfo", "Staf Kominfo", is_ministry_staff=True)
    await identity.add_membership(staff, tenants[KOMINFO["slug"]], "viewer")
    admin = await ensure_user("admin", "Admin Platform", is_platform_admin=True)
    await identity.add_membership(admin, tenants[KOMINFO["slug"]], "admin")
    users += 4

    service = build_catalog_service(settings)
    curator_principal = await identity.principal_for_user(curator.id)
    added = 0
    app_publishers = _app_publishers(examples)
    work: list[tuple[str, Path]] = []
    for app_slug, publisher in app_publishers.items():
        for version_dir in _version_dirs(examples / "apps" / app_slug):
            work.append((publisher, version_dir))
    try:
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
        ) as progress, tempfile.TemporaryDirectory(prefix="lumbung-seed-") as tmp:
            task = progress.add_task("sample apps", total=len(work))
            for index, (publisher, version_dir) in enumerate(work):
                app_slug, version = version_dir.parent.name, version_dir.name
                progress.update(task, description=f"{app_slug} {version}")
                if not await _version_exists(app_slug, version):
                    await _publish_sample(
                        service, publisher, version_dir, Path(tmp), busybox, curator_principal, index, len(work)
                    )
                    added += 1
                progress.advance(task)
        await service.reindex()
    finally:
        await service.search.close()
    total = await AppVersion.count()
    return {"tenants": await Tenant.count(), "users": users, "versions_added": added, "versions_total": total}


async def _version_exists(app_slug: str, version: str) -> bool:
    app = await App.select(App.id).where(App.slug == app_slug).first()
    if app is None:
        return False
    return await AppVersion.exists().where((AppVersion.app == app["id"]) & (AppVersion.version == version))


async def _publish_sample(
    service: Any,
    publisher: str,
    version_dir: Path,
    tmp: Path,
    busybox: Path | None,
    curator: Any,
    index: int,
    total: int,
) -> None:
    owner = await User.objects().where(
        User.username == (publisher.split("-", 1)[1] if "-" in publisher else publisher)
    ).first()
    principal = await identity.principal_for_user(owner.id)
    app_slug, version = version_dir.parent.name, version_dir.name
    bundle = tmp / f"{app_slug}-{version}.tar.gz"
    pack_directory(version_dir, bundle, extra_files={"bin/busybox": busybox} if busybox else {})
    changelog_file = version_dir / "CHANGELOG.md"
    changelog = changelog_file.read_text(encoding="utf-8") if changelog_file.is_file() else ""
    await service.submit_version(
        principal,
        Submission(version=version, changelog=changelog, bundle_path=bundle, app_slug=app_slug),
    )
    await service.approve(curator, app_slug, version)
    # Spread the history over the past months so "newest" and dates look like a real catalog.
    when = datetime.now(timezone.utc) - timedelta(days=(total - index) * 9)
    app = await App.select(App.id).where(App.slug == app_slug).first()
    await AppVersion.update({AppVersion.created_at: when - timedelta(days=2), AppVersion.reviewed_at: when}).where(
        (AppVersion.app == app["id"]) & (AppVersion.version == version)
    )
    bundle.unlink(missing_ok=True)
