from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import DatabaseFactory
from tests.harness import Harness


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def harness(tmp_path: Path, database_url_factory: DatabaseFactory) -> AsyncIterator[Harness]:
    net = Harness(tmp_path / "state", database_url_factory)
    yield net  # nodes start on first use
    await net.close()
