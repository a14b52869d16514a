"""Catalog search: one interface, two backends (embedded SQLite FTS5 and Meilisearch).

The web layer only sees :class:`SearchBackend`; which implementation runs is a
deployment setting (see :func:`make_search_backend`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = [
    "FACETS",
    "MAX_LIMIT",
    "MAX_OFFSET",
    "MAX_TEXT_LENGTH",
    "SORTS",
    "SearchBackend",
    "SearchDocument",
    "SearchQuery",
    "SearchResult",
    "fold",
    "make_search_backend",
    "validate_query",
]

FACETS = ("category", "publisher", "province", "license")
SORTS = ("relevance", "adoptions", "newest", "name")

MAX_LIMIT = 100
MAX_OFFSET = 10_000
MAX_TEXT_LENGTH = 200


@dataclass(frozen=True)
class SearchDocument:
    """What the search index knows about one catalog app."""

    slug: str
    name: str  # Bahasa Indonesia name
    name_en: str
    summary: str
    summary_en: str
    description: str  # plain text (Indonesian + English concatenated), no markdown
    aliases: tuple[str, ...]  # other names people search by, e.g. ("perijinan", "OSS daerah")
    tags: tuple[str, ...]
    category: str  # SPBE category key, e.g. "perizinan"
    publisher: str  # publisher tenant slug, e.g. "kota-surabaya"
    publisher_name: str  # e.g. "Pemerintah Kota Surabaya"
    province: str  # publisher's province, e.g. "Jawa Timur"
    license: str  # SPDX, e.g. "Apache-2.0"
    adoptions: int  # how many installations (for sort "adoptions")
    published_at: float  # unix timestamp of the latest approved version (sort "newest")


@dataclass(frozen=True)
class SearchQuery:
    """A catalog search: free text, exact-match filters, sort and page window."""

    text: str = ""
    category: str | None = None
    publisher: str | None = None
    province: str | None = None
    license: str | None = None
    sort: str = "relevance"  # one of SORTS; "relevance" with empty text behaves like "adoptions" then name
    offset: int = 0
    limit: int = 20

    def filters(self) -> dict[str, str]:
        """The active facet filters, keyed by facet name."""
        return {facet: value for facet in FACETS if (value := getattr(self, facet)) is not None}


@dataclass(frozen=True)
class SearchResult:
    """One page of matching slugs, the total, and disjunctive facet counts."""

    slugs: list[str]  # the page, in order
    total: int  # all matches under text + filters
    # For each FACET: value -> count among documents matching the text and all
    # OTHER active filters (a facet's own filter does not narrow its own counts).
    facets: dict[str, dict[str, int]]


class SearchBackend(Protocol):
    """A catalog search index."""

    async def upsert(self, documents: Sequence[SearchDocument]) -> None: ...

    async def delete(self, slugs: Sequence[str]) -> None: ...

    async def search(self, query: SearchQuery) -> SearchResult: ...

    async def clear(self) -> None: ...  # remove all documents (used by reindex)

    async def close(self) -> None: ...


def fold(text: str) -> str:
    """Case-fold and strip diacritics ("Périzinan" -> "perizinan"): search terms and name sort keys."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def validate_query(query: SearchQuery) -> SearchQuery:
    """Check a query's limits; raise ``ValueError`` naming the offending field."""
    if not isinstance(query.text, str):
        raise ValueError("search text must be a string")
    if len(query.text) > MAX_TEXT_LENGTH:
        raise ValueError(f"search text is {len(query.text)} characters long; at most {MAX_TEXT_LENGTH} are allowed")
    if query.sort not in SORTS:
        raise ValueError(f"unknown sort {query.sort!r}; expected one of: {', '.join(SORTS)}")
    if isinstance(query.limit, bool) or not isinstance(query.limit, int) or not 1 <= query.limit <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {query.limit!r}")
    if isinstance(query.offset, bool) or not isinstance(query.offset, int) or not 0 <= query.offset <= MAX_OFFSET:
        raise ValueError(f"offset must be an integer from 0 to {MAX_OFFSET}, got {query.offset!r}")
    for facet in FACETS:
        value = getattr(query, facet)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"filter {facet} must be a string, got {value!r}")
    return query


def make_search_backend(
    kind: str,
    *,
    index_path: Path,
    meili_url: str = "",
    meili_api_key: str = "",
    meili_index: str = "lumbung-apps",
) -> SearchBackend:
    """Build the configured backend: ``"embedded"`` (SQLite FTS5) or ``"meilisearch"``."""
    if kind == "embedded":
        from catalog.search.embedded import EmbeddedSearch

        return EmbeddedSearch(index_path)
    if kind == "meilisearch":
        if not meili_url:
            raise ValueError("the meilisearch search backend needs a server URL")
        from catalog.search.meili import MeiliSearch

        return MeiliSearch(meili_url, meili_api_key, meili_index)
    raise ValueError(f"unknown search backend {kind!r}; expected 'embedded' or 'meilisearch'")
