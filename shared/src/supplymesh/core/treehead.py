"""Signed tree heads: a holder's signed statement of a ledger's size and Merkle root.

A tree head binds ``(ledger, tree_size, root_hash, head_hash, timestamp)`` under the
holder's Ed25519 key; ``root_hash`` is the RFC 9162 Merkle tree hash over the ledger's
leaves (see :class:`supplymesh.core.entry.SealedEntry`), ``head_hash`` the hash of the
last entry. The signed object carries a ``type`` tag so a tree-head signature can never
be mistaken for an entry or decision signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from supplymesh.core.canonical import canonical_hash
from supplymesh.core.crypto import PublicKey, SignatureError, Signer

TREE_HEAD_TYPE = "supplymesh.tree-head.v1"


@dataclass(frozen=True, slots=True)
class TreeHead:
    """An unsigned tree head."""

    ledger: str
    tree_size: int
    root_hash: str
    head_hash: str
    timestamp: str
    signer: str

    def as_json(self) -> dict[str, object]:
        """The signed JSON object (with its type tag)."""
        return {
            "type": TREE_HEAD_TYPE,
            "ledger": self.ledger,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "head_hash": self.head_hash,
            "timestamp": self.timestamp,
            "signer": self.signer,
        }

    @property
    def digest(self) -> bytes:
        """SHA-256 over the canonical JSON; what the signature covers."""
        return canonical_hash(self.as_json())


@dataclass(frozen=True, slots=True)
class SignedTreeHead:
    """A tree head and the holder's signature over it."""

    head: TreeHead
    signature: str

    def as_json(self) -> dict[str, object]:
        """The tree head fields plus ``signature``."""
        return {**self.head.as_json(), "signature": self.signature}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> SignedTreeHead:
        """Parse the served form.

        Raises:
            ValueError: if a field is missing, of the wrong type, or the type tag is wrong.
        """
        expected = {"type", "ledger", "tree_size", "root_hash", "head_hash", "timestamp"}
        if not expected | {"signer", "signature"} <= set(value):
            raise ValueError("tree head is missing fields")
        if value["type"] != TREE_HEAD_TYPE:
            raise ValueError(f"not a {TREE_HEAD_TYPE} object")
        size = value["tree_size"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError("tree_size must be a non-negative integer")
        text_fields = ("ledger", "root_hash", "head_hash", "timestamp", "signer", "signature")
        if not all(isinstance(value[k], str) for k in text_fields):
            raise ValueError("tree head text fields must be strings")
        head = TreeHead(
            ledger=value["ledger"],
            tree_size=size,
            root_hash=value["root_hash"],
            head_hash=value["head_hash"],
            timestamp=value["timestamp"],
            signer=value["signer"],
        )
        return cls(head=head, signature=value["signature"])


def sign_tree_head(head: TreeHead, signer: Signer) -> SignedTreeHead:
    """Sign ``head`` with the holder's key."""
    return SignedTreeHead(head=head, signature=signer.sign_text(head.digest))


def verify_tree_head(sth: SignedTreeHead, key: PublicKey) -> None:
    """Check the holder's signature on ``sth``.

    Raises:
        SignatureError: if it does not verify.
    """
    try:
        key.verify_text(sth.signature, sth.head.digest)
    except SignatureError as exc:
        raise SignatureError(f"tree head of {sth.head.ledger} by {sth.head.signer}: {exc}") from exc
