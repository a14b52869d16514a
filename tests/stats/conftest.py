"""The statistics tests start from an empty read model as well as empty tables."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from stats.tables import StatsInstallation


@pytest.fixture
async def db(db: None) -> AsyncIterator[None]:  # extends the shared fixture
    await StatsInstallation.delete(force=True)
    yield
