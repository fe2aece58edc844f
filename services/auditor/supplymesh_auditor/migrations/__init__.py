"""Alembic revisions of the auditor branch (see supplymesh.storage.migrate)."""
