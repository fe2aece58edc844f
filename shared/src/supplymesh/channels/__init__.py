"""Endorsed channel ledgers between one OEM and one supplier (SPEC §2, Algorithm 2)."""
