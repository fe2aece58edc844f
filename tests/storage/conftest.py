"""Storage tests run on a fresh, migrated database of the configured kind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from supplymesh.storage.engine import close_engine, make_engine
from supplymesh.storage.migrate import migrate


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    migrate(eng)
    yield eng
    close_engine(eng)
