"""Adopting an app through the API: the job provisions a real container on the real engine.

Tenants get per-run slugs, so the Docker objects of this module never meet another run's.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from catalog.bundles import pack_directory
from catalog.services import Submission
from provisioning.engine import container_name
from provisioning.tables import AdoptionEvent, Installation
from tenants.tables import Tenant
from tests.conftest import bearer, make_tenant, make_user, need, principal, token_for
from tests.docker_objects import of_installation, remove_tenant_objects
from tests.provisioning.test_docker_engine import docker_available, docker_client

pytestmark = [pytest.mark.docker, pytest.mark.db]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "apps" / "aduan-warga" / "1.2.0"
RUN = uuid.uuid4().hex[:6]
CONFIG = {"NAMA_PEMDA": "Pemerintah Kabupaten Paser", "TZ": "Asia/Makassar"}


@pytest.fixture(autouse=True)
def engine_available() -> Any:
    need(docker_available, "no Docker engine answers")
    yield
    remove_tenant_objects(docker_client, lambda tenant: tenant.endswith(RUN))


@pytest.fixture
async def setup(jobs_client, tmp_path) -> dict[str, Any]:
    return await _setup(jobs_client, tmp_path)


@pytest.fixture
async def quiet_setup(client, tmp_path) -> dict[str, Any]:
    """The same world, on an app without a worker: jobs wait until a test runs them."""
    return await _setup(client, tmp_path)


async def _setup(app_client, tmp_path) -> dict[str, Any]:
    catalog_service = app_client.app.state.catalog
    bandung = await make_tenant("kota-bandung", "Pemerintah Kota Bandung", "Jawa Barat")
    paser = await make_tenant(f"kabupaten-paser-{RUN}", "Pemerintah Kabupaten Paser", "Kalimantan Timur", kind="kabupaten")
    oki = await make_tenant(f"kabupaten-oki-{RUN}", "Pemerintah Kabupaten Ogan Komering Ilir", "Sumatera Selatan", kind="kabupaten")
    kominfo = await make_tenant("kominfo", "Kementerian Komunikasi dan Digital", "", publishes=False, kind="kementerian")
    publisher = await make_user("bandung", bandung, "admin")
    curator = await make_user("kurator", kominfo, "viewer", is_curator=True)
    operator = await make_user("op-paser", paser, "operator")
    oki_admin = await make_user("admin-oki", oki, "admin")
    bundle = tmp_path / "aduan-warga.tar.gz"
    pack_directory(EXAMPLE, bundle, extra_files={"bin/busybox": Path("/bin/busybox")})
    await catalog_service.submit_version(
        await principal(publisher), Submission(version="1.2.0", changelog="", bundle_path=bundle, app_slug="aduan-warga")
    )
    await catalog_service.approve(await principal(curator), "aduan-warga", "1.2.0")
    return {
        "paser": paser, "oki": oki,
        "operator": await token_for(operator, "installations:write", "catalog:read"),
        "oki_admin": await token_for(oki_admin, "installations:write", "catalog:read"),
    }


async def adopt(client, token: str, tenant: str, **body: Any) -> httpx.Response:
    payload = {"app": "aduan-warga", "version": "1.2.0", "config": CONFIG, **body}
    return await client.post(f"/api/v1/tenants/{tenant}/installations", headers=bearer(token), json=payload)


async def wait_for(client, token: str, job_url: str, timeout: float = 60) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        job = (await client.get(job_url, headers=bearer(token))).json()
        if job["state"] in ("succeeded", "failed") or asyncio.get_running_loop().time() > deadline:
            return job
        await asyncio.sleep(0.2)


async def test_an_operator_adopts_and_the_app_runs_at_its_url(jobs_client, setup):
    client = jobs_client
    tenant = setup["paser"].slug
    response = await adopt(client, setup["operator"], tenant)
    assert response.status_code == 202, response.text
    job = await wait_for(client, setup["operator"], response.json()["job_url"])
    assert job["state"] == "succeeded", job
    assert [s["state"] for s in job["steps"]] == ["done"] * 6 and job["progress"] == 100
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await http.get(job["url"] + "healthz")).text.strip() == "ok"
        info = (await http.get(job["url"] + "cgi-bin/info")).text
    assert "Pemerintah Kabupaten Paser" in info

    stored = await Installation.select(Installation.config).where(Installation.id == response.json()["installation_id"]).output(load_json=True).first()
    assert set(stored["config"]["APP_KEY"]) == {"secret"}  # generated, and encrypted at rest
    listed = (await client.get(f"/api/v1/tenants/{tenant}/installations", headers=bearer(setup["operator"]))).json()
    assert listed[0]["config"]["APP_KEY"] == "••••••" and listed[0]["observed_state"] == "running"
    events = await AdoptionEvent.select(AdoptionEvent.kind, AdoptionEvent.to_version)
    assert events == [{"kind": "adopted", "to_version": "1.2.0"}]

    # The app page now lists the region among its adopters.
    app = (await client.get("/api/v1/apps/aduan-warga", headers=bearer(setup["operator"]))).json()
    assert [t["slug"] for t in app["adopted_by"]] == [tenant] and app["adoptions"] == 1

    again = await adopt(client, setup["operator"], tenant)
    assert again.status_code == 409  # one installation of an app per tenant


async def test_other_tenants_cannot_see_or_adopt_for_a_tenant(jobs_client, setup):
    client = jobs_client
    response = await adopt(client, setup["operator"], setup["paser"].slug)
    job_url = response.json()["job_url"]
    assert (await client.get(job_url, headers=bearer(setup["oki_admin"]))).status_code == 404
    assert (await adopt(client, setup["oki_admin"], setup["paser"].slug)).status_code == 404
    listed = await client.get(f"/api/v1/tenants/{setup['paser'].slug}/installations", headers=bearer(setup["oki_admin"]))
    assert listed.status_code == 404
    await wait_for(client, setup["operator"], job_url)


async def test_bad_adoptions_are_refused_before_anything_is_created(jobs_client, setup):
    client, catalog_service = jobs_client, jobs_client.app.state.catalog
    tenant = setup["paser"].slug
    missing = await adopt(client, setup["operator"], tenant, config={"TZ": "Europe/Berlin", "NOPE": "x", "APP_KEY": "mine"})
    assert missing.status_code == 422
    fields = {e["field"] for e in missing.json()["errors"]}
    assert fields == {"config.NAMA_PEMDA", "config.TZ", "config.NOPE", "config.APP_KEY"}
    assert (await adopt(client, setup["operator"], tenant, version="9.9.9")).status_code == 404
    assert (await adopt(client, setup["operator"], tenant, version="v1")).status_code == 422
    read_only = await token_for(await _user("op-paser"), "catalog:read")
    assert (await adopt(client, read_only, tenant)).status_code == 403

    await Tenant.update({Tenant.max_installations: 0, Tenant.max_memory_bytes: 16 * 1024 * 1024}).where(Tenant.slug == tenant)
    assert (await adopt(client, setup["operator"], tenant)).status_code == 409  # memory quota

    await Tenant.update({Tenant.max_memory_bytes: 0}).where(Tenant.slug == tenant)
    curator = await principal(await _user("kurator"))
    await catalog_service.yank(curator, "aduan-warga", "1.2.0", "data loss")
    yanked = await adopt(client, setup["operator"], tenant)
    assert yanked.status_code == 409 and "yanked" in yanked.json()["message"]
    assert await Installation.count() == 0


async def _user(username: str) -> Any:
    from tenants.tables import User

    return await User.objects().where(User.username == username).first()


async def test_operate_stop_start_logs_and_remove(jobs_client, setup):
    client = jobs_client
    tenant, token = setup["paser"].slug, setup["operator"]
    adopted = (await adopt(client, token, tenant)).json()
    assert (await wait_for(client, token, adopted["job_url"]))["state"] == "succeeded"
    installation = adopted["installation_id"]

    async def act(action: str) -> dict[str, Any]:
        response = await client.post(f"/api/v1/installations/{installation}/{action}", headers=bearer(token))
        assert response.status_code == 202, response.text
        return await wait_for(client, token, response.json()["job_url"])

    name = container_name(installation)
    assert (await act("stop"))["state"] == "succeeded"
    assert docker_client.containers.get(name).status == "exited"
    assert (await act("start"))["state"] == "succeeded"
    assert docker_client.containers.get(name).status == "running"
    logs = await client.get(f"/api/v1/installations/{installation}/logs?tail=50", headers=bearer(token))
    assert logs.status_code == 200 and "response:200" in logs.json()["logs"]  # busybox httpd -v
    assert (await client.get(f"/api/v1/installations/{installation}/logs", headers=bearer(setup["oki_admin"]))).status_code == 404
    assert (await client.post(f"/api/v1/installations/{installation}/stop", headers=bearer(setup["oki_admin"]))).status_code == 404

    volumes = [v.name for v in docker_client.volumes.list(filters=of_installation(installation))]
    assert volumes
    assert (await act("deprovision"))["state"] == "succeeded"
    assert not docker_client.containers.list(all=True, filters={"name": name})
    assert [v.name for v in docker_client.volumes.list(filters=of_installation(installation))] == volumes
    listed = (await client.get(f"/api/v1/tenants/{tenant}/installations", headers=bearer(token))).json()
    assert [(i["id"], i["desired_state"], i["observed_state"]) for i in listed] == [(installation, "removed", "removed")]
    retained = await Installation.select(Installation.removed_at, Installation.retain_until).first()
    assert (retained["retain_until"] - retained["removed_at"]).days == 30  # LUMBUNG_RETENTION_DAYS' default
    assert (await client.post(f"/api/v1/installations/{installation}/start", headers=bearer(token))).status_code == 409
    assert (await act("purge"))["state"] == "succeeded"
    assert not docker_client.volumes.list(filters=of_installation(installation))
    kinds = [r["kind"] for r in await AdoptionEvent.select(AdoptionEvent.kind).order_by(AdoptionEvent.id)]
    assert kinds == ["adopted", "removed"]


async def test_a_job_interrupted_mid_way_resumes_with_one_container(client, quiet_setup):
    """The worker dies while the app starts (its task is cancelled, as by SIGKILL); the job is
    requeued when its heartbeat goes stale, and a new worker finishes it: one container."""
    from datetime import timedelta

    from provisioning.engine import DockerEngine
    from provisioning.jobs import JobRunner
    from provisioning.tables import ProvisionJob

    app_state = client.app.state
    adopted = await app_state.provisioning.adopt(
        await principal(await _user("op-paser")), quiet_setup["paser"].slug, "aduan-warga", "1.2.0", CONFIG
    )
    engine = DockerEngine()
    runner = JobRunner(engine, app_state.catalog.store, app_state.provisioning.cipher, name="doomed")
    started = asyncio.Event()
    real_wait = engine.wait_healthy

    async def hang(*args: Any, **kwargs: Any) -> None:
        started.set()
        await asyncio.sleep(3600)

    engine.wait_healthy = hang  # type: ignore[method-assign]
    assert await runner.claim_next() == adopted.job_id
    task = asyncio.create_task(runner.run(adopted.job_id))
    await asyncio.wait_for(started.wait(), 60)
    task.cancel()
    job = await ProvisionJob.select().where(ProvisionJob.id == adopted.job_id).output(load_json=True).first()
    assert job["state"] == "running"
    assert [s["state"] for s in job["steps"]][:4] == ["done"] * 4

    # Later, another worker finds the job abandoned and finishes it.
    await ProvisionJob.update({ProvisionJob.heartbeat_at: job["heartbeat_at"] - timedelta(minutes=5)}).where(
        ProvisionJob.id == adopted.job_id
    )
    engine.wait_healthy = real_wait  # type: ignore[method-assign]
    survivor = JobRunner(engine, app_state.catalog.store, app_state.provisioning.cipher, name="survivor")
    assert await survivor.requeue_stale() == 1
    assert await survivor.claim_next() == adopted.job_id
    await survivor.run(adopted.job_id)
    job = await ProvisionJob.select().where(ProvisionJob.id == adopted.job_id).first()
    assert job["state"] == "succeeded" and job["attempts"] == 2 and job["claimed_by"] == "survivor"
    containers = docker_client.containers.list(all=True, filters=of_installation(adopted.installation_id))
    assert len(containers) == 1 and containers[0].status == "running"
    await engine.close()
