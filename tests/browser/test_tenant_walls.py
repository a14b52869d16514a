"""A Paser admin adds an operator; the operator signs in and cannot see OKI's members or
audit trail: in headless Chromium against a live server."""

from __future__ import annotations

import pytest

from tests.browser.conftest import PASSWORD, sign_in
from tests.live import cli

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_paser_admin_adds_an_operator_who_cannot_see_oki(server, browser) -> None:
    url = server["url"]
    for slug, name in (("kabupaten-paser", "Pemerintah Kabupaten Paser"), ("kabupaten-ogan-komering-ilir", "Pemerintah Kabupaten Ogan Komering Ilir")):
        assert cli(server, "create-tenant", slug, "--name", name, "--kind", "kabupaten").returncode == 0
    assert cli(server, "create-user", "admin-paser", "--password", PASSWORD, "--tenant", "kabupaten-paser", "--role", "admin").returncode == 0
    assert cli(server, "create-user", "admin-oki", "--password", PASSWORD, "--tenant", "kabupaten-ogan-komering-ilir", "--role", "admin").returncode == 0
    assert cli(server, "create-user", "budi", "--password", PASSWORD).returncode == 0

    admin = browser.new_context().new_page()
    sign_in(admin, url, "admin-paser")
    assert "Pemerintah Kabupaten Paser" in admin.locator("#acting-tenant").inner_text()
    admin.goto(f"{url}/tenants/kabupaten-paser/members")
    admin.get_by_label("Username").fill("budi")
    admin.get_by_label("Peran", exact=True).select_option("operator")
    admin.get_by_role("button", name="Tambah").click()
    admin.wait_for_url(f"{url}/tenants/kabupaten-paser/members")
    assert "operator" in admin.locator("#member-budi").inner_text() or admin.locator("#member-budi select").input_value() == "operator"

    operator = browser.new_context().new_page()
    sign_in(operator, url, "budi")
    assert "Pemerintah Kabupaten Paser" in operator.locator("#acting-tenant").inner_text()
    for path in ("/tenants/kabupaten-ogan-komering-ilir/members",):
        response = operator.goto(f"{url}{path}")
        assert response.status == 404
        assert "Tidak ditemukan" in operator.content()
    # An operator does not read even their own tenant's members or audit trail.
    assert operator.goto(f"{url}/tenants/kabupaten-paser/members").status == 403
    assert operator.goto(f"{url}/audit").status == 403
    assert operator.goto(f"{url}/audit?tenant=kabupaten-ogan-komering-ilir").status == 403
    # OKI's own admin sees OKI's trail, and nothing of Paser's in it.
    oki = browser.new_context().new_page()
    sign_in(oki, url, "admin-oki")
    oki.goto(f"{url}/audit")
    trail = oki.locator("table.audit").inner_text()
    assert "admin-oki" in trail and "admin-paser" not in trail and "budi" not in trail
