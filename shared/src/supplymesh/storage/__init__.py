"""Storage: SQLAlchemy engines, tables, and the append-only ledger store.

SQLite (WAL, synchronous=FULL) is the embedded default; PostgreSQL (psycopg 3) is
selected by URL. Entry tables are append-only in the database itself (triggers).
"""
