"""An installation's life after adoption, on the real engine: upgrade with the data kept,
automatic rollback of a broken version, manual rollback, configuration changes, update
policies, data export, and retention after removal.
"""

from __future__ import annotations

import io
import re
import shutil
import tarfile
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from catalog.bundles import pack_directory
from catalog.services import Submission
from provisioning.engine import LABEL_VERSION, container_name
from provisioning.reconciler import Reconciler
from provisioning.tables import AdoptionEvent, Installation, ProvisionJob
from tenants.tables import AuditEntry
from tests.conftest import bearer, make_tenant, make_user, need, principal, token_for
from tests.docker_objects import of_installation, remove_tenant_objects
from tests.provisioning.test_docker_engine import docker_available, docker_client

pytestmark = [pytest.mark.docker, pytest.mark.db]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "apps" / "aduan-warga"
RUN = uuid.uuid4().hex[:6]
CONFIG = {"NAMA_PEMDA": "Pemerintah Kabupaten Tuban", "TZ": "Asia/Jakarta"}


@pytest.fixture(autouse=True)
def engine_available() -> Any:
    need(docker_available, "no Docker engine answers")
    yield
    remove_tenant_objects(docker_client, lambda tenant: tenant.endswith(RUN))


def version_dir(tmp_path: Path, version: str, *, healthy: bool = True) -> Path:
    """aduan-warga 1.2.0 relabelled as `version`; an unhealthy one has no /healthz."""
    out = tmp_path / f"aduan-warga-{version}"
    shutil.copytree(EXAMPLES / "1.2.0", out)
    manifest = out / "lumbung.yaml"
    text = re.sub(r"(?m)^version: .*$", f"version: {version}", manifest.read_text())
    if not healthy:
        (out / "www" / "healthz").unlink()
        text = text.replace("timeout_seconds: 30", "timeout_seconds: 3")
    manifest.write_text(text)
    return out


