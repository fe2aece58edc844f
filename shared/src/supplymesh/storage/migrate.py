"""Alembic migrations for node databases, run at node start-up.

Every node database carries the common schema (branch ``common``, in
``supplymesh/storage/migrations``); a role with tables of its own adds a branch whose
first revision depends on the common base (e.g. ``supplier`` in
``supplymesh_supplier/migrations``). :func:`migrate` upgrades a database to the heads of
exactly the branches it is given, so a PDU database never receives the supplier's DMS
tables.

A database created before migrations existed (tables present, no ``alembic_version``)
is adopted: its schema is checked to hold the base tables and stamped at the base
revisions, then upgraded as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

from supplymesh.storage.engine import write_transaction

COMMON_MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"


class MigrationError(Exception):
    """The database cannot be brought to the schema this version needs."""


def script_directory(locations: Sequence[Path]) -> ScriptDirectory:
    """The revisions of the common branch and of ``locations`` (role branches)."""
    all_locations = [COMMON_MIGRATIONS, *(p for p in locations if p != COMMON_MIGRATIONS)]
    return ScriptDirectory(
        str(COMMON_MIGRATIONS),
        version_locations=[str(p) for p in all_locations],
    )


def current_heads(engine: Engine) -> tuple[str, ...]:
    """The revisions the database is at (empty for a new database)."""
    with engine.connect() as conn:
        return tuple(sorted(MigrationContext.configure(conn).get_current_heads()))


def migrate(engine: Engine, locations: Sequence[Path] = ()) -> tuple[str, ...]:
    """Upgrade the database to the heads of the common branch and ``locations``.

    Returns the revisions the database is at afterwards.

    Raises:
        MigrationError: if the database is ahead of this version or unknown to it.
    """
    script = script_directory(locations)
    with write_transaction(engine) as conn:
        _adopt_unversioned(conn, script)
        context = MigrationContext.configure(conn)
        known = {rev.revision for rev in script.walk_revisions()}
        unknown = set(context.get_current_heads()) - known
        if unknown:
            raise MigrationError(
                f"the database is at revision(s) {sorted(unknown)}, unknown to this version "
                "(was it migrated by a newer SupplyMesh?)"
            )
        _run(conn, script, lambda rev, _ctx: script._upgrade_revs("heads", rev))
    return current_heads(engine)


def downgrade_all(engine: Engine, locations: Sequence[Path] = ()) -> None:
    """Undo every migration (drops SupplyMesh's tables); for tests and tear-down."""
    script = script_directory(locations)
    with write_transaction(engine) as conn:
        _run(conn, script, lambda rev, _ctx: script._downgrade_revs("base", rev))


def _run(conn: Connection, script: ScriptDirectory, fn: Any) -> None:
    with EnvironmentContext(Config(), script, fn=fn) as env:
        env.configure(connection=conn, version_table=VERSION_TABLE, transactional_ddl=True)
        env.run_migrations()


def _adopt_unversioned(conn: Connection, script: ScriptDirectory) -> None:
    tables = set(inspect(conn).get_table_names())
    if VERSION_TABLE in tables or "ledger_entries" not in tables:
        return
    bases: list[str] = []
    for base in script.get_bases():
        revision = script.get_revision(base)
        needed = set(getattr(revision.module, "CREATES", ()))
        if needed and needed <= tables:
            bases.append(base)
        elif needed & tables:
            raise MigrationError(
                f"the database holds part of revision {base}'s tables "
                f"({sorted(needed & tables)}) but not {sorted(needed - tables)}: repair it by hand"
            )
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    for base in bases:
        context.stamp(script, base)
