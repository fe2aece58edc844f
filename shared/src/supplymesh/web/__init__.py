"""Web layer shared by every node: problems, authentication, idempotency, ledger API."""
