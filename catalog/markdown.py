"""Markdown from publishers, rendered to safe HTML and to plain text for search."""

from __future__ import annotations

import html

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

# Raw HTML in the source is escaped by the parser, and the output is sanitised again, so
# neither a script tag nor a javascript: link survives.
_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")

_ALLOWED_TAGS = {
    "a", "p", "br", "hr", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td",
}
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}

MAX_MARKDOWN_CHARS = 100_000


def render_markdown(text: str | None) -> Markup:
    if not text:
        return Markup("")
    rendered = _md.render(text[:MAX_MARKDOWN_CHARS])
    clean = nh3.clean(
        rendered,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(clean)  # noqa: S704  (sanitised above)


def markdown_to_text(text: str | None) -> str:
    """Plain text for the search index."""
    if not text:
        return ""
    plain = nh3.clean(_md.render(text[:MAX_MARKDOWN_CHARS]), tags=set())
    return " ".join(html.unescape(plain).split())
