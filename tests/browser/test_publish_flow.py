"""A publisher submits an app through the form, a curator approves it, and a regional IT
officer finds it by searching with a typo: in headless Chromium against a live server."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from catalog.bundles import pack_directory
from tests.browser.conftest import PASSWORD, sign_in
from tests.conftest import manifest_doc
from tests.live import cli

pytestmark = [pytest.mark.browser, pytest.mark.slow]

def test_publish_approve_and_find_with_a_typo(server, browser, tmp_path: Path) -> None:
    url = server["url"]
    assert cli(server, "create-tenant", "kota-surabaya", "--name", "Pemerintah Kota Surabaya", "--kind", "kota",
               "--province", "Jawa Timur", "--publishes").returncode == 0
    assert cli(server, "create-tenant", "kominfo", "--name", "Kementerian Komunikasi dan Digital",
               "--kind", "kementerian").returncode == 0
    assert cli(server, "create-user", "surabaya", "--password", PASSWORD, "--tenant", "kota-surabaya",
               "--role", "operator").returncode == 0
    assert cli(server, "create-user", "kurator", "--password", PASSWORD, "--tenant", "kominfo", "--curator").returncode == 0

    source = tmp_path / "src"
    (source / "www").mkdir(parents=True)
    doc = manifest_doc(version="1.0.0")
    doc["catalog"]["aliases"] = []  # so only typo tolerance can match the misspelling
    (source / "lumbung.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    (source / "Dockerfile").write_text("FROM scratch\nCOPY www/ /www/\n")
    (source / "www" / "healthz").write_text("ok")
    bundle = tmp_path / "e-perizinan-1.0.0.tar.gz"
    pack_directory(source, bundle)

    publisher = browser.new_context().new_page()
    sign_in(publisher, url, "surabaya")
    publisher.get_by_role("link", name="Terbitkan").first.click()
    publisher.get_by_label("Bundel (.tar.gz)").set_input_files(str(bundle))
    publisher.get_by_label("Versi (SemVer, misalnya 1.4.2)").fill("1.0.0")
    publisher.get_by_label("Catatan perubahan (Markdown)").fill("- Rilis pertama")
    publisher.get_by_role("button", name="Kirim untuk ditinjau").click()
    publisher.wait_for_url(f"{url}/apps/e-perizinan?submitted=1.0.0")
    assert "menunggu tinjauan kurator" in publisher.get_by_role("status").inner_text()

    curator = browser.new_context().new_page()
    sign_in(curator, url, "kurator")
    curator.get_by_role("link", name="Tinjauan").click()
    item = curator.locator("#q-e-perizinan-1\\.0\\.0")
    assert "E-Perizinan" in item.inner_text()
    item.get_by_role("button", name="Setujui").click()
    curator.wait_for_url(f"{url}/review")
    assert "Tidak ada yang menunggu tinjauan" in curator.content()

    # A misspelling ("perijinan" for "perizinan") still finds the app.
    curator.goto(f"{url}/")
    curator.get_by_role("searchbox").fill("perijinan")
    curator.get_by_role("button", name="Cari").click()
    curator.wait_for_url(f"{url}/?q=perijinan*")
    result = curator.get_by_role("link", name="E-Perizinan")
    assert result.count() == 1
    result.click()
    assert curator.get_by_role("heading", level=1).inner_text() == "E-Perizinan"
    assert "1.0.0" in curator.locator("table.versions").inner_text()
