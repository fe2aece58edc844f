"""Alembic revisions of the oem branch (see supplymesh.storage.migrate)."""
