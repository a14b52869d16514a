"""Kominfo staff open the statistics dashboard, filter by a province, export the table as
CSV, and the CSV holds the rows the table shows: in headless Chromium against a live server."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import textwrap

import httpx
import pytest

from tests.browser.conftest import PASSWORD, sign_in
from tests.live import ROOT
from tests.stats.history import PROVINCES

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SEED = textwrap.dedent(f"""
    import asyncio
    from tenants import identity
    from tests.stats.history import build_world

    async def main():
        await build_world(seed=4, regions=20, apps=8, adoptions=150)
        await identity.create_user("staf-kominfo", {PASSWORD!r}, display_name="Staf Kominfo", is_ministry_staff=True)

    asyncio.run(main())
""")


def test_kominfo_filters_by_province_and_the_csv_matches_the_table(server, browser) -> None:
    url = server["url"]
    env = {**os.environ, **{k: v for k, v in server.items() if k != "url"}}
    env.pop("LUMBUNG_MAX_BUNDLE_BYTES", None)
    seeded = subprocess.run([sys.executable, "-c", SEED], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert seeded.returncode == 0, seeded.stderr[-2000:]

    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    sign_in(page, url, "staf-kominfo")
    page.get_by_role("link", name="Statistik").click()
    page.wait_for_url(f"{url}/stats")
    assert page.get_by_role("heading", name="Statistik adopsi").is_visible()
    assert page.locator("#table-provinces tbody tr").count() == len(PROVINCES)

    province = PROVINCES[1]
    page.locator("#stats-filters select[name=province]").select_option(province)
    page.get_by_role("button", name="Saring").click()
    page.wait_for_url("**/stats?*province=*")
    rows = page.locator("#table-provinces tbody tr")
    assert rows.count() == 1 and rows.first.locator("th").inner_text() == province
    table = [[cell.get_attribute("data-value") for cell in row.locator("td").all()] for row in rows.all()]
    apps_shown = page.locator("#table-apps tbody tr").count()

    with page.expect_download() as download_info:
        page.locator("#csv-provinces").click()
    download = download_info.value
    exported = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert exported[0][0] == "province"
    assert [r[0] for r in exported[1:]] == [province]
    assert [r[1:] for r in exported[1:]] == table

    # the apps table and its export agree too, row for row
    with page.expect_download() as download_info:
        page.locator("#csv-apps").click()
    apps_csv = list(csv.DictReader(io.StringIO(open(download_info.value.path(), encoding="utf-8").read())))
    assert len(apps_csv) == apps_shown
    first = page.locator("#table-apps tbody tr").first
    assert first.locator("td").nth(2).get_attribute("data-value") == apps_csv[0]["live_installations"]

    # the live installations total is the province's
    total = page.locator("#total-live").get_attribute("data-value")
    assert total == table[0][2]
    response = httpx.get(f"{url}/stats/export/provinces?province={province}")  # no session: sign in first
    assert response.status_code in (200, 303) and "province," not in response.text
    context.close()
