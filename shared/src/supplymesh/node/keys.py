"""Key files: generate keys and keep private keys readable only by their owner.

A node has two private keys, each a PKCS#8 PEM file created with mode 0600 (never
widened afterwards): ``node.key`` (Ed25519, signs) and ``node.enc.key`` (X25519, opens
channel keys wrapped for the node). Loading refuses a key file that group or others can
read, as OpenSSH does, because a key others could read must be treated as leaked.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from supplymesh.core.crypto import Signer
from supplymesh.core.recipients import Recipient

KEY_FILE = "node.key"
ENC_KEY_FILE = "node.enc.key"


class KeyFileError(Exception):
    """A key file is missing, unreadable, too widely readable or not an Ed25519 key."""


def _write_new_private(path: Path, pem: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise KeyFileError(f"{path} exists; refusing to overwrite a private key") from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def generate_key_file(path: Path) -> Signer:
    """Create a new private key at ``path`` (mode 0600); refuse to overwrite one.

    Raises:
        KeyFileError: if a file already exists there.
    """
    key = Ed25519PrivateKey.generate()
    _write_new_private(path, key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return Signer(key)


def load_key_file(path: Path) -> Signer:
    """Load a private key written by :func:`generate_key_file`.

    Raises:
        KeyFileError: if missing, readable by group/others, or not Ed25519.
    """
    key = _load_private(path)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 private key")
    return Signer(key)


def generate_enc_key_file(path: Path) -> Recipient:
    """Create a new X25519 private key at ``path`` (mode 0600); refuse to overwrite one.

    Raises:
        KeyFileError: if a file already exists there.
    """
    key = X25519PrivateKey.generate()
    _write_new_private(path, key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return Recipient(key)


def load_enc_key_file(path: Path) -> Recipient:
    """Load an encryption key written by :func:`generate_enc_key_file`.

    Raises:
        KeyFileError: if missing, readable by group/others, or not X25519.
    """
    key = _load_private(path)
    if not isinstance(key, X25519PrivateKey):
        raise KeyFileError(f"{path} is not an X25519 private key")
    return Recipient(key)


def load_or_generate_enc(path: Path) -> Recipient:
    """Load the encryption key at ``path``, creating it first if there is none."""
    if path.exists():
        return load_enc_key_file(path)
    return generate_enc_key_file(path)


def _load_private(path: Path) -> object:
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
    return key


def load_or_generate(path: Path) -> Signer:
    """Load the key at ``path``, creating it first if there is none."""
    if path.exists():
        return load_key_file(path)
    return generate_key_file(path)
