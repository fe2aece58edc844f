"""Routers of the PDU node."""
