"""SupplyMesh auditor node."""
