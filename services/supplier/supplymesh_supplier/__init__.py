"""SupplyMesh supplier node."""
