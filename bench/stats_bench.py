"""Statistics benchmark: Kominfo's dashboard and the stats API over 552 regions, 500 apps and
one million adoption events; latency per request (p50, p95), next to the same server's
/healthz measured in the same run.

    .venv/bin/python bench/stats_bench.py [--events 1000000] [--apps 500] [--requests 100]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/lumbung_stats_bench .venv/bin/python bench/stats_bench.py

The data comes from bench/stats_data.py (into a fresh SQLite file, or into the PostgreSQL
database named by DATABASE_URL, whose public schema is dropped first). The server is one
uvicorn process; requests are sent one after another (latency, not throughput), each
filter taken in turn from a list so that no answer is served twice in a row.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from catalog_bench import free_port, start  # noqa: E402

TARGET_P95_MS = 200.0
PROVINCES = ["Jawa Barat", "Jawa Timur", "Papua Pegunungan", "Sumatera Utara", "Kalimantan Timur", "Aceh"]


async def prepare(apps: int, events: int, postgres: bool) -> dict[str, object]:
    from marketplace.db import engine, migrate
    from stats import projection
    from tenants import identity
    from tenants.tables import Tenant

    import stats_data

    if postgres:
        db = engine()
        await db.run_ddl("DROP SCHEMA public CASCADE")
        await db.run_ddl("CREATE SCHEMA public")
    await migrate()
    began = time.perf_counter()
    made = await stats_data.generate(apps=apps, events=events)
    generated = time.perf_counter() - began
    if postgres:
        await engine().run_ddl("ANALYZE")
    began = time.perf_counter()
    await projection.rebuild()  # the same read model the triggers kept, recomputed once to time it
    rebuilt = time.perf_counter() - began
    staff = await identity.create_user("bench-kominfo", "bench-password-123", is_ministry_staff=True)
    region = await Tenant.select(Tenant.id, Tenant.slug).where(Tenant.slug == "kabupaten-paser").first()
    user = await identity.create_user("bench-paser", "bench-password-123")
    await identity.add_membership(user, await Tenant.objects().where(Tenant.id == region["id"]).first(), "viewer")
    return {
        **made, "generated_s": generated, "rebuilt_s": rebuilt, "region": region["slug"],
        "staff_cookie": await identity.start_session(staff, ttl_seconds=7200),
        "staff_token": (await identity.issue_token(staff.id, "bench", ["stats:read"])).secret,
        "region_token": (await identity.issue_token(user.id, "bench", ["stats:read"])).secret,
    }


def measure(client: httpx.Client, urls: list[str], headers: dict[str, str], requests: int) -> tuple[float, float]:
    for url in urls:  # warm up
        response = client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
    times = []
    for i in range(requests):
        url = urls[i % len(urls)]
        began = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--apps", type=int, default=500)
    parser.add_argument("--requests", type=int, default=100, help="requests per endpoint")
    options = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="lumbung-stats-bench-"))
    postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    env = {**os.environ, "LUMBUNG_DATA_DIR": str(workdir), "PYTHONPATH": str(ROOT), "LUMBUNG_RUN_JOBS": "false"}
    os.environ.update({k: env[k] for k in ("LUMBUNG_DATA_DIR", "LUMBUNG_RUN_JOBS")})
    try:
        facts = asyncio.run(prepare(options.apps, options.events, postgres))
        results = {
            mode: serve_and_measure(facts, {**env, "LUMBUNG_STATS_CACHE": cache}, options.requests)
            for mode, cache in (("computed", "false"), ("kept", "true"))
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(facts, results, options, postgres)


def serve_and_measure(facts: dict[str, object], env: dict[str, str], requests: int) -> dict[str, tuple[float, float]]:
    """Latencies of every endpoint on one server process."""
    port = free_port()
    server = start(["marketplace.app:create_app", "--factory"], env, port)
    try:
        base = f"http://127.0.0.1:{port}"
        page = {"Cookie": f"lumbung_session={facts['staff_cookie']}"}
        api = {"Authorization": f"Bearer {facts['staff_token']}"}
        region_api = {"Authorization": f"Bearer {facts['region_token']}"}
        runs = {
            "baseline GET /healthz": ([f"{base}/healthz"], {}),
            "dashboard /stats": ([f"{base}/stats"], page),
            "dashboard /stats?province=...": ([f"{base}/stats?province={p}" for p in PROVINCES], page),
            "dashboard /stats?from&to&category": (
                [f"{base}/stats?from=2022-01&to=2024-12&category={c}" for c in ("perizinan", "kesehatan", "keuangan")], page),
            "API /api/v1/stats/summary": ([f"{base}/api/v1/stats/summary"], api),
            "API /api/v1/stats/apps": ([f"{base}/api/v1/stats/apps"], api),
            "API /api/v1/stats/provinces": ([f"{base}/api/v1/stats/provinces"], api),
            "API /api/v1/stats/months": ([f"{base}/api/v1/stats/months"], api),
            "API /api/v1/stats/freshness": ([f"{base}/api/v1/stats/freshness"], api),
            "API /api/v1/stats/publishers": ([f"{base}/api/v1/stats/publishers"], api),
            "API /api/v1/stats/regions/{slug}": ([f"{base}/api/v1/stats/regions/{facts['region']}"], api),
            "API /api/v1/stats/apps (a region)": ([f"{base}/api/v1/stats/apps"], region_api),
            "CSV /stats/export/apps": ([f"{base}/stats/export/apps"], page),
        }
        with httpx.Client(timeout=60) as client:
            return {name: measure(client, urls, headers, requests) for name, (urls, headers) in runs.items()}
    finally:
        server.terminate()
        server.wait(timeout=10)


def report(facts: dict[str, object], results: dict[str, dict[str, tuple[float, float]]], options: argparse.Namespace,
           postgres: bool) -> None:
    print(f"\nStatistics over {'PostgreSQL' if postgres else 'SQLite'}: {facts['regions']} regions, {facts['apps']} apps, "
          f"{facts['events']:,} adoption events ({facts['installations']:,} installations)")
    print(f"generated in {facts['generated_s']:.1f} s (bulk inserts through the read-model triggers); "
          f"read model rebuilt from the events in {facts['rebuilt_s']:.1f} s")
    print(f"{options.requests} sequential requests per endpoint, 1 uvicorn process; 'computed': LUMBUNG_STATS_CACHE=false, "
          "every request runs its queries and draws its charts; 'kept': figures kept until the data changes (default)")
    print(f"{'endpoint':40} {'computed p50':>13} {'p95':>7} {'kept p50':>9} {'p95':>7}")
    for name in results["computed"]:
        (c50, c95), (k50, k95) = results["computed"][name], results["kept"][name]
        print(f"{name:40} {c50:13.1f} {c95:7.1f} {k50:9.1f} {k95:7.1f}")
    for mode in ("computed", "kept"):
        worst = max(p95 for name, (_, p95) in results[mode].items() if not name.startswith("baseline"))
        print(f"target ({mode}): p95 under {TARGET_P95_MS:.0f} ms on every statistics request: "
              f"{'met' if worst < TARGET_P95_MS else 'NOT met'} (worst p95 {worst:.1f} ms)")


if __name__ == "__main__":
    main()
