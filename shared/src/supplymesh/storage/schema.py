"""Create a node's schema, including the triggers that make entry tables append-only.

The triggers refuse UPDATE and DELETE (and, on PostgreSQL, TRUNCATE) on every table in
:data:`supplymesh.storage.tables.APPEND_ONLY_TABLES`, so an application bug or a casual
``UPDATE`` cannot rewrite history; an insider who drops the triggers is caught by
verification (hash chain, signatures, Merkle consistency), not by the database.
"""

from __future__ import annotations

from sqlalchemy import Engine, MetaData

from supplymesh.storage.engine import is_sqlite
from supplymesh.storage.tables import APPEND_ONLY_TABLES, metadata

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION supplymesh_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'table %% is append-only: %% refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""


def _sqlite_triggers(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END"
        for op in ("UPDATE", "DELETE")
    ]


def _pg_triggers(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}",
        f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION supplymesh_refuse_change()",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION supplymesh_refuse_change()",
    ]


def create_schema(engine: Engine, extra: MetaData | None = None) -> None:
    """Create all tables (common and ``extra``) and the append-only triggers."""
    metadata.create_all(engine)
    if extra is not None:
        extra.create_all(engine)
    with engine.begin() as conn:
        if is_sqlite(engine):
            statements = [s for t in APPEND_ONLY_TABLES for s in _sqlite_triggers(t)]
        else:
            statements = [_PG_FUNCTION] + [s for t in APPEND_ONLY_TABLES for s in _pg_triggers(t)]
        for statement in statements:
            conn.exec_driver_sql(statement)
