"""Shared fixtures: a fresh database per test run (SQLite by default, PostgreSQL when
DATABASE_URL says so), an app client, users in tenants, and bundle builders."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

_TMP = Path(tempfile.mkdtemp(prefix="lumbung-tests-"))
os.environ["LUMBUNG_DATA_DIR"] = str(_TMP / "data")
os.environ.setdefault("LUMBUNG_SECRET_KEY", "test-secret-key-that-is-long-enough-0123456789")
os.environ["LUMBUNG_SEARCH"] = "embedded"
os.environ["LUMBUNG_MAX_BUNDLE_BYTES"] = str(5 * 1024 * 1024)
# Provisioning jobs stay queued unless a test asks for a worker (the `jobs_client` fixture).
os.environ["LUMBUNG_RUN_JOBS"] = "false"
# Docker objects of this run carry a name of their own: runs sharing an engine (and a
# marketplace on it) never see or touch each other's containers, networks and volumes.
os.environ["LUMBUNG_INSTANCE"] = f"t{secrets.token_hex(4)}"

import httpx  # noqa: E402
from asgi_lifespan import LifespanManager  # noqa: E402

import marketplace  # noqa: E402,F401
from catalog.bundles import pack_directory  # noqa: E402
from catalog.tables import App, AppVersion  # noqa: E402
from marketplace.db import engine, migrate  # noqa: E402
from marketplace.settings import get_settings  # noqa: E402
from provisioning.tables import AdoptionEvent, Installation, ProvisionJob  # noqa: E402
from stats.tables import StatsInstallation  # noqa: E402
from tenants import identity  # noqa: E402
from tenants.tables import ApiToken, AuditEntry, Membership, Session, Tenant, User  # noqa: E402

pytest_plugins = ["tests.live"]  # the live-server fixture for CLI and browser tests

IN_CI = os.environ.get("CI", "").lower() == "true"

# argon2id stays argon2id in tests, at a cost that lets hundreds of accounts be made per
# run; the production parameters are the library's defaults (tenants/passwords.py).
import argon2  # noqa: E402

import tenants.passwords  # noqa: E402

tenants.passwords._hasher = argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct-horse-battery"
ALL_TABLES = [
    StatsInstallation, AuditEntry, AdoptionEvent, ProvisionJob, Installation, AppVersion, App, ApiToken, Session,
    Membership, User, Tenant,
]


def need(condition: bool, reason: str) -> None:
    """Skip when a real part is missing here, but fail in CI where it must exist."""
    if not condition:
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: a missing service is a failure)")
        pytest.skip(reason)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_TMP, ignore_errors=True)


@pytest.fixture(scope="session")
async def database() -> AsyncIterator[None]:
    settings = get_settings()
    db = engine()
    if settings.is_postgres:
        try:
            await db.run_ddl("DROP SCHEMA public CASCADE")
        except OSError as exc:  # pragma: no cover - depends on the machine
            need(False, f"PostgreSQL is unreachable at {settings.database_url}: {exc}")
        await db.run_ddl("CREATE SCHEMA public")
    await migrate()
    yield


async def empty_database() -> None:
    """Delete every row and the search index."""
    for table in ALL_TABLES:
        await table.delete(force=True)
    index = get_settings().search_index_path
    for suffix in ("", "-wal", "-shm"):
        Path(str(index) + suffix).unlink(missing_ok=True)


@pytest.fixture
async def db(database: None) -> AsyncIterator[None]:
    """An empty database for each test, and an empty search index."""
    await empty_database()
    yield


@pytest.fixture
async def client(db: None) -> AsyncIterator[httpx.AsyncClient]:
    """The app in this event loop (so database connections are shared), with its lifespan."""
    async for test_client in _app_client(get_settings()):
        yield test_client


@pytest.fixture
async def jobs_client(db: None) -> AsyncIterator[httpx.AsyncClient]:
    """Like `client`, with the provisioning worker running jobs on the real engine."""
    import dataclasses

    async for test_client in _app_client(dataclasses.replace(get_settings(), run_jobs=True)):
        yield test_client


async def _app_client(settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    from marketplace.app import create_app

    app = create_app(settings)
    # The plain app, not manager.app: that wrapper shares one scope["state"] dict between
    # requests, where the framework keeps per-request state.
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver.local", follow_redirects=True
        ) as test_client:
            test_client.app = app  # type: ignore[attr-defined]
            yield test_client


@pytest.fixture
def catalog_service(client: httpx.AsyncClient) -> Any:
    return client.app.state.catalog  # type: ignore[attr-defined]


# -- people and tenants ----------------------------------------------------------------


async def make_tenant(slug: str, name: str, province: str, *, publishes: bool = True, kind: str = "kota") -> Tenant:
    tenant = Tenant(slug=slug, name=name, kind=kind, province=province, publishes=publishes)
    await tenant.save()
    return tenant


async def make_user(username: str, tenant: Tenant | None = None, role: str = "admin", **flags: bool) -> User:
    user = await identity.create_user(username, PASSWORD, display_name=username.title(), **flags)
    if tenant is not None:
        await identity.add_membership(user, tenant, role)
    return user


@pytest.fixture
async def world(db: None) -> dict[str, Any]:
    """Two publishing cities, a curator at the ministry and a plain viewer."""
    surabaya = await make_tenant("kota-surabaya", "Pemerintah Kota Surabaya", "Jawa Timur")
    bandung = await make_tenant("kota-bandung", "Pemerintah Kota Bandung", "Jawa Barat")
    paser = await make_tenant("kabupaten-paser", "Pemerintah Kabupaten Paser", "Kalimantan Timur", publishes=False, kind="kabupaten")
    kominfo = await make_tenant("kominfo", "Kementerian Komunikasi dan Digital", "", publishes=False, kind="kementerian")
    return {
        "surabaya": surabaya,
        "bandung": bandung,
        "paser": paser,
        "kominfo": kominfo,
        "publisher": await make_user("surabaya", surabaya, "admin"),
        "operator": await make_user("op-surabaya", surabaya, "operator"),
        "sby_viewer": await make_user("viewer-surabaya", surabaya, "viewer"),
        "other_publisher": await make_user("bandung", bandung, "admin"),
        "curator": await make_user("kurator", kominfo, "viewer", is_curator=True),
        "viewer": await make_user("paser", paser, "operator"),
    }


async def principal(user: User) -> Any:
    return await identity.principal_for_user(user.id)


async def token_for(user: User, *scopes: str) -> str:
    issued = await identity.issue_token(user.id, "test", list(scopes or ("catalog:read",)))
    return issued.secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


# -- bundles ---------------------------------------------------------------------------


def manifest_doc(slug: str = "e-perizinan", version: str = "1.0.0", **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "slug": slug,
        "name": overrides.pop("name", "E-Perizinan"),
        "version": version,
        "container": {"port": 8080, "health_check": "/healthz"},
        "env": [
            {"name": "APP_TITLE", "label": "Judul", "default": "Layanan Perizinan"},
            {"name": "SESSION_SECRET", "secret": True, "generate": True},
        ],
        "volumes": [{"path": "/data"}],
        "resources": {"memory": "64Mi", "cpu": 0.25},
        "writable_paths": ["/tmp"],
        "catalog": {
            "category": "perizinan",
            "summary": {"id": "Layanan perizinan daring", "en": "Online licensing"},
            "description": {"id": "Permohonan **izin** usaha secara daring.", "en": "Apply for business permits online."},
            "aliases": ["perijinan", "SSW"],
            "license": "Apache-2.0",
            "cost_estimate_idr": 750_000_000,
        },
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            doc[key] = {**doc[key], **value}
        else:
            doc[key] = value
    return doc


def write_bundle(
    directory: Path, name: str, doc: dict[str, Any] | None = None, *, dockerfile: bool = True, raw_manifest: str | None = None
) -> Path:
    """Write a bundle's source for a manifest under `directory` and pack it; returns the .tar.gz path."""
    source = directory / f"bundle-src-{name}"
    (source / "www").mkdir(parents=True)
    manifest_text = raw_manifest if raw_manifest is not None else yaml.safe_dump(doc or manifest_doc(), sort_keys=False)
    (source / "lumbung.yaml").write_text(manifest_text, encoding="utf-8")
    if dockerfile:
        (source / "Dockerfile").write_text("FROM scratch\nCOPY www/ /www/\n")
    (source / "www" / "healthz").write_text("ok")
    (source / "www" / "index.html").write_text(f"<h1>{name}</h1>")
    out = directory / f"bundle-{name}.tar.gz"
    pack_directory(source, out)
    return out


@pytest.fixture
def make_bundle(tmp_path: Path) -> Callable[..., Path]:
    """Write a bundle directory for a manifest and pack it; returns the .tar.gz path."""
    counter = {"n": 0}

    def build(doc: dict[str, Any] | None = None, *, dockerfile: bool = True, raw_manifest: str | None = None) -> Path:
        counter["n"] += 1
        return write_bundle(tmp_path, str(counter["n"]), doc, dockerfile=dockerfile, raw_manifest=raw_manifest)

    return build
