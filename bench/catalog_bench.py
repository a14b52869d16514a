"""Catalog HTTP benchmark: requests per second of the catalog page and the API list
endpoint, each as a ratio of a bare litestar JSON endpoint measured in the same run.

    .venv/bin/python bench/catalog_bench.py [--apps 1000] [--seconds 8] [--connections 16]

Each server is one uvicorn process without access logs; the load comes from `wrk`
(Debian's package, installed when missing) on the same machine. The catalog holds
`--apps` approved apps from 20 publishing regions, indexed by the embedded search.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CATEGORIES = ["perizinan", "pengaduan-publik", "kepegawaian", "penganggaran", "kesehatan", "pendidikan", "kearsipan"]
PROVINCES = ["Jawa Timur", "Jawa Barat", "Jawa Tengah", "Sulawesi Selatan", "Kalimantan Timur", "Sumatera Selatan"]
WORDS = ["layanan", "sistem", "informasi", "daring", "terpadu", "data", "warga", "daerah", "elektronik", "pelaporan"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL)
    return shutil.which("wrk") or "wrk"


async def seed(apps: int) -> dict[str, str]:
    """Fill the catalog directly through the tables; returns a session cookie and a token."""
    from catalog.manifest import validate_manifest
    from catalog.tables import App, AppVersion
    from marketplace.app import build_catalog_service
    from marketplace.db import migrate
    from marketplace.settings import get_settings
    from tenants import identity
    from tenants.tables import Tenant

    await migrate()
    tenants = []
    for i in range(20):
        tenant = Tenant(
            slug=f"kota-bench-{i}", name=f"Pemerintah Kota Bench {i}", kind="kota",
            province=PROVINCES[i % len(PROVINCES)], publishes=True,
        )
        await tenant.save()
        tenants.append(tenant)
    template = {
        "slug": "x", "name": "x", "version": "1.0.0",
        "container": {"port": 8080, "health_check": "/healthz"},
        "resources": {"memory": "64Mi", "cpu": 0.25},
        "catalog": {"category": "perizinan", "summary": "ringkas", "license": "Apache-2.0"},
    }
    now = datetime.now(timezone.utc)
    app_rows, version_rows = [], []
    for i in range(apps):
        words = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(3))
        slug = f"aplikasi-{i:05d}"
        doc = {**template, "slug": slug, "name": f"Aplikasi {words} {i}"}
        doc["catalog"] = {**template["catalog"], "category": CATEGORIES[i % len(CATEGORIES)]}
        manifest = validate_manifest(doc).to_document()
        app_rows.append(App(
            slug=slug, name=doc["name"], summary=f"Ringkasan {words}", description=f"Deskripsi {words} untuk daerah {i}",
            category=doc["catalog"]["category"], publisher=tenants[i % len(tenants)].id, license="Apache-2.0",
            created_at=now, updated_at=now,
        ))
        version_rows.append((slug, manifest))
    await App.insert(*app_rows)
    ids = {r["slug"]: r["id"] for r in await App.select(App.id, App.slug)}
    batch = []
    for slug, manifest in version_rows:
        batch.append(AppVersion(
            app=ids[slug], version="1.0.0", major=1, minor=0, patch=0, manifest=manifest,
            bundle_sha256="0" * 64, status="approved", reviewed_at=now - timedelta(days=len(batch) % 300),
            created_at=now,
        ))
        if len(batch) == 500:
            await AppVersion.insert(*batch)
            batch = []
    if batch:
        await AppVersion.insert(*batch)
    service = build_catalog_service(get_settings())
    await service.reindex()
    await service.search.close()
    user = await identity.create_user("bench-viewer", "bench-password-123")
    await identity.add_membership(user, tenants[0], "viewer")
    session = await identity.start_session(user, ttl_seconds=3600)
    token = await identity.issue_token(user.id, "bench", ["catalog:read"])
    return {"cookie": session, "token": token.secret}


def start(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *args, "--port", str(port), "--no-access-log", "--log-level", "warning"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server {args} did not start")


def load(wrk: str, url: str, headers: dict[str, str], seconds: int, connections: int) -> float:
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for key, value in headers.items():
        cmd += ["-H", f"{key}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise RuntimeError(f"{url}: {non_2xx.group(1)} failed responses under load")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--skip-search", action="store_true", help="skip the search latency part")
    options = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="lumbung-bench-"))
    env = {**os.environ, "LUMBUNG_DATA_DIR": str(workdir), "LUMBUNG_SEARCH": "embedded", "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    os.environ.update({k: env[k] for k in ("LUMBUNG_DATA_DIR", "LUMBUNG_SEARCH")})
    os.environ.pop("DATABASE_URL", None)
    try:
        credentials = asyncio.run(seed(options.apps))
        wrk = ensure_wrk()
        app_port, bare_port = free_port(), free_port()
        servers = [
            start(["marketplace.app:create_app", "--factory"], env, app_port),
            start(["bench.bare_app:app"], env, bare_port),
        ]
        try:
            cookie = {"Cookie": f"lumbung_session={credentials['cookie']}"}
            bearer = {"Authorization": f"Bearer {credentials['token']}"}
            runs = {
                "bare litestar JSON endpoint": (f"http://127.0.0.1:{bare_port}/apps", {}),
                "catalog page /": (f"http://127.0.0.1:{app_port}/", cookie),
                "catalog page /?q=layanan+daring": (f"http://127.0.0.1:{app_port}/?q=layanan+daring", cookie),
                "API GET /api/v1/apps": (f"http://127.0.0.1:{app_port}/api/v1/apps", bearer),
                "API GET /api/v1/apps?q=sistem": (f"http://127.0.0.1:{app_port}/api/v1/apps?q=sistem", bearer),
            }
            for url, headers in runs.values():  # warm up every route once
                assert httpx.get(url, headers=headers).status_code == 200, url
            rps = {name: load(wrk, url, headers, options.seconds, options.connections) for name, (url, headers) in runs.items()}
        finally:
            for process in servers:
                process.terminate()
                process.wait(timeout=10)
        baseline = rps["bare litestar JSON endpoint"]
        print(f"\nCatalog over HTTP ({options.apps} apps, {options.connections} connections, {options.seconds} s each, 1 uvicorn process)")
        print(f"{'endpoint':36} {'req/s':>9} {'ratio to bare':>14}")
        for name, value in rps.items():
            print(f"{name:36} {value:9.0f} {value / baseline:14.2f}")
        page_ratio = rps["catalog page /"] / baseline
        print(f"target: catalog page at 0.5x or more of the bare endpoint: {'met' if page_ratio >= 0.5 else 'NOT met'} ({page_ratio:.2f}x)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    if not options.skip_search:
        import search_bench  # noqa: PLC0415  (bench/search_bench.py)

        search_bench._print(search_bench.run())


if __name__ == "__main__":
    main()
