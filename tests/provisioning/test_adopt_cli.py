"""`marketplace publish` and `marketplace adopt` against a live server and the real engine."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import need
from tests.docker_objects import remove_tenant_objects
from tests.live import cli
from tests.provisioning.test_docker_engine import docker_available, docker_client

pytestmark = [pytest.mark.docker, pytest.mark.slow]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "apps" / "aduan-warga"
TENANT = f"kabupaten-paser-cli{uuid.uuid4().hex[:6]}"
PASSWORD = "rahasia-sekali-123"


@pytest.fixture
def engine_objects():
    need(docker_available, "no Docker engine answers")
    yield
    remove_tenant_objects(docker_client, lambda tenant: tenant == TENANT)


def test_publish_then_adopt_from_the_command_line(server, engine_objects) -> None:
    url = server["url"]
    for args in (
        ("create-tenant", "kota-bandung", "--name", "Pemerintah Kota Bandung", "--kind", "kota", "--publishes"),
        ("create-tenant", TENANT, "--name", "Pemerintah Kabupaten Paser", "--kind", "kabupaten"),
        ("create-tenant", "kominfo", "--name", "Kementerian Komunikasi dan Digital", "--kind", "kementerian"),
        ("create-user", "bandung", "--password", PASSWORD, "--tenant", "kota-bandung", "--role", "admin"),
        ("create-user", "op-paser", "--password", PASSWORD, "--tenant", TENANT, "--role", "operator"),
        ("create-user", "kurator", "--password", PASSWORD, "--tenant", "kominfo", "--curator"),
    ):
        result = cli(server, *args)
        assert result.returncode == 0, result.stderr

    def token(user: str, *scopes: str) -> str:
        args = [a for s in scopes for a in ("--scope", s)]
        return cli(server, "create-token", user, "--name", "cli", *args).stdout.strip()

    publisher, curator = token("bandung", "apps:publish"), token("kurator", "catalog:review")
    for version in ("1.1.0", "1.2.0"):
        published = cli(server, "publish", str(EXAMPLES / version), "--url", url, "--token", publisher,
                        "--busybox", "/bin/busybox")
        assert published.returncode == 0, published.stderr
        approved = httpx.post(f"{url}/api/v1/apps/aduan-warga/versions/{version}/approve",
                              headers={"Authorization": f"Bearer {curator}"})
        assert approved.status_code == 200

    operator = token("op-paser", "installations:write", "catalog:read")
    refused = cli(server, "adopt", "aduan-warga", "--tenant", TENANT, "--version", "1.1.0", "--url", url, "--token", operator)
    assert refused.returncode == 1 and "config.NAMA_PEMDA" in refused.stderr

    adopted = cli(server, "adopt", "aduan-warga", "--tenant", TENANT, "--version", "1.1.0", "--url", url,
                  "--token", operator, "--set", "NAMA_PEMDA=Pemerintah Kabupaten Paser", "--set", "TZ=Asia/Makassar")
    assert adopted.returncode == 0, adopted.stderr
    assert "Wait for the health check" in adopted.stderr and "100%" in adopted.stderr
    app_url = adopted.stdout.strip().splitlines()[-1]
    assert httpx.get(app_url + "healthz", timeout=5).text.strip() == "ok"

    def info() -> dict[str, str]:
        listed = httpx.get(f"{url}/api/v1/tenants/{TENANT}/installations",
                           headers={"Authorization": f"Bearer {operator}"}).json()
        return listed[0]

    installation = str(info()["id"])
    server_args = ("--url", url, "--token", operator)
    upgraded = cli(server, "upgrade", installation, "--version", "1.2.0", *server_args)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "Snapshot the data volumes" in upgraded.stderr and "100%" in upgraded.stderr
    assert info()["version.version"] == "1.2.0"

    refused = cli(server, "configure", installation, "--set", "TZ=Europe/Paris", *server_args)
    assert refused.returncode == 1 and "config.TZ" in refused.stderr
    configured = cli(server, "configure", installation, "--set", "TZ=Asia/Jayapura", "--policy", "auto-patch", *server_args)
    assert configured.returncode == 0, configured.stderr
    assert info()["config"]["TZ"] == "Asia/Jayapura" and info()["update_policy"] == "auto-patch"

    rolled = cli(server, "rollback", installation, *server_args)
    assert rolled.returncode == 0, rolled.stderr
    assert info()["version.version"] == "1.1.0"
    again = cli(server, "upgrade", "999999", "--version", "1.2.0", *server_args)
    assert again.returncode == 1 and "404" in again.stderr
