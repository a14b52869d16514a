"""The adoption form, the job page and the installations page, with the real engine."""

from __future__ import annotations

import asyncio

import pytest

from provisioning.tables import Installation, ProvisionJob
from tests.pages import csrf_token, login
from tests.provisioning.test_adopt import engine_available, quiet_setup, setup  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.docker, pytest.mark.db]


async def test_adopt_through_the_form_and_watch_the_steps(jobs_client, setup):  # noqa: F811
    client = jobs_client
    tenant = setup["paser"].slug
    await login(client, "op-paser")
    app_page = await client.get("/apps/aduan-warga")
    assert 'id="adopt"' in app_page.text
    form = await client.get("/apps/aduan-warga/adopt")
    assert form.status_code == 200
    assert 'name="config.NAMA_PEMDA"' in form.text and "dibuat oleh Lumbung" in form.text  # APP_KEY is generated
    assert 'name="config.LAPOR_API_TOKEN"' in form.text and 'type="password"' in form.text

    token = await csrf_token(client, "/apps/aduan-warga/adopt")
    bad = await client.post("/apps/aduan-warga/adopt", data={
        "_csrf_token": token, "tenant": tenant, "version": "1.2.0", "config.TZ": "Mars/Olympus"})
    assert bad.status_code == 422
    assert 'aria-describedby="err-NAMA_PEMDA"' in bad.text and 'aria-describedby="err-TZ"' in bad.text
    assert await Installation.count() == 0

    response = await client.post("/apps/aduan-warga/adopt", data={
        "_csrf_token": token, "tenant": tenant, "version": "1.2.0",
        "config.NAMA_PEMDA": "Pemerintah Kabupaten Paser", "config.TZ": "Asia/Makassar"})
    assert response.status_code == 200 and "/jobs/" in str(response.url)
    assert "Menunggu pemeriksaan kesehatan" in response.text  # every step is listed
    job_id = int(str(response.url).rsplit("/", 1)[1])
    for _ in range(200):
        if (await ProvisionJob.select(ProvisionJob.state).where(ProvisionJob.id == job_id).first())["state"] in ("succeeded", "failed"):
            break
        await asyncio.sleep(0.2)
    page = await client.get(f"/jobs/{job_id}")
    assert 'data-state="succeeded"' in page.text and 'id="app-url"' in page.text
    assert 'http-equiv="refresh"' not in page.text  # a finished job stops refreshing
    listing = await client.get(f"/tenants/{tenant}/installations")
    assert "Aduan Warga" in listing.text and "berjalan" in listing.text


async def test_the_publisher_sees_which_regions_run_which_version(client, quiet_setup):  # noqa: F811
    from tests.conftest import principal
    from tests.provisioning.test_adopt import CONFIG, _user

    state = client.app.state
    await state.provisioning.adopt(
        await principal(await _user("op-paser")), quiet_setup["paser"].slug, "aduan-warga", "1.2.0", CONFIG
    )
    await login(client, "bandung")
    page = await client.get("/my/apps")
    assert page.status_code == 200
    fleet = page.text.split('id="fleet-aduan-warga"')[1].split("</table>")[0]
    assert "Pemerintah Kabupaten Paser" in fleet and "1.2.0" in fleet and "menunggu" in fleet