class World:
    def __init__(self, client: httpx.AsyncClient, tmp_path: Path):
        self.client = client
        self.tmp_path = tmp_path
        self.catalog = client.app.state.catalog  # type: ignore[attr-defined]

    async def build(self) -> World:
        bandung = await make_tenant("kota-bandung", "Pemerintah Kota Bandung", "Jawa Barat")
        self.tuban = await make_tenant(f"kabupaten-tuban-{RUN}", "Pemerintah Kabupaten Tuban", "Jawa Timur",
                                       kind="kabupaten")
        self.oki = await make_tenant(f"kabupaten-oki-{RUN}", "Pemerintah Kabupaten Ogan Komering Ilir",
                                     "Sumatera Selatan", kind="kabupaten")
        kominfo = await make_tenant("kominfo", "Kementerian Komunikasi dan Digital", "", publishes=False,
                                    kind="kementerian")
        self.publisher = await principal(await make_user("bandung", bandung, "admin"))
        self.curator = await principal(await make_user("kurator", kominfo, "viewer", is_curator=True))
        operator = await make_user("op-tuban", self.tuban, "operator")
        viewer = await make_user("lihat-tuban", self.tuban, "viewer")
        oki_admin = await make_user("admin-oki", self.oki, "admin")
        self.token = await token_for(operator, "installations:write", "catalog:read")
        self.viewer = await token_for(viewer, "catalog:read")
        self.other = await token_for(oki_admin, "installations:write", "catalog:read")
        for version in ("1.1.0", "1.2.0"):
            await self.publish(EXAMPLES / version, version)
        return self

    async def publish(self, directory: Path, version: str, *, approve: bool = True) -> None:
        bundle = self.tmp_path / f"{version}.tar.gz"
        pack_directory(directory, bundle, extra_files={"bin/busybox": Path("/bin/busybox")})
        await self.catalog.submit_version(
            self.publisher, Submission(version=version, changelog="", bundle_path=bundle, app_slug="aduan-warga")
        )
        if approve:
            await self.catalog.approve(self.curator, "aduan-warga", version)

    async def wait(self, job_url: str, timeout: float = 90) -> dict[str, Any]:
        import asyncio

        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            job = (await self.client.get(job_url, headers=bearer(self.token))).json()
            if job["state"] in ("succeeded", "failed") or asyncio.get_running_loop().time() > deadline:
                return job
            await asyncio.sleep(0.2)

    async def adopt(self, version: str = "1.1.0", **body: Any) -> int:
        response = await self.client.post(
            f"/api/v1/tenants/{self.tuban.slug}/installations", headers=bearer(self.token),
            json={"app": "aduan-warga", "version": version, "config": CONFIG, **body},
        )
        assert response.status_code == 202, response.text
        assert (await self.wait(response.json()["job_url"]))["state"] == "succeeded"
        return response.json()["installation_id"]

    async def post(self, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        return await self.client.post(f"/api/v1{path}", headers=bearer(token or self.token), **kwargs)

    async def installation(self, installation_id: int) -> dict[str, Any]:
        return await Installation.select(
            Installation.all_columns(), Installation.version.version.as_alias("version_string"),
            Installation.previous_version.version.as_alias("previous"),
        ).where(Installation.id == installation_id).output(load_json=True).first()


def write(installation_id: int, name: str, text: str) -> None:
    """Write a file into the app's data volume from inside its container (as the app's user)."""
    result = docker_client.containers.get(container_name(installation_id)).exec_run(
        ["/bin/busybox", "sh", "-c", 'printf "%s" "$1" > "/data/$0"', name, text]
    )
    assert result.exit_code == 0, result.output


def files(installation_id: int) -> dict[str, str]:
    """The app's data files as it sees them."""
    container = docker_client.containers.get(container_name(installation_id))
    names = container.exec_run(["/bin/busybox", "ls", "/data"]).output.decode().split()
    return {n: container.exec_run(["/bin/busybox", "cat", f"/data/{n}"]).output.decode() for n in names}


def running_version(installation_id: int) -> str:
    container = docker_client.containers.get(container_name(installation_id))
    assert container.status == "running"
    return container.labels[LABEL_VERSION]


async def events(installation_id: int) -> list[tuple[str, str, str]]:
    rows = await AdoptionEvent.select(AdoptionEvent.kind, AdoptionEvent.from_version, AdoptionEvent.to_version).where(
        AdoptionEvent.installation == installation_id
    ).order_by(AdoptionEvent.id)
    return [(r["kind"], r["from_version"], r["to_version"]) for r in rows]


@pytest.fixture
async def world(jobs_client, tmp_path) -> World:
    return await World(jobs_client, tmp_path).build()


async def test_upgrade_keeps_the_data_and_a_rollback_restores_data_and_version(world):
    installation = await world.adopt("1.1.0")
    write(installation, "aduan-1.txt", "jalan rusak di Jl. Basuki Rahmat")

    response = await world.post(f"/installations/{installation}/upgrade", json={"version": "1.2.0"})
    assert response.status_code == 202, response.text
    job = await world.wait(response.json()["job_url"])
    assert job["state"] == "succeeded", job
    assert [s["key"] for s in job["steps"]] == ["image", "stop", "snapshot", "replace", "health", "publish"]
    assert running_version(installation) == "1.2.0"
    assert files(installation)["aduan-1.txt"] == "jalan rusak di Jl. Basuki Rahmat"
    row = await world.installation(installation)
    assert row["version_string"] == "1.2.0" and row["previous"] == "1.1.0" and Path(row["snapshot"]).is_file()
    async with httpx.AsyncClient(timeout=5, trust_env=False) as http:
        assert "Aduan Warga 1.2.0" in (await http.get(row["url"] + "cgi-bin/info")).text

    # Data written after the upgrade is replaced by the snapshot when rolling back, and is
    # itself snapshotted first, so rolling "back" again returns to it.
    write(installation, "aduan-2.txt", "lampu jalan mati")
    job = await world.wait((await world.post(f"/installations/{installation}/rollback")).json()["job_url"])
    assert job["state"] == "succeeded", job
    assert running_version(installation) == "1.1.0"
    assert files(installation) == {"README.txt": files(installation)["README.txt"],
                                   "aduan-1.txt": "jalan rusak di Jl. Basuki Rahmat"}
    row = await world.installation(installation)
    assert row["version_string"] == "1.1.0" and row["previous"] == "1.2.0"
    job = await world.wait((await world.post(f"/installations/{installation}/rollback")).json()["job_url"])
    assert job["state"] == "succeeded", job
    assert running_version(installation) == "1.2.0" and files(installation)["aduan-2.txt"] == "lampu jalan mati"
    # One snapshot is kept per installation: the one a rollback would return to.
    row = await world.installation(installation)
    assert [p.name for p in Path(row["snapshot"]).parent.iterdir()] == [Path(row["snapshot"]).name]

    assert await events(installation) == [
        ("adopted", "", "1.1.0"), ("upgraded", "1.1.0", "1.2.0"), ("rolled_back", "1.2.0", "1.1.0"),
        ("rolled_back", "1.1.0", "1.2.0"),
    ]
    actions = [r["action"] for r in await AuditEntry.select(AuditEntry.action).order_by(AuditEntry.id)]
    assert actions.count("installation.upgrade") == 1 and actions.count("installation.rollback") == 2
    assert len(docker_client.containers.list(all=True, filters=of_installation(installation))) == 1


async def test_a_version_that_fails_its_health_check_rolls_back_by_itself(world):
    installation = await world.adopt("1.2.0", update_policy="auto-minor")
    write(installation, "aduan-1.txt", "banjir di Kecamatan Plumpang")
    before = await world.installation(installation)

    # Approving a broken 1.3.0 upgrades the auto-minor installation at once, and the
    # failed upgrade puts 1.2.0 back with its data.
    await world.publish(version_dir(world.tmp_path, "1.3.0", healthy=False), "1.3.0")
    job = await ProvisionJob.select().where(
        (ProvisionJob.installation == installation) & (ProvisionJob.kind == "upgrade")
    ).first()
    assert job is not None and job["created_by"] is None  # queued by the update policy
    job = await world.wait(f"/api/v1/jobs/{job['id']}")
    assert job["state"] == "failed"
    assert "health check" in job["error"] and "1.2.0 runs again" in job["error"]
    assert [(s["key"], s["state"]) for s in job["steps"]][-3:] == [
        ("health", "failed"), ("publish", "pending"), ("recover", "done"),
    ]
    assert running_version(installation) == "1.2.0"
    assert files(installation)["aduan-1.txt"] == "banjir di Kecamatan Plumpang"
    after = await world.installation(installation)
    assert after["version_string"] == "1.2.0" and after["skipped_version"] == "1.3.0"
    assert after["observed_state"] == "running" and after["image_id"] == before["image_id"]
    params = (await ProvisionJob.select(ProvisionJob.params).where(ProvisionJob.id == job["id"])
              .output(load_json=True).first())["params"]
    assert params["snapshot"] and not Path(params["snapshot"]).exists()  # the failed upgrade's copy went with it
    async with httpx.AsyncClient(timeout=5, trust_env=False) as http:
        assert (await http.get(after["url"] + "healthz")).status_code == 200
    assert (await events(installation))[-1] == ("rolled_back", "1.3.0", "1.2.0")

    # The policy does not try the failed version again; a fixed 1.3.1 goes through.
    service = world.client.app.state.provisioning
    assert await service.apply_update_policies() == []
    await world.publish(version_dir(world.tmp_path, "1.3.1"), "1.3.1")
    job = await ProvisionJob.select().where(ProvisionJob.installation == installation).order_by(
        ProvisionJob.id, ascending=False
    ).first()
    assert (await world.wait(f"/api/v1/jobs/{job['id']}"))["state"] == "succeeded"
    assert running_version(installation) == "1.3.1"
    assert files(installation)["aduan-1.txt"] == "banjir di Kecamatan Plumpang"


async def test_update_policies_choose_what_they_allow_and_others_see_an_update_badge(world):
    pinned = await world.adopt("1.1.0")
    service = world.client.app.state.provisioning
    await world.publish(version_dir(world.tmp_path, "2.0.0"), "2.0.0")
    await world.publish(version_dir(world.tmp_path, "1.2.1-rc.1"), "1.2.1-rc.1")
    assert not await ProvisionJob.exists().where(ProvisionJob.kind == "upgrade")

    listed = (await world.client.get(f"/api/v1/tenants/{world.tuban.slug}/installations",
                                     headers=bearer(world.token))).json()
    assert listed[0]["newer_versions"] == ["2.0.0", "1.2.0"]  # no prereleases
    page = await world.client.get(f"/tenants/{world.tuban.slug}/installations", headers=bearer(world.token))
    assert page.status_code == 200

    # auto-patch: 1.1.0 has no newer patch; auto-minor: 1.2.0, never the next major.
    response = await world.client.patch(f"/api/v1/installations/{pinned}", headers=bearer(world.token),
                                        json={"update_policy": "auto-patch"})
    assert response.status_code == 200 and response.json() == {"update_policy": "auto-patch"}
    assert not await ProvisionJob.exists().where(ProvisionJob.kind == "upgrade")
    response = await world.client.patch(f"/api/v1/installations/{pinned}", headers=bearer(world.token),
                                        json={"update_policy": "auto-minor"})
    job = await ProvisionJob.select().where(ProvisionJob.kind == "upgrade").first()
    assert job is not None and job["params"]
    assert (await world.wait(f"/api/v1/jobs/{job['id']}"))["state"] == "succeeded"
    assert running_version(pinned) == "1.2.0"
    assert await service.apply_update_policies() == []  # a second pass changes nothing

    bad = await world.client.patch(f"/api/v1/installations/{pinned}", headers=bearer(world.token),
                                   json={"update_policy": "always"})
    assert bad.status_code == 422


async def test_a_configuration_change_recreates_the_container_and_a_bad_one_changes_nothing(world):
    installation = await world.adopt("1.2.0")
    write(installation, "aduan-1.txt", "sampah menumpuk")
    before = await world.installation(installation)
    url = f"/api/v1/installations/{installation}"

    refused = await world.client.patch(url, headers=bearer(world.token), json={"config": {"TZ": "Europe/Paris"}})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "config.TZ"
    refused = await world.client.patch(url, headers=bearer(world.token), json={"config": {"APP_KEY": "mine"}})
    assert refused.status_code == 422
    refused = await world.client.patch(url, headers=bearer(world.token), json={"config": {"NOPE": "x"}})
    assert refused.status_code == 422
    assert not await ProvisionJob.exists().where(ProvisionJob.kind == "reconfigure")

    response = await world.client.patch(url, headers=bearer(world.token), json={
        "config": {"TZ": "Asia/Makassar", "TENGGAT_HARI_KERJA": "7", "LAPOR_API_TOKEN": "rahasia-lapor"},
    })
    assert response.status_code == 202, response.text
    assert (await world.wait(response.json()["job_url"]))["state"] == "succeeded"
    after = await world.installation(installation)
    assert after["container_id"] != before["container_id"]
    env = dict(e.split("=", 1) for e in docker_client.containers.get(container_name(installation)).attrs["Config"]["Env"])
    assert env["TZ"] == "Asia/Makassar" and env["TENGGAT_HARI_KERJA"] == "7" and env["LAPOR_API_TOKEN"] == "rahasia-lapor"
    assert env["NAMA_PEMDA"] == CONFIG["NAMA_PEMDA"]
    cipher = world.client.app.state.provisioning.cipher
    # The generated secret is kept (encrypted afresh).
    assert env["APP_KEY"] == cipher.decrypt(before["config"]["APP_KEY"]["secret"])
    assert set(after["config"]["LAPOR_API_TOKEN"]) == {"secret"}
    assert files(installation)["aduan-1.txt"] == "sampah menumpuk"

    # An empty secret keeps the stored one.
    response = await world.client.patch(url, headers=bearer(world.token), json={"config": {"LAPOR_API_TOKEN": ""}})
    assert (await world.wait(response.json()["job_url"]))["state"] == "succeeded"
    env = dict(e.split("=", 1) for e in docker_client.containers.get(container_name(installation)).attrs["Config"]["Env"])
    assert env["LAPOR_API_TOKEN"] == "rahasia-lapor"


async def test_upgrade_and_rollback_refuse_what_cannot_be_done(world):
    installation = await world.adopt("1.1.0")
    base = f"/installations/{installation}"
    assert (await world.post(f"{base}/rollback")).status_code == 409  # nothing to return to
    assert (await world.post(f"{base}/upgrade", json={"version": "1.1.0"})).status_code == 409
    assert (await world.post(f"{base}/upgrade", json={"version": "9.9.9"})).status_code == 404
    assert (await world.post(f"{base}/upgrade", json={"version": "satu"})).status_code == 422
    assert (await world.post(f"{base}/upgrade", json={"version": "1.2.0", "extra": 1})).status_code == 422
    await world.catalog.yank(world.curator, "aduan-warga", "1.2.0", "bocor data")
    assert (await world.post(f"{base}/upgrade", json={"version": "1.2.0"})).status_code == 409
    await world.publish(version_dir(world.tmp_path, "1.4.0"), "1.4.0", approve=False)
    assert (await world.post(f"{base}/upgrade", json={"version": "1.4.0"})).status_code == 404
    # Other tenants and viewers cannot touch it.
    assert (await world.post(f"{base}/upgrade", world.other, json={"version": "1.4.0"})).status_code == 404
    assert (await world.post(f"{base}/rollback", world.other)).status_code == 404
    assert (await world.post(f"{base}/upgrade", world.viewer, json={"version": "1.4.0"})).status_code == 403
    assert (await world.client.get(f"/api/v1{base}/data.tar", headers=bearer(world.other))).status_code == 404
    assert not await ProvisionJob.exists().where(ProvisionJob.kind.is_in(["upgrade", "rollback"]))
    assert running_version(installation) == "1.1.0"


async def test_data_is_exported_and_kept_for_the_retention_period_then_purged(world):
    installation = await world.adopt("1.2.0")
    write(installation, "aduan-1.txt", "trotoar rusak")

    def members(body: bytes) -> dict[str, bytes]:
        with tarfile.open(fileobj=io.BytesIO(body)) as tar:
            return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}

    response = await world.client.get(f"/api/v1/installations/{installation}/data.tar", headers=bearer(world.token))
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-tar"
    assert "attachment" in response.headers["content-disposition"]
    assert members(response.content)["data/aduan-1.txt"] == b"trotoar rusak"

    job = await world.wait((await world.post(f"/installations/{installation}/deprovision")).json()["job_url"])
    assert job["state"] == "succeeded"
    assert not docker_client.containers.list(all=True, filters={"name": container_name(installation)})
    # During retention the data can still be downloaded.
    response = await world.client.get(f"/api/v1/installations/{installation}/data.tar", headers=bearer(world.token))
    assert members(response.content)["data/aduan-1.txt"] == b"trotoar rusak"

    app_state = world.client.app.state
    reconciler = Reconciler(app_state.provisioning.engine)
    assert (await reconciler.run_once()).expired == []  # not yet due
    await Installation.update(
        {Installation.retain_until: datetime.now(timezone.utc) - timedelta(minutes=1)}
    ).where(Installation.id == installation)
    report = await reconciler.run_once()
    assert report.expired == [installation]
    assert (await reconciler.run_once()).expired == []  # the purge job is under way, not doubled
    job = await ProvisionJob.select().where(ProvisionJob.kind == "purge").first()
    assert (await world.wait(f"/api/v1/jobs/{job['id']}"))["state"] == "succeeded"
    assert not docker_client.volumes.list(filters=of_installation(installation))
    row = await world.installation(installation)
    assert row["observed_state"] == "purged" and row["retain_until"] is None
    response = await world.client.get(f"/api/v1/installations/{installation}/data.tar", headers=bearer(world.token))
    assert response.status_code == 409


