"""Pure core of SupplyMesh: canonical JSON, signatures, ledger entries, Merkle proofs.

Nothing in this package performs I/O, reads a clock or draws randomness; callers pass
``now`` and keys in. It may not import web, database or HTTP libraries (checked by
import-linter in CI).
"""
