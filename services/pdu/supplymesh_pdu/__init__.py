"""SupplyMesh pdu node."""
