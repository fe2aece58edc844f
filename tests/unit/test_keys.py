"""Tests for supplymesh.node.keys (private key files) and supplymesh.node.erp_clients (ERP tokens)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from supplymesh.node.erp_clients import (
    TOKEN_PREFIX,
    ErpClients,
    add_client,
    token_hash,
)
from supplymesh.node.keys import KeyFileError, generate_key_file, load_key_file, load_or_generate


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


# --- key files --------------------------------------------------------------------


def test_generate_key_file_creates_owner_only_file(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    generate_key_file(path)
    assert mode_of(path) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_generate_key_file_is_owner_only_even_with_permissive_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        path = tmp_path / "node.key"
        generate_key_file(path)
    finally:
        os.umask(previous)
    assert mode_of(path) == 0o600


def test_generate_key_file_creates_missing_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "node.key"
    generate_key_file(path)
    assert path.is_file()


def test_generate_key_file_refuses_to_overwrite_and_leaves_the_old_key(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    first = generate_key_file(path)
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        generate_key_file(path)
    assert path.read_bytes() == before
    assert load_key_file(path).public_key == first.public_key


def test_generate_key_file_refuses_to_overwrite_any_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    path.write_text("not a key")
    with pytest.raises(KeyFileError):
        generate_key_file(path)
    assert path.read_text() == "not a key"


def test_load_key_file_returns_the_same_public_key(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    generated = generate_key_file(path)
    loaded = load_key_file(path)
    assert loaded.public_key == generated.public_key
    assert loaded.key_id == generated.key_id
    message = b"digest to sign"
    generated.public_key.verify(loaded.sign(message), message)


def test_two_generated_keys_differ(tmp_path: Path) -> None:
    assert (
        generate_key_file(tmp_path / "a.key").public_key != generate_key_file(tmp_path / "b.key").public_key
    )


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o620, 0o602, 0o610, 0o601, 0o777])
def test_load_key_file_refuses_file_accessible_by_group_or_others(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "node.key"
    generate_key_file(path)
    path.chmod(mode)
    with pytest.raises(KeyFileError, match="chmod"):
        load_key_file(path)


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_load_key_file_accepts_owner_only_modes(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "node.key"
    generated = generate_key_file(path)
    path.chmod(mode)
    assert load_key_file(path).public_key == generated.public_key


def test_load_key_file_refuses_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="no private key"):
        load_key_file(tmp_path / "absent.key")


def test_load_key_file_refuses_ec_private_key(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    key = ec.generate_private_key(ec.SECP256R1())
    write_private(path, key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    with pytest.raises(KeyFileError, match="not an Ed25519"):
        load_key_file(path)


def test_load_key_file_refuses_rsa_private_key(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    write_private(path, key.private_bytes(Encoding.PEM, PrivateFormat.TraditionalOpenSSL, NoEncryption()))
    with pytest.raises(KeyFileError, match="not an Ed25519"):
        load_key_file(path)


def test_load_key_file_refuses_file_that_is_not_a_pem_key(tmp_path: Path) -> None:
    # KeyFileError's contract covers "not an Ed25519 key"; garbage should not leak a ValueError.
    path = tmp_path / "node.key"
    write_private(path, b"this is not a PEM private key\n")
    with pytest.raises(KeyFileError):
        load_key_file(path)


def test_load_key_file_reads_a_pkcs8_ed25519_key_written_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    key = Ed25519PrivateKey.generate()
    write_private(path, key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    assert load_key_file(path).sign(b"m") == key.sign(b"m")


def test_load_or_generate_creates_once_then_loads_the_same_key(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    first = load_or_generate(path)
    assert mode_of(path) == 0o600
    second = load_or_generate(path)
    assert second.public_key == first.public_key


# --- ERP clients ------------------------------------------------------------------


def test_add_client_returns_token_that_authenticates_with_its_scopes(tmp_path: Path) -> None:
    path = tmp_path / "erp-clients.json"
    token = add_client(path, "erp-main", ("read", "write"))
    assert token.startswith(TOKEN_PREFIX)
    client = ErpClients.load(path).authenticate(token)
    assert client is not None
    assert client.name == "erp-main"
    assert client.scopes == ("read", "write")


def test_each_token_authenticates_its_own_client(tmp_path: Path) -> None:
    path = tmp_path / "erp-clients.json"
    reader = add_client(path, "reader", ("read",))
    auditor = add_client(path, "auditor", ("audit",))
    assert reader != auditor
    clients = ErpClients.load(path)
    found_reader = clients.authenticate(reader)
    found_auditor = clients.authenticate(auditor)
    assert found_reader is not None
    assert found_auditor is not None
    assert (found_reader.name, found_reader.scopes) == ("reader", ("read",))
    assert (found_auditor.name, found_auditor.scopes) == ("auditor", ("audit",))


def test_authenticate_returns_none_for_unknown_token(tmp_path: Path) -> None:
    path = tmp_path / "erp-clients.json"
    token = add_client(path, "erp-main", ("read",))
    clients = ErpClients.load(path)
    for wrong in ["", TOKEN_PREFIX, token + "x", token[:-1], token.upper(), token_hash(token)]:
        assert clients.authenticate(wrong) is None


def test_authenticate_with_no_clients_file_finds_nobody(tmp_path: Path) -> None:
    assert ErpClients.load(tmp_path / "absent.json").authenticate("smk_anything") is None


def test_add_client_refuses_duplicate_name_and_keeps_the_first(tmp_path: Path) -> None:
    path = tmp_path / "erp-clients.json"
    token = add_client(path, "erp-main", ("read",))
    with pytest.raises(ValueError, match="exists"):
        add_client(path, "erp-main", ("write",))
    clients = ErpClients.load(path)
    assert len(clients.clients) == 1
    found = clients.authenticate(token)
    assert found is not None
    assert found.scopes == ("read",)


def test_clients_file_stores_only_the_token_hash(tmp_path: Path) -> None:
    path = tmp_path / "erp-clients.json"
    token = add_client(path, "erp-main", ("read", "audit"))
    text = path.read_text(encoding="utf-8")
    assert token not in text
    assert token.removeprefix(TOKEN_PREFIX) not in text
    assert token.removeprefix(TOKEN_PREFIX)[:16] not in text
    stored = json.loads(text)
    assert stored == [{"name": "erp-main", "token_sha256": token_hash(token), "scopes": ["read", "audit"]}]


def test_clients_file_has_owner_only_mode(tmp_path: Path) -> None:
    path = tmp_path / "erp-clients.json"
    add_client(path, "erp-main", ("read",))
    assert mode_of(path) == 0o600


def test_clients_file_becomes_owner_only_when_it_was_world_readable(tmp_path: Path) -> None:
    path = tmp_path / "erp-clients.json"
    path.write_text("[]\n", encoding="utf-8")
    path.chmod(0o644)
    add_client(path, "erp-main", ("read",))
    assert mode_of(path) == 0o600


def test_add_client_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "erp-clients.json"
    add_client(path, "a", ("read",))
    add_client(path, "b", ("write",))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["erp-clients.json"]
