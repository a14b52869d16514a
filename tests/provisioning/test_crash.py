"""The marketplace process is killed with SIGKILL in the middle of provisioning; started
again, it finishes the job, and the installation has one container, not two."""

from __future__ import annotations

import re
import shutil
import signal
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import need
from tests.docker_objects import of_installation, remove_tenant_objects
from tests.live import cli, free_port, server_env, start_server
from tests.provisioning.test_docker_engine import docker_available, docker_client

pytestmark = [pytest.mark.docker, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "apps" / "aduan-warga" / "1.2.0"
TENANT = f"kabupaten-oki-kill{uuid.uuid4().hex[:6]}"
PASSWORD = "rahasia-sekali-123"


@pytest.fixture
def engine_objects():
    need(docker_available, "no Docker engine answers")
    yield
    remove_tenant_objects(docker_client, lambda tenant: tenant == TENANT)


def slow_starter(tmp_path: Path) -> Path:
    """aduan-warga 1.2.0, except that the app waits four seconds before it answers."""
    out = tmp_path / "aduan-warga"
    shutil.copytree(EXAMPLE, out)
    dockerfile = out / "Dockerfile"
    text = re.sub(
        r"(?m)^ENTRYPOINT .*$",
        'ENTRYPOINT ["/bin/busybox", "sh", "-c", "sleep 4; exec /bin/busybox httpd -f -v -p 8080 -h /www"]',
        dockerfile.read_text(),
    )
    dockerfile.write_text(text)
    return out


def test_a_job_killed_with_the_server_finishes_after_a_restart(tmp_path, engine_objects) -> None:
    data = tmp_path / "data"
    data.mkdir()
    # A job whose worker stops beating for 3 s is taken over (60 s by default).
    env = server_env(data, free_port(), LUMBUNG_JOB_STALE_SECONDS="3")
    info = {k: env[k] for k in ("LUMBUNG_DATA_DIR", "DATABASE_URL", "LUMBUNG_SEARCH_INDEX")}
    url = f"http://127.0.0.1:{env['LUMBUNG_PORT']}"
    log = data / "server.log"
    process = start_server(env, log)
    try:
        for args in (
            ("create-tenant", "kota-bandung", "--name", "Pemerintah Kota Bandung", "--kind", "kota", "--publishes"),
            ("create-tenant", TENANT, "--name", "Pemerintah Kabupaten Ogan Komering Ilir", "--kind", "kabupaten"),
            ("create-tenant", "kominfo", "--name", "Kementerian Komunikasi dan Digital", "--kind", "kementerian"),
            ("create-user", "bandung", "--password", PASSWORD, "--tenant", "kota-bandung", "--role", "admin"),
            ("create-user", "op-oki", "--password", PASSWORD, "--tenant", TENANT, "--role", "operator"),
            ("create-user", "kurator", "--password", PASSWORD, "--tenant", "kominfo", "--curator"),
        ):
            assert cli(info, *args).returncode == 0

        def token(user: str, *scopes: str) -> dict[str, str]:
            args = [a for s in scopes for a in ("--scope", s)]
            return {"Authorization": f"Bearer {cli(info, 'create-token', user, '--name', 'kill', *args).stdout.strip()}"}

        publisher = token("bandung", "apps:publish")["Authorization"].removeprefix("Bearer ")
        published = cli(info, "publish", str(slow_starter(tmp_path)), "--url", url, "--token", publisher,
                        "--busybox", "/bin/busybox")
        assert published.returncode == 0, published.stderr
        assert httpx.post(f"{url}/api/v1/apps/aduan-warga/versions/1.2.0/approve",
                          headers=token("kurator", "catalog:review")).status_code == 200
        operator = token("op-oki", "installations:write", "catalog:read")
        adopted = httpx.post(f"{url}/api/v1/tenants/{TENANT}/installations", headers=operator, json={
            "app": "aduan-warga", "version": "1.2.0", "config": {"NAMA_PEMDA": "Pemerintah Kabupaten OKI"},
        })
        assert adopted.status_code == 202, adopted.text
        job_url, installation = url + adopted.json()["job_url"], adopted.json()["installation_id"]

        def job() -> dict[str, Any]:
            return httpx.get(job_url, headers=operator, timeout=5).json()

        # Kill the server while it waits for the app's health check: the container exists.
        deadline = time.monotonic() + 120
        while not any(s["key"] == "health" and s["state"] == "running" for s in job()["steps"]):
            assert time.monotonic() < deadline and job()["state"] != "failed", job()
            time.sleep(0.1)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        containers = docker_client.containers.list(all=True, filters=of_installation(installation))
        assert len(containers) == 1

        process = start_server(env, log)
        deadline = time.monotonic() + 120
        while (state := job())["state"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, state
            time.sleep(0.2)
        assert state["state"] == "succeeded", state
        assert [s["state"] for s in state["steps"]] == ["done"] * 6
        containers = docker_client.containers.list(all=True, filters=of_installation(installation))
        assert len(containers) == 1 and containers[0].status == "running"
        assert httpx.get(state["url"] + "healthz", timeout=5).text.strip() == "ok"
        with sqlite3.connect(data / "lumbung.sqlite") as db:
            attempts, claimed_by = db.execute(
                "SELECT attempts, claimed_by FROM provision_job WHERE id = ?", (state["id"],)
            ).fetchone()
        assert attempts == 2 and claimed_by.endswith(f":{process.pid}")  # taken over by the new process
    finally:
        process.terminate()
        process.wait(timeout=10)
