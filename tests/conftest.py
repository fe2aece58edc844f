"""Shared fixtures: database URLs for SQLite and, when configured, PostgreSQL.

``SUPPLYMESH_TEST_DATABASE_URL`` (e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/supplymesh_test``)
switches every database-backed test to PostgreSQL; each test then gets a fresh schema
(via ``search_path``) that is dropped afterwards. Without it, tests use SQLite files.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

PG_URL = os.environ.get("SUPPLYMESH_TEST_DATABASE_URL", "")

DatabaseFactory = Callable[[str], str]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect PostgreSQL-only tests (e.g. TRUNCATE) when running on SQLite."""
    if PG_URL:
        return
    kept = [item for item in items if item.get_closest_marker("pg") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


@pytest.fixture
def database_url_factory(tmp_path: Path) -> Iterator[DatabaseFactory]:
    """Make a fresh, empty database per name; on SQLite a file, on PostgreSQL a schema."""
    schemas: list[str] = []
    if not PG_URL:
        yield lambda name: f"sqlite:///{tmp_path / (name + '.db')}"
        return
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")

    def make(name: str) -> str:
        schema = f"t_{name.replace('-', '_')}_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        schemas.append(schema)
        separator = "&" if "?" in PG_URL else "?"
        return f"{PG_URL}{separator}options={quote(f'-csearch_path={schema}')}"

    yield make
    with admin.connect() as conn:
        for schema in schemas:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def database_url(database_url_factory: DatabaseFactory) -> str:
    """One fresh database."""
    return database_url_factory("node")
