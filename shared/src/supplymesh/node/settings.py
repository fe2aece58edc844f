"""Settings of one node process, from arguments or ``SUPPLYMESH_*`` environment variables.

A node keeps its files in ``node_dir``: the private key (``node.key``), the ERP clients
(``erp-clients.json``) and, by default, its SQLite database (``node.db``). The public
network config is read from ``network_config``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DB_FILE = "node.db"


class NodeSettings(BaseSettings):
    """Everything a node needs to start."""

    model_config = SettingsConfigDict(env_prefix="SUPPLYMESH_", extra="forbid", frozen=True)

    node_id: str
    node_dir: Path
    network_config: Path
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8100
    max_body_bytes: int = 16 * 1024 * 1024
    body_timeout_seconds: float = Field(default=60.0, gt=0)
    """How long a request body may take to arrive whole before the node answers 408."""
    peer_clock_skew_seconds: int = 300
    peer_timeout_seconds: float = 5.0
    decision_timeout_seconds: float = 3.0
    """PDU only: how long it waits for a supplier's attestation or a partner's vote."""
    audit_interval_seconds: float = 300.0
    """Auditor only: seconds between scheduled audits (0 turns the schedule off)."""
    audit_full_every: int = 12
    """Auditor only: every n-th scheduled audit is full, the others incremental (0: never full)."""
    audit_workers: int = Field(default=0, ge=0)
    """Auditor only: processes verifying signatures in an audit (0: one per core; 1: in-process)."""

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or SQLite in ``node_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.node_dir / DEFAULT_DB_FILE).resolve()}"
