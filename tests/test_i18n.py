"""Bahasa Indonesia is complete: every message in the templates and code has a translation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

from marketplace.i18n import translations

ROOT = Path(__file__).resolve().parent.parent


def messages() -> set[str]:
    found = set()
    for _, _, message, _, _ in extract_from_dir(
        str(ROOT / "templates"),
        method_map=[("**.html", "jinja2")],
        options_map={"**.html": {"extensions": "jinja2.ext.i18n"}},
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_template_message_is_translated_to_indonesian() -> None:
    catalog = translations("id")
    found = messages()
    assert len(found) > 80
    untranslated = sorted(m for m in found if catalog.gettext(m) == m and m not in {"CPU", "Port", "Status", "Token", "Username", "Log", "Logs"})
    assert untranslated == []


def test_english_is_the_source_language() -> None:
    assert translations("en").gettext("Catalog") == "Catalog"
    assert translations("id").gettext("Catalog") == "Katalog"
