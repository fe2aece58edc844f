"""SupplyMesh common library: ledger core, storage, identities, node web layer."""

__version__ = "0.1.0"
