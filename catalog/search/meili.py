"""Catalog search on a Meilisearch server, through the official (synchronous) client."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, TypeVar

import meilisearch
from meilisearch.errors import MeilisearchApiError
from meilisearch.index import Index

from catalog.search import (
    FACETS,
    SearchDocument,
    SearchQuery,
    SearchResult,
    fold,
    validate_query,
)

__all__ = ["MeiliSearch", "filter_expression"]

_T = TypeVar("_T")

SEARCHABLE = ("name", "name_en", "aliases", "tags", "summary", "summary_en", "description")
FILTERABLE = (*FACETS, "slug")  # slug: deletes go by filter, deleting by id list is deprecated
SORTABLE = ("adoptions", "published_at", "name_sort", "slug")

_SORT = {
    "adoptions": ["adoptions:desc", "slug:asc"],
    "newest": ["published_at:desc", "slug:asc"],
    "name": ["name_sort:asc", "slug:asc"],
    "browse": ["adoptions:desc", "name_sort:asc", "slug:asc"],  # "relevance" without text
}

SETTINGS: dict[str, Any] = {
    "searchableAttributes": list(SEARCHABLE),
    "filterableAttributes": list(FILTERABLE),
    "sortableAttributes": list(SORTABLE),
    # "sort" first: an explicit sort orders all matches, as in the embedded
    # backend; without a sort parameter the rule does nothing.
    "rankingRules": ["sort", "words", "typo", "proximity", "attribute", "exactness"],
    "typoTolerance": {"enabled": True, "minWordSizeForTypos": {"oneTypo": 4, "twoTypos": 8}},
    # Totals and deep pages are cut at maxTotalHits (default 1,000); it must stay
    # above MAX_OFFSET + MAX_LIMIT and above the number of apps.
    "pagination": {"maxTotalHits": 100_000},
    # Every publisher must be countable, and Indonesia has over 500 regions.
    "faceting": {"maxValuesPerFacet": 1_000},
}

_DELETE_CHUNK = 500
_WORD = re.compile(r"[^\W_]")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def filter_expression(filters: dict[str, str]) -> list[str]:
    """Meilisearch filter clauses (ANDed) for exact-match facet filters."""
    return [f"{facet} = {_quote(value)}" for facet, value in filters.items()]


def _filter(filters: dict[str, str]) -> dict[str, list[str]]:
    return {"filter": filter_expression(filters)} if filters else {}


def _document(doc: SearchDocument) -> dict[str, Any]:
    body = asdict(doc)
    body["aliases"] = list(doc.aliases)
    body["tags"] = list(doc.tags)
    body["name_sort"] = fold(doc.name).strip()
    return body


class MeiliSearch:
    """Catalog search on a Meilisearch index, configured on first use."""

    def __init__(
        self,
        url: str,
        api_key: str,
        index_name: str,
        *,
        task_timeout_ms: int = 120_000,
        request_timeout_s: int = 30,
    ) -> None:
        self.index_name = index_name
        self._client = meilisearch.Client(url, api_key or None, timeout=request_timeout_s)
        self._task_timeout_ms = task_timeout_ms
        self._lock = threading.Lock()
        self._index: Index | None = None

    # public API

    async def upsert(self, documents: Sequence[SearchDocument]) -> None:
        """Add documents, replacing any already indexed under the same slug."""
        batch = [_document(doc) for doc in {doc.slug: doc for doc in documents}.values()]
        if batch:
            await self._run(lambda index: self._wait(index.add_documents(batch, primary_key="slug")))

    async def delete(self, slugs: Sequence[str]) -> None:
        """Remove documents by slug; unknown slugs are ignored."""
        unique = list(dict.fromkeys(slugs))

        def delete(index: Index) -> None:
            for start in range(0, len(unique), _DELETE_CHUNK):
                chunk = unique[start : start + _DELETE_CHUNK]
                expression = "slug IN [" + ", ".join(_quote(slug) for slug in chunk) + "]"
                self._wait(index.delete_documents(filter=expression))

        if unique:
            await self._run(delete)

    async def clear(self) -> None:
        """Remove every document."""
        await self._run(lambda index: self._wait(index.delete_all_documents()))

    async def search(self, query: SearchQuery) -> SearchResult:
        """Run a query; raises ``ValueError`` for out-of-range queries."""
        validate_query(query)
        return await self._run(lambda index: self._search(query))

    async def close(self) -> None:
        """Nothing to release: the client opens a connection per request."""

    async def drop_index(self) -> None:
        """Delete the whole index on the server (tests and decommissioning)."""

        def drop() -> None:
            with self._lock:
                self._wait(self._client.delete_index(self.index_name), ignore=("index_not_found",))
                self._index = None

        await asyncio.to_thread(drop)

    # internals

    async def _run(self, action: Callable[[Index], _T]) -> _T:
        def call() -> _T:
            with self._lock:
                index = self._ensure_index()
            return action(index)

        return await asyncio.to_thread(call)

    def _ensure_index(self) -> Index:
        if self._index is None:
            self._wait(
                self._client.create_index(self.index_name, {"primaryKey": "slug"}),
                ignore=("index_already_exists",),
            )
            index = self._client.index(self.index_name)
            self._wait(index.update_settings(SETTINGS))
            self._index = index
        return self._index

    def _wait(self, task_info: Any, ignore: tuple[str, ...] = ()) -> None:
        task = self._client.wait_for_task(task_info.task_uid, timeout_in_ms=self._task_timeout_ms)
        if task.status != "succeeded":
            error = task.error or {}
            if error.get("code") in ignore:
                return
            raise RuntimeError(
                f"Meilisearch task {task.uid} ({task.type}) on index {self.index_name!r} {task.status}: "
                f"{error.get('message', 'no error message')}"
            )

    def _search(self, query: SearchQuery) -> SearchResult:
        filters = query.filters()
        # Text without a letter or digit searches nothing, as in the embedded backend.
        text = query.text if _WORD.search(query.text) else ""
        base: dict[str, Any] = {
            "indexUid": self.index_name,
            "q": text,
            # every word must match, as in the embedded backend (the default drops words)
            "matchingStrategy": "all",
        }
        if query.sort != "relevance":
            sort: list[str] | None = _SORT[query.sort]
        else:
            sort = None if text else _SORT["browse"]
        page_query = {
            **base,
            **_filter(filters),
            "offset": query.offset,
            "limit": query.limit,
            "attributesToRetrieve": ["slug"],
        }
        if sort:
            page_query["sort"] = sort
        # page/hitsPerPage makes totalHits exact (offset/limit only gives an estimate)
        unfiltered_facets = [facet for facet in FACETS if facet not in filters]
        count_query = {
            **base,
            **_filter(filters),
            "page": 1,
            "hitsPerPage": 0,
            "facets": unfiltered_facets,
        }
        # A facet's own filter must not narrow its counts: one more query per
        # active filter, with every other filter applied.
        facet_queries = [
            {
                **base,
                **_filter({k: v for k, v in filters.items() if k != facet}),
                "page": 1,
                "hitsPerPage": 0,
                "facets": [facet],
            }
            for facet in filters
        ]
        try:
            response = self._client.multi_search([page_query, count_query, *facet_queries])
        except MeilisearchApiError as error:
            raise RuntimeError(f"Meilisearch search on {self.index_name!r} failed: {error}") from error
        page_result, count_result, *facet_results = response["results"]
        distribution: dict[str, dict[str, int]] = dict(count_result.get("facetDistribution") or {})
        for facet, result in zip(filters, facet_results):
            distribution[facet] = (result.get("facetDistribution") or {}).get(facet, {})
        facets = {
            facet: {value: count for value, count in distribution.get(facet, {}).items() if value and count}
            for facet in FACETS
        }
        return SearchResult(
            slugs=[hit["slug"] for hit in page_result["hits"]],
            total=int(count_result.get("totalHits", 0)),
            facets=facets,
        )
