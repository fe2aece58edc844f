"""A member's channel keys: create, wrap, unwrap, seal and open channel payloads.

The keys live on the channel ledger itself (``channel.key`` entries carry the data key
wrapped for each reader) and in the node's ``node.enc.key`` file; nothing else is
stored. Unwrapped keys are cached in memory only.

* **Current key** of a channel = the key of its latest ``channel.key`` entry. New
  private entries are sealed under it; a countersigner refuses a private entry sealed
  under any other key.
* **Rotation** = appending a new ``channel.key`` entry (either member may). Entries
  before it stay readable: their key entries stay on the ledger and every reader can
  still unwrap them.
* **Local sealing** (:meth:`ChannelKeyring.seal_local`): work this node queues for
  later (an OEM entry waiting for its supplier) is sealed to the node's own encryption
  key, so a copy of its database alone reveals no payload either.

This module draws the randomness (data keys, nonces, ephemeral keys) that the pure
:mod:`supplymesh.core.sealing` takes as arguments.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from supplymesh.config import MissingEncryptionKey
from supplymesh.core.canonical import canonicalize
from supplymesh.core.contracts.channel import KEY_KIND, EndorsementRefused, is_private
from supplymesh.core.entry import Entry
from supplymesh.core.recipients import KEY_BYTES, NONCE_BYTES, EncryptionPublicKey, seal_to
from supplymesh.core.sealing import (
    SealingError,
    check_key_entry_body,
    key_entry_body,
    key_id_of,
    open_body,
    seal_body,
    sealed_key_id,
    unwrap_key,
)
from supplymesh.node.context import Node
from supplymesh.storage.entry_records import latest_of_kind


class NoChannelKey(LookupError):
    """The channel has no key entry yet (one must be appended first)."""


class ChannelKeyring:
    """Channel keys of one node."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._keys: dict[tuple[str, str], bytes] = {}

    # -- keys -----------------------------------------------------------------------------

    def readers(self, ledger: str) -> dict[str, EncryptionPublicKey]:
        """Encryption keys of everyone who may read ``ledger``'s payloads.

        Raises:
            MissingEncryptionKey: if the config lacks one of them.
        """
        config = self.node.config
        return {reader: config.member(reader).enc_key for reader in config.channel_readers(ledger)}

    def new_key_body(self, ledger: str) -> dict[str, Any]:
        """Body of a new ``channel.key`` entry: a fresh data key wrapped for every reader.

        Raises:
            MissingEncryptionKey: if a reader has no encryption key in the config.
        """
        key = os.urandom(KEY_BYTES)
        readers = self.readers(ledger)
        ephemerals = {reader: X25519PrivateKey.generate() for reader in readers}
        body = key_entry_body(key, ledger=ledger, readers=readers, ephemerals=ephemerals)
        self._keys[(ledger, body["key_id"])] = key
        return body

    def current_key_id(self, ledger: str) -> str | None:
        """Id of the key new entries of ``ledger`` are sealed under (None: no key yet)."""
        latest = latest_of_kind(self.node.engine, ledger, KEY_KIND)
        return None if latest is None else str(latest.entry.body["key_id"])

    def _unwrap(self, ledger: str, body: Mapping[str, Any]) -> bytes:
        key_id = str(body["key_id"])
        cached = self._keys.get((ledger, key_id))
        if cached is not None:
            return cached
        readers = body.get("readers", {})
        if self.node.id not in readers:
            raise SealingError(f"the key {key_id[:12]}… of {ledger} is not wrapped for {self.node.id}")
        key = unwrap_key(
            readers[self.node.id],
            recipient=self.node.recipient,
            ledger=ledger,
            reader=self.node.id,
            key_id=key_id,
        )
        self._keys[(ledger, key_id)] = key
        return key

    def key(self, ledger: str, key_id: str, *, before_seq: int | None = None) -> bytes:
        """The data key ``key_id`` of ``ledger``, from its key entry on this node's copy.

        Raises:
            SealingError: if there is no such key entry (before ``before_seq``) or it does not unwrap.
        """
        cached = self._keys.get((ledger, key_id))
        sealed = None
        if cached is None or before_seq is not None:
            sealed = latest_of_kind(self.node.engine, ledger, KEY_KIND, key_id=key_id)
            if sealed is None or (before_seq is not None and sealed.entry.seq >= before_seq):
                raise SealingError(f"{ledger} has no key {key_id[:12]}… before this entry")
        if cached is not None:
            return cached
        assert sealed is not None
        return self._unwrap(ledger, sealed.entry.body)

    # -- payloads ------------------------------------------------------------------------

    def seal(
        self, *, ledger: str, seq: int, kind: str, author: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Seal ``body`` under the channel's current key for the entry at ``seq``.

        Raises:
            NoChannelKey: if the channel has no key entry yet.
        """
        key_id = self.current_key_id(ledger)
        if key_id is None:
            raise NoChannelKey(ledger)
        key = self.key(ledger, key_id)
        return seal_body(
            body, key=key, nonce=os.urandom(NONCE_BYTES), ledger=ledger, seq=seq, kind=kind, author=author
        )

    def open(self, entry: Entry) -> dict[str, Any]:
        """The plaintext body of a channel entry (bodies of other kinds as they are).

        Raises:
            SealingError: if a sealed body cannot be opened here.
        """
        if not is_private(entry.kind):
            return dict(entry.body)
        key = self.key(entry.ledger, sealed_key_id(entry.body), before_seq=entry.seq)
        return open_body(
            entry.body, key=key, ledger=entry.ledger, seq=entry.seq, kind=entry.kind, author=entry.author
        )

    def check_entry(self, entry: Entry) -> None:
        """What a countersigner checks with its keys before signing ``entry``.

        ``entry`` must continue this member's copy. A key entry must wrap for exactly the
        members and the auditor, and this member's wrap must unwrap to the key its id
        names. A private entry must be sealed under the channel's current key and open
        to a JSON object. (The auditor checks its own wrap of every key.)

        Raises:
            EndorsementRefused: naming what does not hold.
        """
        try:
            if entry.kind == KEY_KIND:
                check_key_entry_body(entry.body, expected_readers=frozenset(self.readers(entry.ledger)))
                key = self._unwrap(entry.ledger, entry.body)
                if key_id_of(key) != entry.body["key_id"]:
                    raise SealingError("the wrapped key is not the key its id names")
            elif is_private(entry.kind):
                key_id = sealed_key_id(entry.body)
                current = self.current_key_id(entry.ledger)
                if key_id != current:
                    raise SealingError(f"sealed under key {key_id[:12]}…, not the channel's current key")
                self.open(entry)
        except (SealingError, MissingEncryptionKey, KeyError) as exc:
            raise EndorsementRefused(f"payload check failed: {exc}") from exc

    # -- this node's own data at rest --------------------------------------------------------

    def seal_local(self, value: Mapping[str, Any], purpose: str) -> dict[str, str]:
        """Seal ``value`` to this node's own encryption key (e.g. queued work in the outbox)."""
        aad = canonicalize({"type": "supplymesh.local.v1", "node": self.node.id, "purpose": purpose})
        return seal_to(
            self.node.recipient.public_key,
            canonicalize(dict(value)),
            aad,
            ephemeral=X25519PrivateKey.generate(),
        )

    def open_local(self, sealed: Mapping[str, Any], purpose: str) -> dict[str, Any]:
        """Open what :meth:`seal_local` sealed for ``purpose``.

        Raises:
            SealingError: if it does not open.
        """
        aad = canonicalize({"type": "supplymesh.local.v1", "node": self.node.id, "purpose": purpose})
        value = json.loads(self.node.recipient.open(sealed, aad))
        if not isinstance(value, dict):
            raise SealingError("not a JSON object")
        return value
