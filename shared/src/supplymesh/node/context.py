"""A running node's context: identity, config, database, peers; built once per process.

:func:`open_node` checks that the node's private keys (signing and encryption) match its
entry in the network config (a node with a wrong or missing key refuses to start), opens
the database and creates the schema.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine

from supplymesh.config import Member, NetworkConfig, Role
from supplymesh.core.crypto import Signer
from supplymesh.core.entry import format_time
from supplymesh.core.recipients import Recipient
from supplymesh.node.erp_clients import CLIENTS_FILE, ErpClients
from supplymesh.node.keys import ENC_KEY_FILE, KEY_FILE, KeyFileError, load_enc_key_file, load_key_file
from supplymesh.node.nonces import NonceCache
from supplymesh.node.peers import PeerClient
from supplymesh.node.recovery import Recovery
from supplymesh.node.settings import NodeSettings
from supplymesh.node.tree_cache import TreeCache
from supplymesh.storage.engine import close_engine, make_engine
from supplymesh.storage.ledger_store import LedgerStore
from supplymesh.storage.migrate import MigrationError, migrate
from supplymesh.storage.outbox import Handler, Lane, OutboxWorker


class NodeStartupError(Exception):
    """The node cannot start with these settings."""


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


@dataclass
class Node:
    """Everything a request handler of this node may need."""

    settings: NodeSettings
    config: NetworkConfig
    member: Member
    signer: Signer
    recipient: Recipient
    engine: Engine
    store: LedgerStore
    erp: ErpClients
    peers: PeerClient
    trees: TreeCache
    clock: Callable[[], datetime] = utc_now
    on_start: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    outbox_handlers: dict[str, Handler] = field(default_factory=dict)
    outbox_lanes: dict[str, Lane] = field(default_factory=dict)
    """Outbox tasks delivered in concurrent lanes (e.g. the PDU's pushes, one lane per partner)."""
    outbox: OutboxWorker | None = None
    nonces: NonceCache = field(default_factory=NonceCache)
    recovery: Recovery = field(default_factory=Recovery)
    """What the node recovered from its peers (or lost) after a restore."""

    def __post_init__(self) -> None:
        """Read the recovery marker of the node directory, if ``supplymesh restore`` left one."""
        if self.recovery.node_dir is None:
            self.recovery = Recovery.at_start(self.settings.node_dir)

    @property
    def id(self) -> str:
        """This node's member id."""
        return self.member.id

    @property
    def role(self) -> Role:
        """This node's role."""
        return self.member.role

    def now_text(self) -> str:
        """The current time as ledger text."""
        return format_time(self.clock())

    def start_outbox(self) -> OutboxWorker:
        """Create the outbox worker with every registered handler."""
        self.outbox = OutboxWorker(self.engine, self.outbox_handlers, lanes=self.outbox_lanes)
        return self.outbox

    def wake_outbox(self) -> None:
        """Let the outbox worker look for due tasks now."""
        if self.outbox is not None:
            self.outbox.wake()

    async def aclose(self) -> None:
        """Release connections."""
        await self.peers.aclose()
        close_engine(self.engine)


def open_node(
    settings: NodeSettings,
    *,
    role: Role,
    migrations: Path | None = None,
    peer_mounts: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> Node:
    """Load identity and config, open the database, migrate its schema to this version.

    Raises:
        NodeStartupError: on a missing member, a role or key mismatch.
    """
    config, member = _membership(settings, role)
    signer, recipient = _own_keys(settings, member)
    engine = make_engine(settings.effective_database_url)
    try:
        migrate(engine, [migrations] if migrations is not None else [])
    except MigrationError as exc:
        close_engine(engine)
        raise NodeStartupError(str(exc)) from exc
    store = LedgerStore(engine)
    peers = PeerClient(
        member_id=member.id,
        signer=signer,
        config=config,
        timeout=settings.peer_timeout_seconds,
        mounts=peer_mounts,
    )
    return Node(
        settings=settings,
        config=config,
        member=member,
        signer=signer,
        recipient=recipient,
        engine=engine,
        store=store,
        erp=ErpClients.load(settings.node_dir / CLIENTS_FILE),
        peers=peers,
        trees=TreeCache(store),
    )


def _membership(settings: NodeSettings, role: Role) -> tuple[NetworkConfig, Member]:
    """The network config and this node's member entry in it, of the expected role."""
    try:
        config = NetworkConfig.load(settings.network_config)
    except (OSError, ValueError) as exc:
        raise NodeStartupError(f"cannot read network config: {exc}") from exc
    try:
        member = config.member(settings.node_id)
    except KeyError as exc:
        raise NodeStartupError(f"{settings.node_id} is not a member of the network") from exc
    if member.role != role:
        raise NodeStartupError(f"{member.id} is a {member.role} node, not {role}")
    return config, member


def _own_keys(settings: NodeSettings, member: Member) -> tuple[Signer, Recipient]:
    """This node's signing and encryption keys, checked against its member entry."""
    signer = load_key_file(settings.node_dir / KEY_FILE)
    if signer.public_key.text != member.public_key:
        raise NodeStartupError(f"the key in {settings.node_dir} is not {member.id}'s key in the config")
    if member.encryption_key is None:
        raise NodeStartupError(
            f"the network config has no encryption_key for {member.id} (a config from before channel "
            "encryption): run `supplymesh up` on the state directory once to add the missing keys"
        )
    try:
        recipient = load_enc_key_file(settings.node_dir / ENC_KEY_FILE)
    except KeyFileError as exc:
        raise NodeStartupError(str(exc)) from exc
    if recipient.public_key.text != member.encryption_key:
        raise NodeStartupError(
            f"the encryption key in {settings.node_dir} is not {member.id}'s encryption_key in the config"
        )
    return signer, recipient
