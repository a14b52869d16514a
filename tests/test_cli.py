"""The marketplace CLI against a real running server: accounts, tokens, publish, reindex."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import manifest_doc
from tests.live import cli

pytestmark = pytest.mark.slow


def write_app(directory: Path, doc: dict) -> Path:
    directory.mkdir(parents=True)
    (directory / "lumbung.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    (directory / "Dockerfile").write_text("FROM scratch\nCOPY www/ /www/\n")
    (directory / "CHANGELOG.md").write_text("- Rilis pertama untuk Kota Surabaya\n", encoding="utf-8")
    (directory / "www").mkdir()
    (directory / "www" / "healthz").write_text("ok")
    return directory


def test_publish_from_the_command_line(server: dict[str, str], tmp_path: Path) -> None:
    assert cli(server, "create-tenant", "kota-surabaya", "--name", "Pemerintah Kota Surabaya", "--kind", "kota",
               "--province", "Jawa Timur", "--code", "35.78", "--publishes").returncode == 0
    created = cli(server, "create-user", "surabaya", "--password", "rahasia-sekali-123", "--tenant", "kota-surabaya", "--role", "admin")
    assert created.returncode == 0, created.stderr
    issued = cli(server, "create-token", "surabaya", "--name", "ci", "--scope", "apps:publish", "--scope", "catalog:read")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert token.startswith("lmb_")

    app_dir = write_app(tmp_path / "e-perizinan", manifest_doc())
    published = cli(server, "publish", str(app_dir), "--url", server["url"], "--token", token)
    assert published.returncode == 0, published.stderr
    assert "submitted e-perizinan 1.0.0" in published.stderr
    assert "uploading" in published.stderr  # the progress bar

    detail = httpx.get(f"{server['url']}/api/v1/apps/e-perizinan", headers={"Authorization": f"Bearer {token}"}).json()
    assert detail["versions"][0]["version"] == "1.0.0"
    assert detail["versions"][0]["status"] == "submitted"
    assert detail["versions"][0]["changelog"].startswith("- Rilis pertama")

    again = cli(server, "publish", str(app_dir), "--url", server["url"], "--token", token)
    assert again.returncode == 1 and "409" in again.stderr and "already exists" in again.stderr

    bad_dir = write_app(tmp_path / "broken", manifest_doc(slug="broken", container={"port": 0}))
    broken = cli(server, "publish", str(bad_dir), "--url", server["url"], "--token", token)
    assert broken.returncode == 1 and "container.port" in broken.stderr

    wrong_token = cli(server, "publish", str(app_dir), "--url", server["url"], "--token", "lmb_wrong")
    assert wrong_token.returncode == 1 and "401" in wrong_token.stderr

    assert "indexed 0 apps" in cli(server, "reindex").stderr


def test_cli_input_errors_are_clear(server: dict[str, str], tmp_path: Path) -> None:
    result = cli(server, "create-user", "Bad Name", "--password", "short")
    assert result.returncode == 1 and "username" in result.stderr and "Traceback" not in result.stderr
    result = cli(server, "create-tenant", "x", "--name", "X", "--kind", "kota", "--code", "abc")
    assert result.returncode == 1 and "region_code" in result.stderr
    result = cli(server, "publish", str(tmp_path), "--token", "lmb_x")
    assert result.returncode != 0 and "no lumbung.yaml" in result.stderr


def test_token_lifecycle_through_the_cli(server: dict[str, str]) -> None:
    cli(server, "create-tenant", "kabupaten-paser", "--name", "Pemerintah Kabupaten Paser", "--kind", "kabupaten")
    assert cli(server, "create-user", "paser", "--password", "rahasia-sekali-123", "--tenant", "kabupaten-paser").returncode == 0
    issued = cli(server, "create-token", "paser", "--name", "laptop", "--scope", "catalog:read", "--days", "7")
    token = issued.stdout.strip()
    me = httpx.get(f"{server['url']}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["username"] == "paser"
    revoked = cli(server, "revoke-token", "paser", token[:10])
    assert revoked.returncode == 0, revoked.stderr
    again = httpx.get(f"{server['url']}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 401
    assert cli(server, "revoke-token", "paser", token[:10]).returncode == 1  # nothing left to revoke
    bad_scope = cli(server, "create-token", "paser", "--name", "x", "--scope", "everything")
    assert bad_scope.returncode == 2 and "everything" in bad_scope.stderr
