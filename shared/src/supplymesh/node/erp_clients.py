"""ERP clients of a node: bearer tokens, stored only as SHA-256 hashes, with scopes.

A node's ``erp-clients.json`` lists ``{"name", "token_sha256", "scopes"}``. Scopes:
``read`` (GET the node's API), ``write`` (POSTs and PUTs that change the node's state),
``audit`` (run audits on the auditor). The plaintext token is shown once, when the
client is created.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Scope = Literal["read", "write", "audit"]
CLIENTS_FILE = "erp-clients.json"
TOKEN_PREFIX = "smk_"  # noqa: S105 - a prefix that makes leaked tokens easy to spot, not a secret


class ErpClient(BaseModel):
    """One ERP client of a node."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    scopes: tuple[Scope, ...]


def token_hash(token: str) -> str:
    """Hex SHA-256 of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


class ErpClients:
    """The clients of one node; looks tokens up in constant time per client."""

    def __init__(self, clients: list[ErpClient]) -> None:
        self.clients = clients

    def authenticate(self, token: str) -> ErpClient | None:
        """The client owning ``token``, or None."""
        digest = token_hash(token)
        found = None
        for client in self.clients:
            if hmac.compare_digest(client.token_sha256, digest):
                found = client
        return found

    @classmethod
    def load(cls, path: Path) -> ErpClients:
        """Read ``path``; a missing file means no clients."""
        if not path.exists():
            return cls([])
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls([ErpClient.model_validate(item) for item in raw])


def add_client(path: Path, name: str, scopes: tuple[Scope, ...]) -> str:
    """Create client ``name`` in ``path`` and return its new plaintext token.

    Raises:
        ValueError: if a client of that name exists.
    """
    clients = ErpClients.load(path).clients
    if any(c.name == name for c in clients):
        raise ValueError(f"ERP client {name!r} exists already")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    clients.append(ErpClient(name=name, token_sha256=token_hash(token), scopes=scopes))
    write_private_file(path, json.dumps([c.model_dump() for c in clients], indent=2) + "\n")
    return token


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` atomically (temporary file, then rename) with mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
