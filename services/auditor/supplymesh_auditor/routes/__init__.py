"""Routers of the auditor node."""
