"""Who may read which ledger over the peer API (SPEC §2).

* the network ledger: every member;
* a channel ledger: its two members and the auditor, read-only; never the PDU, which
  gets only the capacity and quality views, and never anyone else.

A node's own ERP clients may read every ledger the node holds.
"""

from __future__ import annotations

from supplymesh.config import NETWORK_LEDGER, NetworkConfig, Role


def peer_may_read(config: NetworkConfig, reader: str, ledger: str) -> bool:
    """True if member ``reader`` may read raw entries of ``ledger``."""
    try:
        role = config.member(reader).role
    except KeyError:
        return False
    if ledger == NETWORK_LEDGER:
        return True
    channel = config.channel(ledger)
    if channel is None:
        return False
    return role == Role.AUDITOR or reader in (channel.oem, channel.supplier)
