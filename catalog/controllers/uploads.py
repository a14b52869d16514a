"""Turning an uploaded bundle into a Submission, shared by the API and the form."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from litestar.datastructures import UploadFile

from catalog.bundles import BundleError, spool_upload
from catalog.services import Submission
from marketplace.errors import PayloadTooLarge, ValidationFailed
from marketplace.settings import Settings


@contextlib.asynccontextmanager
async def spooled_submission(
    settings: Settings,
    upload: UploadFile | None,
    *,
    version: str,
    changelog: str,
    app_slug: str | None,
    tenant_slug: str | None,
) -> AsyncIterator[Submission]:
    """Copy the upload to a private temporary file; it is removed whatever happens."""
    if upload is None or not isinstance(upload, UploadFile):
        raise ValidationFailed("a bundle file is required", errors=[{"field": "bundle", "message": "choose a bundle file"}])
    tmp_dir = settings.data_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    await upload.seek(0)
    try:
        path, _sha, _size = await asyncio.to_thread(spool_upload, upload.file, tmp_dir, settings.max_bundle_bytes)
    except BundleError as exc:
        if "large" in str(exc).lower() or "limit" in str(exc).lower():
            raise PayloadTooLarge(str(exc), errors=[{"field": "bundle", "message": str(exc)}]) from None
        raise ValidationFailed(str(exc), errors=[{"field": "bundle", "message": str(exc)}]) from None
    finally:
        await upload.close()
    try:
        yield Submission(
            version=(version or "").strip(),
            changelog=changelog or "",
            bundle_path=Path(path),
            app_slug=app_slug,
            tenant_slug=tenant_slug or None,
        )
    finally:
        Path(path).unlink(missing_ok=True)
