"""The network ledger's first entry: the network config it runs under.

``network.genesis`` (seq 1, by the PDU) records the network name and the SHA-256 of
the canonical network config, so every replica and the auditor can tell which members,
keys and quorum policies the ledger was started with.
"""

from __future__ import annotations

from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.canonical import canonical_hash
from supplymesh.core.entry import SealedEntry, next_entry, sign_entry
from supplymesh.node.context import Node
from supplymesh.storage.ledger_store import Head

GENESIS_KIND = "network.genesis"


def config_hash(node: Node) -> str:
    """SHA-256 of the canonical network config."""
    return canonical_hash(node.config.model_dump(mode="json", exclude_none=True)).hex()


def genesis_entry(node: Node, head: Head) -> SealedEntry:
    """The genesis entry of an empty network ledger, signed by the PDU."""
    entry = next_entry(
        ledger=NETWORK_LEDGER,
        head=(head.size, head.head_hash),
        time=node.now_text(),
        kind=GENESIS_KIND,
        author=node.id,
        body={"network": node.config.network, "config_sha256": config_hash(node)},
    )
    return SealedEntry(entry, (sign_entry(entry, signer_id=node.id, signer=node.signer),))


def ensure_genesis(node: Node) -> None:
    """Append the genesis entry if the network ledger is empty.

    Not for a PDU marked restored: it learns its ledger back from the partners first
    (:mod:`supplymesh_pdu.recovery`), or it would sign a second genesis.
    """
    if node.recovery.restored:
        return
    with node.store.writer(NETWORK_LEDGER) as writer:
        if writer.head.size == 0:
            writer.append(genesis_entry(node, writer.head))
