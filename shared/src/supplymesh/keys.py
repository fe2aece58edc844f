"""Key files: generate Ed25519 keys and keep private keys readable only by their owner.

A node's private key is a PKCS#8 PEM file created with mode 0600 (never widened
afterwards); loading refuses a key file that group or others can read, as OpenSSH does,
because a key others could read must be treated as leaked.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from supplymesh.core.crypto import Signer

KEY_FILE = "node.key"


class KeyFileError(Exception):
    """A key file is missing, unreadable, too widely readable or not an Ed25519 key."""


def generate_key_file(path: Path) -> Signer:
    """Create a new private key at ``path`` (mode 0600); refuse to overwrite one.

    Raises:
        KeyFileError: if a file already exists there.
    """
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise KeyFileError(f"{path} exists; refusing to overwrite a private key") from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return Signer(key)


def load_key_file(path: Path) -> Signer:
    """Load a private key written by :func:`generate_key_file`.

    Raises:
        KeyFileError: if missing, readable by group/others, or not Ed25519.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as exc:
        raise KeyFileError(f"no private key at {path}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{path} is accessible by group or others (mode {stat.S_IMODE(mode):o}); run chmod 600 on it"
        )
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"{path} is not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 private key")
    return Signer(key)


def load_or_generate(path: Path) -> Signer:
    """Load the key at ``path``, creating it first if there is none."""
    if path.exists():
        return load_key_file(path)
    return generate_key_file(path)
