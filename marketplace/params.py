"""Path parameter types shared by the API and the pages."""

from __future__ import annotations

from typing import Annotated

from litestar.params import PathParameter

from catalog.manifest import SLUG_PATTERN as APP_SLUG_PATTERN
from catalog.versions import MAX_VERSION_LENGTH, VERSION_CHARS
from tenants.identity import USERNAME_RE
from tenants.services import SLUG_PATTERN as TENANT_SLUG_PATTERN

# Row ids are SERIAL on PostgreSQL (a signed 32-bit integer). A larger number in a path is
# refused as invalid: the databases would fail on it rather than find nothing.
MAX_ROW_ID = 2**31 - 1

RowId = Annotated[int, PathParameter(ge=1, le=MAX_ROW_ID)]
"""The id of a stored row (installation, job, token) in a path."""

# Slugs and versions have a known shape; anything else (a NUL byte, which PostgreSQL refuses in text)
# is refused as invalid before it reaches the database.
AppSlug = Annotated[str, PathParameter(pattern=APP_SLUG_PATTERN)]
TenantSlug = Annotated[str, PathParameter(pattern=TENANT_SLUG_PATTERN)]
VersionText = Annotated[str, PathParameter(pattern=VERSION_CHARS, max_length=MAX_VERSION_LENGTH)]
Username = Annotated[str, PathParameter(pattern=USERNAME_RE.pattern)]
