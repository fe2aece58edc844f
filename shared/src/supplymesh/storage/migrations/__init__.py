"""Alembic revisions of the common branch (see supplymesh.storage.migrate)."""
