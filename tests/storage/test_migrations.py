"""Alembic migrations: every role's database gets exactly its schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData, inspect, text
from sqlalchemy.exc import DBAPIError

import supplymesh_auditor.main
import supplymesh_oem.main
import supplymesh_supplier.main
from supplymesh.storage import tables as common_tables
from supplymesh.storage.engine import close_engine, make_engine, write_transaction
from supplymesh.storage.migrate import (
    VERSION_TABLE,
    MigrationError,
    current_heads,
    downgrade_all,
    migrate,
    script_directory,
)
from supplymesh.storage.schema import trigger_statements
from supplymesh_auditor import tables as auditor_tables
from supplymesh_oem import tables as oem_tables
from supplymesh_supplier import tables as supplier_tables

pytestmark = pytest.mark.db

FIRST_COMMON_TABLES = importlib.import_module("supplymesh.storage.migrations.0001_common").CREATES

ROLES: dict[str, tuple[list[Path], list[MetaData]]] = {
    "pdu": ([], [common_tables.metadata]),
    "supplier": ([supplymesh_supplier.main.MIGRATIONS], [common_tables.metadata, supplier_tables.metadata]),
    "oem": ([supplymesh_oem.main.MIGRATIONS], [common_tables.metadata, oem_tables.metadata]),
    "auditor": ([supplymesh_auditor.main.MIGRATIONS], [common_tables.metadata, auditor_tables.metadata]),
}


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    close_engine(eng)


def _combined(metadatas: list[MetaData]) -> MetaData:
    combined = MetaData()
    for metadata in metadatas:
        for table in metadata.tables.values():
            table.to_metadata(combined)
    return combined


def _user_tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {VERSION_TABLE}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_migrations_build_exactly_the_tables_the_code_uses(engine: Engine, role: str) -> None:
    locations, metadatas = ROLES[role]
    migrate(engine, locations)
    expected = _combined(metadatas)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), expected)
    assert diff == []
    assert _user_tables(engine) == set(expected.tables)


def test_a_pdu_database_gets_no_partner_tables(engine: Engine) -> None:
    migrate(engine)
    tables = _user_tables(engine)
    assert "dms_readings" not in tables
    assert "demands" not in tables
    assert "audit_reports" not in tables


def test_migrating_twice_changes_nothing(engine: Engine) -> None:
    locations = ROLES["supplier"][0]
    first = migrate(engine, locations)
    assert migrate(engine, locations) == first == ("0001_supplier", "0002_common_blocks")
    assert current_heads(engine) == first


def test_the_migrated_schema_is_append_only(engine: Engine) -> None:
    migrate(engine)
    with write_transaction(engine) as conn:
        conn.execute(
            text(
                "INSERT INTO events (type, subject, data, created) "
                "VALUES ('t', 's', '{}', '2026-01-01T00:00:00Z')"
            )
        )
    with pytest.raises(DBAPIError, match="append-only"), write_transaction(engine) as conn:
        conn.execute(text("UPDATE events SET data = '{\"x\": 1}'"))
    with pytest.raises(DBAPIError, match="append-only"), write_transaction(engine) as conn:
        conn.execute(text("DELETE FROM events"))


def test_downgrade_removes_every_table_and_trigger(engine: Engine) -> None:
    locations = ROLES["oem"][0]
    migrate(engine, locations)
    downgrade_all(engine, locations)
    assert _user_tables(engine) == set()
    assert current_heads(engine) == ()
    migrate(engine, locations)  # and it comes back
    assert "demands" in _user_tables(engine)


def test_a_database_made_before_migrations_is_adopted(engine: Engine) -> None:
    # made by the code of the first revision: its tables only, then migrated onwards
    first = [common_tables.metadata.tables[name] for name in FIRST_COMMON_TABLES]
    common_tables.metadata.create_all(engine, tables=first)
    supplier_tables.metadata.create_all(engine)
    with write_transaction(engine) as conn:
        for statement in trigger_statements(engine.dialect.name):
            conn.exec_driver_sql(statement)
        conn.execute(
            text(
                "INSERT INTO ledgers (name, size, head_hash) VALUES ('network', 0, :h)",
            ),
            {"h": "0" * 64},
        )
    assert migrate(engine, ROLES["supplier"][0]) == ("0001_supplier", "0002_common_blocks")
    assert "pending_blocks" in _user_tables(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM ledgers")).scalars().all() == ["network"]


def test_a_half_made_database_is_refused(engine: Engine) -> None:
    common_tables.metadata.tables["ledger_entries"].create(engine)
    with pytest.raises(MigrationError, match="part of revision 0001_common"):
        migrate(engine)


def test_a_database_from_a_newer_version_is_refused(engine: Engine) -> None:
    migrate(engine)
    with write_transaction(engine) as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999_future'"))
    with pytest.raises(MigrationError, match="9999_future"):
        migrate(engine)


def test_every_revision_file_is_reachable_from_a_head() -> None:
    locations = [loc for paths, _ in ROLES.values() for loc in paths]
    script = script_directory(locations)
    revisions = {rev.revision for rev in script.walk_revisions()}
    files = {
        path.stem for location in [Path(script.dir), *locations] for path in Path(location).glob("[0-9]*.py")
    }
    assert files == revisions
