"""Routers of the supplier node: ERP-facing (dms, orders) and peer-facing (views)."""
