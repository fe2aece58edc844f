"""SupplyMesh common library."""
