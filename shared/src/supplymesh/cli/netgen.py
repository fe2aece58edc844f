"""Generate a network: member ids, keys, ERP tokens and the public network config.

Layout of a state directory::

    DIR/network-config.json     public config every member holds (members, keys, URLs)
    DIR/<node-id>/node.key      the node's Ed25519 private key (0600), only there
    DIR/<node-id>/node.enc.key  the node's X25519 private key (0600), opens channel keys
    DIR/<node-id>/erp-clients.json  hashed ERP tokens of the node
    DIR/<node-id>/erp-token     the plaintext token of the node's default ERP client (0600)
    DIR/<node-id>/node.db       the node's SQLite database (default storage)
    DIR/network.json            written by ``supplymesh up`` once every node is healthy

Running it again on an existing directory reuses every key and token and keeps every
member's URL, so its ports (resume); the config file is rewritten only if it changes. A config
written before channel encryption (members without ``encryption_key``) is migrated on
resume: each node gets a new ``node.enc.key`` and the config its public half.

:func:`prepare` builds (or reuses) a state directory for ``init``, ``up`` and ``demo``;
:func:`write_runtime_file` writes ``DIR/network.json``.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from supplymesh.config import Member, NetworkConfig, Role
from supplymesh.node.erp_clients import CLIENTS_FILE, Scope, add_client, write_private_file
from supplymesh.node.keys import (
    ENC_KEY_FILE,
    KEY_FILE,
    KeyFileError,
    load_enc_key_file,
    load_key_file,
    load_or_generate,
    load_or_generate_enc,
)

CONFIG_FILE = "network-config.json"
TOKEN_FILE = "erp-token"  # noqa: S105 - a file name, not a secret
RUNTIME_FILE = "network.json"
ERP_CLIENT_NAME = "erp"
DEFAULT_BASE_PORT = 8100


@dataclass(frozen=True, slots=True)
class Seat:
    """A member to be: id and role, and its public keys if already known."""

    id: str
    role: Role
    public_key: str | None = None
    encryption_key: str | None = None
    url: str | None = None
    """Kept as it is when given (a network resumed); otherwise made from the base port."""


def _suffixes(count: int) -> list[str]:
    if count <= 26:
        return list(string.ascii_lowercase[:count])
    return [str(i) for i in range(1, count + 1)]


def default_seats(*, suppliers: int = 2, oems: int = 2) -> list[Seat]:
    """OEMs, suppliers, the PDU and the auditor, in port order."""
    if suppliers < 1 or oems < 1:
        raise ValueError("a network needs at least one supplier and one OEM")
    seats = [Seat(f"oem-{s}", Role.OEM) for s in _suffixes(oems)]
    seats += [Seat(f"supplier-{s}", Role.SUPPLIER) for s in _suffixes(suppliers)]
    return [*seats, Seat("pdu", Role.PDU), Seat("auditor", Role.AUDITOR)]


def seats_from_file(path: Path) -> tuple[list[Seat], dict[str, Any]]:
    """Seats and the other settings (network, channels, quorum) of a config file.

    The file is a network config; ``url`` and ``public_key`` of members may be omitted.

    Raises:
        ValueError: if the file is not such a document.
    """
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        members = raw.pop("members")
        seats = [
            Seat(m["id"], Role(m["role"]), m.get("public_key"), m.get("encryption_key"), m.get("url"))
            for m in members
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a network config: {exc}") from exc
    return seats, raw


def scopes_for(role: Role) -> tuple[Scope, ...]:
    """Scopes of a node's default ERP client: the auditor's can write nothing."""
    return ("read", "audit") if role == Role.AUDITOR else ("read", "write")


def ensure_node_files(state_dir: Path, seat: Seat) -> tuple[str, str]:
    """Create (or reuse) the node's keys and ERP token; return its public key texts.

    Returns (signing key, encryption key). An encryption key missing from both the
    config and the node directory is generated (migration of an older config).

    Raises:
        KeyFileError: if the config names a key whose private half is not here.
    """
    node_dir = state_dir / seat.id
    key_path = node_dir / KEY_FILE
    if seat.public_key is not None and not key_path.exists():
        raise KeyFileError(f"the config gives {seat.id} a public key, but {key_path} does not exist")
    signer = load_key_file(key_path) if key_path.exists() else load_or_generate(key_path)
    if seat.public_key is not None and seat.public_key != signer.public_key.text:
        raise KeyFileError(f"{key_path} does not match {seat.id}'s public key in the config")
    enc_path = node_dir / ENC_KEY_FILE
    if seat.encryption_key is not None and not enc_path.exists():
        raise KeyFileError(f"the config gives {seat.id} an encryption key, but {enc_path} does not exist")
    recipient = load_enc_key_file(enc_path) if enc_path.exists() else load_or_generate_enc(enc_path)
    if seat.encryption_key is not None and seat.encryption_key != recipient.public_key.text:
        raise KeyFileError(f"{enc_path} does not match {seat.id}'s encryption key in the config")
    token_path = node_dir / TOKEN_FILE
    if not token_path.exists():
        token = add_client(node_dir / CLIENTS_FILE, ERP_CLIENT_NAME, scopes_for(seat.role))
        write_private_file(token_path, token + "\n")
    return signer.public_key.text, recipient.public_key.text


def build_network(
    state_dir: Path,
    seats: list[Seat],
    *,
    base_port: int,
    host: str = "127.0.0.1",
    url_template: str | None = None,
    extra: dict[str, Any] | None = None,
) -> NetworkConfig:
    """Create node files for every seat and write the public config to ``state_dir``.

    Members' URLs are the seat's own when it has one, else ``http://{host}:{base_port + n}``,
    or ``url_template`` formatted with ``id`` and ``port`` (e.g. ``http://{id}:8000`` inside a
    container network). The config file is written only if its content changes.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    members = []
    for index, seat in enumerate(seats):
        public_key, encryption_key = ensure_node_files(state_dir, seat)
        members.append(
            Member(
                id=seat.id,
                role=seat.role,
                url=seat.url or member_url(url_template, seat.id, host, base_port + index),
                public_key=public_key,
                encryption_key=encryption_key,
            )
        )
    settings = dict(extra or {})
    settings.pop("version", None)
    config = NetworkConfig.model_validate(
        {**settings, "members": [m.model_dump() for m in members]}, strict=False
    )
    path = state_dir / CONFIG_FILE
    if not path.exists() or path.read_text(encoding="utf-8") != config.to_json():
        write_private_file(path, config.to_json())
        path.chmod(0o644)
    return config


