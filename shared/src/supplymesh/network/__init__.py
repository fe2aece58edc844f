"""The network ledger at every node: verification, replication, decision validation."""
