"""Query parameters shared by the catalog's API and pages."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar.params import QueryParameter

from catalog.search import SORTS, SearchQuery
from catalog.services import MAX_PER_PAGE
from marketplace.errors import ValidationFailed


@dataclass(frozen=True)
class CatalogParams:
    q: str = ""
    category: str | None = None
    publisher: str | None = None
    province: str | None = None
    license: str | None = None
    sort: str = "relevance"
    page: int = 1
    per_page: int = 20

    def url(self, **changes: Any) -> str:
        """The catalog page's address with some parameters changed (None removes one).
        Changing anything but the page goes back to the first page."""
        values = {**asdict(self), **changes}
        if "page" not in changes:
            values["page"] = 1
        defaults = {"sort": "relevance", "page": 1, "per_page": 20}
        pairs = [(k, v) for k, v in values.items() if v not in (None, "") and defaults.get(k) != v]
        return "/?" + urlencode(pairs) if pairs else "/"

    def to_query(self) -> SearchQuery:
        errors = []
        if self.sort not in SORTS:
            errors.append({"field": "sort", "message": f"one of {', '.join(SORTS)}"})
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            errors.append({"field": "per_page", "message": f"between 1 and {MAX_PER_PAGE}"})
        if not 1 <= self.page <= 500:
            errors.append({"field": "page", "message": "between 1 and 500"})
        if len(self.q) > 200:
            errors.append({"field": "q", "message": "at most 200 characters"})
        if errors:
            raise ValidationFailed("the search is not valid", errors=errors)
        return SearchQuery(
            text=self.q.strip(),
            category=self.category or None,
            publisher=self.publisher or None,
            province=self.province or None,
            license=self.license or None,
            sort=self.sort,
            offset=(self.page - 1) * self.per_page,
            limit=self.per_page,
        )


def catalog_params(
    q: Annotated[str, QueryParameter(name="q", max_length=200, description="Search text")] = "",
    category: Annotated[str | None, QueryParameter(name="category", max_length=60)] = None,
    publisher: Annotated[str | None, QueryParameter(name="publisher", max_length=80)] = None,
    province: Annotated[str | None, QueryParameter(name="province", max_length=120)] = None,
    license: Annotated[str | None, QueryParameter(name="license", max_length=100)] = None,
    sort: Annotated[str, QueryParameter(name="sort", description=f"One of {', '.join(SORTS)}")] = "relevance",
    page: Annotated[int, QueryParameter(name="page", ge=1, le=500)] = 1,
    per_page: Annotated[int, QueryParameter(name="per_page", ge=1, le=MAX_PER_PAGE)] = 20,
) -> CatalogParams:
    return CatalogParams(q, category, publisher, province, license, sort, page, per_page)
