"""SupplyMesh oem node."""
