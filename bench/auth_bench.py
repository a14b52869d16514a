"""Authorization overhead: requests per second of the same handler called anonymously and
signed in (API token; browser session), in one run, plus password sign-ins per second.

    .venv/bin/python bench/auth_bench.py [--seconds 8] [--connections 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from catalog_bench import ensure_wrk, free_port, load, start  # noqa: E402

PASSWORD = "bench-password-123"


async def seed() -> dict[str, str]:
    from marketplace.db import migrate
    from tenants import identity
    from tenants.tables import Tenant

    await migrate()
    tenant = Tenant(slug="kota-bench", name="Pemerintah Kota Bench", kind="kota", publishes=True)
    await tenant.save()
    user = await identity.create_user("bench-user", PASSWORD)
    await identity.add_membership(user, tenant, "operator")
    session = await identity.start_session(user, ttl_seconds=3600)
    token = await identity.issue_token(user.id, "bench", ["catalog:read"])
    return {"cookie": session, "token": token.secret}


def login_rate(wrk: str, url: str, seconds: int, workdir: Path) -> float:
    """POST /login with a right password (CSRF token and cookie taken from the login page)."""
    import httpx

    with httpx.Client() as client:
        page = client.get(f"{url}/login")
        token = page.text.split('name="_csrf_token" value="')[1].split('"')[0]
        cookie = client.cookies.get("lumbung_csrf")
    script = workdir / "login.lua"
    body = f"username=bench-user&password={PASSWORD}&_csrf_token={token}"
    script.write_text(
        'wrk.method = "POST"\n'
        f'wrk.body = "{body}"\n'
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
        f'wrk.headers["Cookie"] = "lumbung_csrf={cookie}"\n'
    )
    out = subprocess.run([wrk, "-t1", "-c4", f"-d{seconds}s", "-s", str(script), f"{url}/login"],
                         capture_output=True, text=True, check=True).stdout
    import re

    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="lumbung-auth-bench-"))
    env = {**os.environ, "LUMBUNG_DATA_DIR": str(workdir), "PYTHONPATH": str(ROOT), "LUMBUNG_LOGIN_RATE": "1000000/minute"}
    env.pop("DATABASE_URL", None)
    os.environ["LUMBUNG_DATA_DIR"] = str(workdir)
    os.environ.pop("DATABASE_URL", None)
    try:
        credentials = asyncio.run(seed())
        wrk = ensure_wrk()
        port = free_port()
        server = start(["marketplace.app:create_app", "--factory"], env, port)
        base = f"http://127.0.0.1:{port}"
        try:
            api_anon = load(wrk, f"{base}/api/v1/health", {}, options.seconds, options.connections)
            api_token = load(wrk, f"{base}/api/v1/health", {"Authorization": f"Bearer {credentials['token']}"},
                             options.seconds, options.connections)
            page_anon = load(wrk, f"{base}/healthz", {}, options.seconds, options.connections)
            page_session = load(wrk, f"{base}/healthz", {"Cookie": f"lumbung_session={credentials['cookie']}"},
                                options.seconds, options.connections)
            sign_ins = login_rate(wrk, base, options.seconds, workdir)
        finally:
            server.terminate()
            server.wait(timeout=10)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nAuthorization overhead ({options.connections} connections, {options.seconds} s each, 1 uvicorn process)")
    print(f"{'call':44} {'req/s':>9} {'ratio':>7}")
    print(f"{'GET /api/v1/health, anonymous':44} {api_anon:9.0f} {1:7.2f}")
    print(f"{'GET /api/v1/health, API token':44} {api_token:9.0f} {api_token / api_anon:7.2f}")
    print(f"{'GET /healthz, anonymous':44} {page_anon:9.0f} {1:7.2f}")
    print(f"{'GET /healthz, session cookie':44} {page_session:9.0f} {page_session / page_anon:7.2f}")
    print(f"{'POST /login (argon2id), 4 connections':44} {sign_ins:9.1f}")


if __name__ == "__main__":
    main()
