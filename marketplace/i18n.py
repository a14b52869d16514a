"""Interface language: Bahasa Indonesia by default, English available.

Messages in code and templates are written in English and translated through gettext
catalogs (`marketplace/locale/<lang>/LC_MESSAGES/messages.po`), compiled in memory at
start-up with Babel.
"""

from __future__ import annotations

import gettext
from contextvars import ContextVar
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = ("id", "en")
LOCALE_NAMES = {"id": "Bahasa Indonesia", "en": "English"}
LOCALE_DIR = Path(__file__).parent / "locale"

current_locale: ContextVar[str] = ContextVar("current_locale", default="id")


@lru_cache(maxsize=None)
def translations(locale: str) -> gettext.NullTranslations:
    po_file = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po_file.exists():
        return gettext.NullTranslations()
    with po_file.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def gettext_(message: str) -> str:
    return translations(current_locale.get()).gettext(message)


def ngettext_(singular: str, plural: str, n: int) -> str:
    return translations(current_locale.get()).ngettext(singular, plural, n)


def negotiate(cookie: str | None, query: str | None, default: str) -> str:
    """Pick the language: an explicit ?lang=, then the cookie, then the default.

    Accept-Language is not used on purpose: Bahasa Indonesia is the default interface
    even for browsers set to English, unless the user switches.
    """
    for candidate in (query, cookie):
        if candidate in LOCALES:
            return candidate
    return default
