"""The triggers that make entry tables append-only.

The triggers refuse UPDATE and DELETE (and, on PostgreSQL, TRUNCATE) on every table in
:data:`supplymesh.storage.tables.APPEND_ONLY_TABLES`, so an application bug or a casual
``UPDATE`` cannot rewrite history; an insider who drops the triggers is caught by
verification (hash chain, signatures, Merkle consistency), not by the database.
"""

from __future__ import annotations

from supplymesh.storage.tables import APPEND_ONLY_TABLES

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


def trigger_statements(dialect: str, tables: tuple[str, ...] = APPEND_ONLY_TABLES) -> list[str]:
    """DDL creating the append-only triggers on every table that must never change."""
    if dialect == "sqlite":
        return [s for t in tables for s in _sqlite_triggers(t)]
    return [_PG_FUNCTION] + [s for t in tables for s in _pg_triggers(t)]


def drop_trigger_statements(dialect: str, tables: tuple[str, ...] = APPEND_ONLY_TABLES) -> list[str]:
    """DDL removing what :func:`trigger_statements` created."""
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {t}_no_{op}" for t in tables for op in ("update", "delete")]
    drops = [
        f"DROP TRIGGER IF EXISTS {t}_no_{what} ON {t}" for t in tables for what in ("change", "truncate")
    ]
    return [*drops, "DROP FUNCTION IF EXISTS supplymesh_refuse_change()"]
