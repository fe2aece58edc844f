"""Create the PostgreSQL test database named by a URL if it does not exist.

Usage: ``python -m tests.pg_setup postgresql+psycopg://user@host:port/dbname``. It
connects to the server's ``postgres`` maintenance database to create ``dbname``.
"""

from __future__ import annotations

import sys

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def ensure_database(url: str) -> None:
    target = make_url(url)
    name = target.database
    if not name or not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing unusual database name {name!r}")
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        if exists is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
            print(f"created database {name}")
    admin.dispose()


if __name__ == "__main__":
    ensure_database(sys.argv[1])
