"""The catalog's web pages: sign-in, browsing, publishing through the form, reviewing."""

from __future__ import annotations

import pytest

from tests.conftest import manifest_doc
from tests.pages import csrf_token, login, post_form

pytestmark = pytest.mark.db


async def publish_via_form(client, bundle, version="1.0.0", changelog="- Rilis pertama"):
    with bundle.open("rb") as fh:
        return await post_form(
            client,
            "/publish",
            {"version": version, "changelog": changelog},
            page="/publish",
            files={"bundle": (bundle.name, fh.read(), "application/gzip")},
        )


async def test_pages_need_a_signed_in_user(client):
    response = await client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/"
    assert (await client.get("/login")).status_code == 200


async def test_wrong_password_is_refused_without_saying_which_part(client, world):
    response = await login(client, "surabaya", "wrong-password-123")
    assert response.status_code == 401
    assert "Username atau kata sandi salah" in response.text
    unknown = await login(client, "nobody", "wrong-password-123")
    assert unknown.status_code == 401


async def test_forms_without_csrf_token_are_refused(client, world):
    response = await client.post("/login", data={"username": "surabaya", "password": "x"})
    assert response.status_code == 403


async def test_publish_review_browse_through_pages(client, world, make_bundle):
    assert (await login(client, "surabaya")).status_code in (200, 303)
    response = await publish_via_form(client, make_bundle())
    assert response.status_code == 200  # followed the redirect to the app page
    assert str(response.url).endswith("/apps/e-perizinan?submitted=1.0.0")
    assert "menunggu tinjauan kurator" in response.text

    await client.post("/logout", data={"_csrf_token": await csrf_token(client, "/")})
    await login(client, "kurator")
    queue = await client.get("/review")
    assert "E-Perizinan" in queue.text and "1.0.0" in queue.text
    approved = await post_form(client, "/review/e-perizinan/1.0.0/approve", {}, page="/review")
    assert approved.status_code == 200 and "Tidak ada yang menunggu tinjauan" in approved.text

    catalog = await client.get("/?q=perijinan")
    assert catalog.status_code == 200
    assert 'href="/apps/e-perizinan"' in catalog.text
    assert "Jawa Timur" in catalog.text

    page = await client.get("/apps/e-perizinan")
    assert "Permohonan <strong>izin</strong> usaha" in page.text
    assert "64 MiB" in page.text and "SESSION_SECRET" in page.text


async def test_form_shows_field_errors(client, world, make_bundle):
    await login(client, "surabaya")
    bad = make_bundle(manifest_doc(container={"port": 99999}))
    response = await publish_via_form(client, bad)
    assert response.status_code == 422
    assert "manifest.container.port" in response.text
    assert 'aria-invalid="true"' in response.text
    mismatch = await publish_via_form(client, make_bundle(), version="2.0.0")
    assert mismatch.status_code == 422 and "manifest.version" in mismatch.text
    missing = await post_form(client, "/publish", {"version": "1.0.0"}, page="/publish")
    assert missing.status_code == 422 and "bundle" in missing.text


async def test_reject_without_reason_shows_an_error(client, world, make_bundle):
    await login(client, "surabaya")
    await publish_via_form(client, make_bundle())
    await client.post("/logout", data={"_csrf_token": await csrf_token(client, "/")})
    await login(client, "kurator")
    response = await post_form(client, "/review/e-perizinan/1.0.0/reject", {"reason": ""}, page="/review")
    assert response.status_code == 422
    rejected = await post_form(client, "/review/e-perizinan/1.0.0/reject", {"reason": "Tanpa dokumentasi"}, page="/review")
    assert rejected.status_code == 200


async def test_script_in_any_field_is_never_markup(client, world, make_bundle, catalog_service):
    from tests.conftest import principal

    evil = "<script>alert('x')</script>"
    doc = manifest_doc(name=f"Evil {evil}")
    doc["catalog"]["summary"] = {"id": f"Ringkas {evil}", "en": evil}
    doc["catalog"]["description"] = {"id": f"# Judul\n{evil}\n[klik](javascript:alert(1))\n<img src=x onerror=alert(1)>", "en": ""}
    doc["catalog"]["tags"] = ["aman"]
    doc["env"] = [{"name": "A", "label": evil, "description": evil, "default": "x"}]
    await login(client, "surabaya")
    response = await publish_via_form(client, make_bundle(doc), changelog=f"{evil}\n\n[x](javascript:alert(2))")
    assert response.status_code == 200
    await catalog_service.approve(await principal(world["curator"]), "e-perizinan", "1.0.0")
    for path in ("/apps/e-perizinan", "/?q=evil", "/my/apps"):
        html = (await client.get(path)).text
        assert "alert('x')" in html.replace("&#39;", "'"), path  # the text is shown, as text
        assert active_content(html) == [], path


def active_content(html: str) -> list[str]:
    """Script elements, event handler attributes and javascript: URLs in a page."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Finder(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag in ("script", "iframe", "object", "embed"):
                found.append(tag)
            for name, value in attrs:
                if name.startswith("on"):
                    found.append(f"{tag}[{name}]")
                if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                    found.append(f"{tag}[{name}={value}]")

    Finder().feed(html)
    return found


async def test_language_switch(client, world):
    await login(client, "surabaya")
    assert "Katalog" in (await client.get("/")).text
    await client.get("/lang/en?next=/")
    english = await client.get("/")
    assert "Catalog" in english.text and 'lang="en"' in english.text


async def test_unknown_app_page_is_404(client, world):
    await login(client, "surabaya")
    response = await client.get("/apps/does-not-exist")
    assert response.status_code == 404
    assert "Tidak ditemukan" in response.text