async def test_the_installations_page_upgrades_rolls_back_and_changes_settings(world):
    from tests.pages import csrf_token, login

    installation = await world.adopt("1.1.0")
    client = world.client
    await login(client, "op-tuban")
    listing = await client.get(f"/tenants/{world.tuban.slug}/installations")
    assert f'id="update-{installation}"' in listing.text and "Pembaruan tersedia: 1.2.0" in listing.text
    assert f'id="rollback-{installation}"' not in listing.text  # nothing to return to yet

    token = await csrf_token(client, f"/tenants/{world.tuban.slug}/installations")
    upgraded = await client.post(f"/installations/{installation}/upgrade", data={"_csrf_token": token, "version": "1.2.0"})
    assert upgraded.status_code == 200 and "/jobs/" in str(upgraded.url)
    assert "Menyalin volume data" in upgraded.text  # the steps are shown, in Indonesian
    job = await world.wait(f"/api/v1/jobs/{str(upgraded.url).rsplit('/', 1)[1]}")
    assert job["state"] == "succeeded"
    listing = await client.get(f"/tenants/{world.tuban.slug}/installations")
    assert f'id="update-{installation}"' not in listing.text and "Kembalikan ke 1.1.0" in listing.text

    settings = await client.get(f"/installations/{installation}/settings")
    assert settings.status_code == 200 and 'value="Asia/Jakarta"' in settings.text
    assert 'name="config.APP_KEY"' not in settings.text  # generated: shown, never editable
    token = await csrf_token(client, f"/installations/{installation}/settings")
    refused = await client.post(f"/installations/{installation}/settings", data={
        "_csrf_token": token, "update_policy": "pinned", "config.NAMA_PEMDA": "x", "config.TZ": "Asia/Jakarta"})
    assert refused.status_code == 422 and 'id="err-NAMA_PEMDA"' in refused.text
    changed = await client.post(f"/installations/{installation}/settings", data={
        "_csrf_token": token, "update_policy": "auto-patch", "config.NAMA_PEMDA": CONFIG["NAMA_PEMDA"],
        "config.TZ": "Asia/Jayapura", "config.TENGGAT_HARI_KERJA": "5"})
    assert changed.status_code == 200 and "/jobs/" in str(changed.url)
    assert (await world.wait(f"/api/v1/jobs/{str(changed.url).rsplit('/', 1)[1]}"))["state"] == "succeeded"
    row = await world.installation(installation)
    assert row["config"]["TZ"] == {"value": "Asia/Jayapura"} and row["update_policy"] == "auto-patch"

    download = await client.get(f"/installations/{installation}/data.tar")
    assert download.status_code == 200 and download.headers["content-type"] == "application/x-tar"

    token = await csrf_token(client, f"/tenants/{world.tuban.slug}/installations")
    rolled = await client.post(f"/installations/{installation}/rollback", data={"_csrf_token": token})
    assert (await world.wait(f"/api/v1/jobs/{str(rolled.url).rsplit('/', 1)[1]}"))["state"] == "succeeded"
    assert running_version(installation) == "1.1.0"
