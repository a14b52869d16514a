"""The Jinja environment shared by every page: autoescaping, gettext and formatting."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from catalog.categories import CATEGORIES, GROUPS, category_label
from catalog.markdown import render_markdown
from marketplace import i18n


def format_bytes(value: int | None) -> str:
    if value is None:
        return "–"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}".replace(".0 ", " ")
        size /= 1024
    return f"{value} B"


def format_idr(value: int | None) -> str:
    if not value:
        return "–"
    return "Rp " + f"{value:,}".replace(",", ".")


def format_count(value: int) -> str:
    """A whole number with the locale's thousands separator (1,234 or 1.234)."""
    text = f"{value:,}"
    return text if i18n.current_locale.get() == "en" else text.replace(",", ".")


# Table cells of numbers, a few thousand on a statistics page: plain functions, because a
# Jinja macro call costs several times as much.
def count_cell(value: int) -> Markup:
    return Markup('<td class="num" data-value="{}">{}</td>').format(value, format_count(value))


def money_cell(value: int | None) -> Markup:
    return Markup('<td class="num" data-value="{}">{}</td>').format(value, format_idr(value))


def format_date(value: datetime | None) -> str:
    if value is None:
        return "–"
    months_id = ["Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"]
    months_en = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    months = months_en if i18n.current_locale.get() == "en" else months_id
    return f"{value.day} {months[value.month - 1]} {value.year}"


def localised(value_id: str, value_en: str) -> str:
    """Pick the English text when the interface is English and there is one."""
    return value_en if i18n.current_locale.get() == "en" and value_en else value_id


def build_environment(directory: Path, *, auto_reload: bool = False) -> Environment:
    env = Environment(
        loader=FileSystemLoader(directory),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=auto_reload,
    )
    env.install_gettext_callables(i18n.gettext_, i18n.ngettext_, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(
        markdown=render_markdown,
        bytes=format_bytes,
        idr=format_idr,
        date=format_date,
        category=lambda key: category_label(key, i18n.current_locale.get()),
    )
    globals_: dict[str, Any] = {
        "localised": localised,
        "CATEGORIES": CATEGORIES,
        "CATEGORY_GROUPS": GROUPS,
        "LOCALES": i18n.LOCALE_NAMES,
        "current_locale": i18n.current_locale.get,
        "format_count": format_count,
        "count_cell": count_cell,
        "money_cell": money_cell,
    }
    env.globals.update(globals_)
    return env