def member_url(template: str | None, member_id: str, host: str, port: int) -> str:
    """A member's URL from ``template`` (``{id}``, ``{port}``) or host and port.

    Raises:
        ValueError: if the template names another field or gives no http(s) URL.
    """
    if template is None:
        return f"http://{host}:{port}"
    try:
        url = template.format(id=member_id, port=port)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"bad URL template {template!r}: use {{id}} and {{port}} only") from exc
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"bad URL template {template!r}: it must give an http:// or https:// URL")
    return url.rstrip("/")


def read_token(state_dir: Path, node_id: str) -> str:
    """The plaintext ERP token of ``node_id``'s default client."""
    return (state_dir / node_id / TOKEN_FILE).read_text(encoding="utf-8").strip()


def prepare(
    state_dir: Path,
    config_file: Path | None,
    base_port: int | None,
    suppliers: int = 2,
    oems: int = 2,
    url_template: str | None = None,
) -> NetworkConfig:
    """Keys, tokens and the public config in ``state_dir`` (reused when present).

    A network already in ``state_dir`` keeps the URLs (ports) it was given; ``base_port``
    (default :data:`DEFAULT_BASE_PORT`) places a new network.

    Raises:
        ValueError: if ``base_port`` would move the existing network's ports.
    """
    existing = state_dir / CONFIG_FILE
    if config_file is not None:
        seats, extra = seats_from_file(config_file)
        seats = [replace(seat, url=None) for seat in seats]
    elif existing.exists():
        seats, extra = seats_from_file(existing)
        if base_port is not None:
            check_base_port(existing, seats, base_port)
    else:
        seats, extra = default_seats(suppliers=suppliers, oems=oems), {}
    port = DEFAULT_BASE_PORT if base_port is None else base_port
    return build_network(state_dir, seats, base_port=port, url_template=url_template, extra=extra)


def check_base_port(config_file: Path, seats: list[Seat], base_port: int) -> None:
    """Refuse a ``--base-port`` that would give the members of ``config_file`` other URLs.

    Raises:
        ValueError: naming the ports the network already has.
    """
    wanted = [member_url(None, seat.id, "127.0.0.1", base_port + n) for n, seat in enumerate(seats)]
    if [seat.url for seat in seats] != wanted:
        ports = ", ".join(f"{seat.id} {seat.url}" for seat in seats)
        raise ValueError(
            f"the network in {config_file} already has its URLs ({ports}); --base-port {base_port} "
            "would move them. Omit --base-port to keep them (or edit the config to move the network)"
        )


def write_runtime_file(state_dir: Path, config: NetworkConfig) -> Path:
    """Write ``DIR/network.json`` (URLs and ERP tokens) atomically."""
    nodes = {
        m.id: {"role": str(m.role), "url": m.url, "erp_token": read_token(state_dir, m.id)}
        for m in config.members
    }
    path = state_dir / RUNTIME_FILE
    write_private_file(path, json.dumps({"nodes": nodes}, indent=2) + "\n")
    return path
