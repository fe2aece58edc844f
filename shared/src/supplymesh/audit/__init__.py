"""The auditor's verification pipeline (SPEC §8): pure checks over pulled ledgers."""
