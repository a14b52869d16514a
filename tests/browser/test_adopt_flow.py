"""An OKI operator adopts an app published by Surabaya, watches the steps complete and opens
the running app: in headless Chromium against a live server and the real Docker engine."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import PASSWORD, sign_in
from tests.conftest import need
from tests.docker_objects import remove_tenant_objects
from tests.live import cli
from tests.provisioning.test_docker_engine import docker_available, docker_client

pytestmark = [pytest.mark.browser, pytest.mark.docker, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "apps" / "e-perizinan" / "3.2.1"
OKI = f"kabupaten-ogan-komering-ilir-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def cleanup():
    need(docker_available, "no Docker engine answers")
    yield
    remove_tenant_objects(docker_client, lambda tenant: tenant == OKI)


def test_oki_operator_adopts_surabayas_app_and_opens_it(server, browser, cleanup) -> None:
    url = server["url"]
    for args in (
        ("create-tenant", "kota-surabaya", "--name", "Pemerintah Kota Surabaya", "--kind", "kota", "--publishes"),
        ("create-tenant", OKI, "--name", "Pemerintah Kabupaten Ogan Komering Ilir", "--kind", "kabupaten"),
        ("create-tenant", "kominfo", "--name", "Kementerian Komunikasi dan Digital", "--kind", "kementerian"),
        ("create-user", "surabaya", "--password", PASSWORD, "--tenant", "kota-surabaya", "--role", "admin"),
        ("create-user", "op-oki", "--password", PASSWORD, "--tenant", OKI, "--role", "operator"),
        ("create-user", "kurator", "--password", PASSWORD, "--tenant", "kominfo", "--curator"),
    ):
        assert cli(server, *args).returncode == 0
    publisher = cli(server, "create-token", "surabaya", "--name", "ci", "--scope", "apps:publish").stdout.strip()
    assert cli(server, "publish", str(EXAMPLE), "--url", url, "--token", publisher, "--busybox", "/bin/busybox").returncode == 0
    curator = cli(server, "create-token", "kurator", "--name", "ci", "--scope", "catalog:review").stdout.strip()
    assert httpx.post(f"{url}/api/v1/apps/e-perizinan/versions/3.2.1/approve",
                      headers={"Authorization": f"Bearer {curator}"}).status_code == 200

    page = browser.new_context().new_page()
    sign_in(page, url, "op-oki")
    page.goto(f"{url}/apps/e-perizinan")
    page.locator("#adopt").click()
    page.get_by_label("Nama pemerintah daerah").fill("Pemerintah Kabupaten Ogan Komering Ilir")
    page.get_by_role("button", name="Adopsi").click()
    page.wait_for_url(f"{url}/jobs/*")
    seen_running = page.locator(".step-running, .step-done").count() > 0 or page.locator("#job").get_attribute("data-state") == "queued"
    assert seen_running
    page.wait_for_selector('#job[data-state="succeeded"]', timeout=90_000)
    assert page.locator(".step-done").count() == 6
    app_url = page.locator("#app-url").get_attribute("href")
    page.locator("#app-url").click()
    page.wait_for_load_state()
    assert page.url.startswith(app_url)
    assert "3.2.1" in page.content()
