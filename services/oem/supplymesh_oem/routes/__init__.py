"""Routers of the OEM node."""
