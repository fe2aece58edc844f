"""Alembic revisions of the supplier branch (see supplymesh.storage.migrate)."""
