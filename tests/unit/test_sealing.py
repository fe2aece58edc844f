"""Channel payload sealing, key wrapping, salted commitments, encryption key files and config migration."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from supplymesh.cli.netgen import CONFIG_FILE, build_network, default_seats, seats_from_file
from supplymesh.config import NetworkConfig, Role
from supplymesh.core.commitment import commitment, opens
from supplymesh.core.contracts.channel import EndorsementRefused, check_body
from supplymesh.core.encoding import b64url_encode
from supplymesh.core.recipients import Recipient
from supplymesh.core.sealing import (
    SealingError,
    check_key_entry_body,
    key_entry_body,
    key_id_of,
    open_body,
    seal_body,
    unwrap_key,
)
from supplymesh.node.context import NodeStartupError, open_node
from supplymesh.node.keys import ENC_KEY_FILE, KeyFileError, generate_enc_key_file, load_enc_key_file
from supplymesh.node.settings import NodeSettings
from supplymesh.storage.engine import close_engine

LEDGER = "channel:oem-a:supplier-a"
KEY = bytes(range(32))
NONCE = bytes(12)
WHERE: dict[str, Any] = {"ledger": LEDGER, "seq": 3, "kind": "terms", "author": "oem-a"}


def recipient() -> Recipient:
    return Recipient(X25519PrivateKey.generate())


def test_sealed_body_opens_only_at_its_own_position() -> None:
    sealed = seal_body({"price": "12.5", "days": 30}, key=KEY, nonce=NONCE, **WHERE)
    assert set(sealed) == {"enc"} and sealed["enc"]["key_id"] == key_id_of(KEY)
    assert "12.5" not in json.dumps(sealed)
    assert open_body(sealed, key=KEY, **WHERE) == {"price": "12.5", "days": 30}
    for change in (
        {"seq": 4},
        {"kind": "message"},
        {"author": "supplier-a"},
        {"ledger": "channel:oem-b:supplier-a"},
    ):
        with pytest.raises(SealingError, match="does not decrypt"):
            open_body(sealed, key=KEY, **{**WHERE, **change})
    with pytest.raises(SealingError, match="another key"):
        open_body(sealed, key=bytes(32), **WHERE)
    tampered = {
        "enc": {
            **sealed["enc"],
            "ct": sealed["enc"]["ct"][:-2]
            + ("A" if sealed["enc"]["ct"][-2] != "A" else "B")
            + sealed["enc"]["ct"][-1],
        }
    }
    with pytest.raises(SealingError):
        open_body(tampered, key=KEY, **WHERE)


def test_floats_and_non_objects_are_refused_on_both_sides() -> None:
    with pytest.raises(SealingError):
        seal_body({"x": 1.5}, key=KEY, nonce=NONCE, **WHERE)
    with pytest.raises(SealingError, match="nonce"):
        seal_body({"x": 1}, key=KEY, nonce=bytes(8), **WHERE)


def test_key_entry_wraps_for_each_reader_and_commits_to_the_key() -> None:
    readers = {name: recipient() for name in ("auditor", "oem-a", "supplier-a")}
    body = key_entry_body(
        KEY,
        ledger=LEDGER,
        readers={n: r.public_key for n, r in readers.items()},
        ephemerals={n: X25519PrivateKey.generate() for n in readers},
    )
    assert check_key_entry_body(body, expected_readers=frozenset(readers)) == key_id_of(KEY)
    for name, reader in readers.items():
        assert (
            unwrap_key(
                body["readers"][name], recipient=reader, ledger=LEDGER, reader=name, key_id=body["key_id"]
            )
            == KEY
        )
    outsider = recipient()
    with pytest.raises(SealingError):
        unwrap_key(
            body["readers"]["oem-a"], recipient=outsider, ledger=LEDGER, reader="oem-a", key_id=body["key_id"]
        )
    with pytest.raises(SealingError):  # a wrap cannot be reused for another reader or ledger
        unwrap_key(
            body["readers"]["oem-a"],
            recipient=readers["oem-a"],
            ledger=LEDGER,
            reader="auditor",
            key_id=body["key_id"],
        )
    with pytest.raises(SealingError, match="exactly"):
        check_key_entry_body(body, expected_readers=frozenset({"oem-a", "supplier-a"}))
    # A wrap of some other key under the right id is caught by the commitment.
    other = key_entry_body(
        bytes(32),
        ledger=LEDGER,
        readers={"oem-a": readers["oem-a"].public_key},
        ephemerals={"oem-a": X25519PrivateKey.generate()},
    )
    with pytest.raises(SealingError):
        unwrap_key(
            other["readers"]["oem-a"],
            recipient=readers["oem-a"],
            ledger=LEDGER,
            reader="oem-a",
            key_id=body["key_id"],
        )


def test_private_kinds_must_carry_a_sealed_body() -> None:
    with pytest.raises(EndorsementRefused, match="sealed body"):
        check_body("terms", {"incoterm": "FCA"})
    check_body("terms", seal_body({"incoterm": "FCA"}, key=KEY, nonce=NONCE, **WHERE))
    with pytest.raises(EndorsementRefused):
        check_body("channel.key", {"key_id": "x"})


def test_salted_commitment_hides_guessable_values() -> None:
    salt = os.urandom(32)
    committed = commitment("PAY-1", salt)
    assert committed != commitment("PAY-1", os.urandom(32))
    assert opens(committed, value="PAY-1", salt_text=b64url_encode(salt))
    assert not opens(committed, value="PAY-2", salt_text=b64url_encode(salt))
    with pytest.raises(SealingError):
        commitment("PAY-1", b"short")


def test_derived_secret_is_stable_per_info_and_key() -> None:
    reader = recipient()
    assert reader.derive_secret(b"a") == reader.derive_secret(b"a") != reader.derive_secret(b"b")
    assert recipient().derive_secret(b"a") != reader.derive_secret(b"a")


def test_encryption_key_file_is_private_and_typed(tmp_path: Path) -> None:
    path = tmp_path / ENC_KEY_FILE
    made = generate_enc_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_enc_key_file(path).public_key == made.public_key
    with pytest.raises(KeyFileError):
        generate_enc_key_file(path)
    path.chmod(0o640)
    with pytest.raises(KeyFileError, match="group or others"):
        load_enc_key_file(path)


def test_old_config_without_encryption_keys_is_migrated_on_resume(tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = build_network(state, default_seats(), base_port=18500)
    assert all(m.encryption_key for m in config.members)
    # A config from before channel encryption: no encryption keys, no node.enc.key files.
    raw = json.loads((state / CONFIG_FILE).read_text())
    for member in raw["members"]:
        del member["encryption_key"]
        (state / member["id"] / ENC_KEY_FILE).unlink()
    (state / CONFIG_FILE).write_text(json.dumps(raw))
    old = NetworkConfig.load(state / CONFIG_FILE)  # still reads
    settings = NodeSettings(
        node_id="oem-a",
        node_dir=state / "oem-a",
        network_config=state / CONFIG_FILE,
        database_url="sqlite://",
    )
    with pytest.raises(NodeStartupError, match="no encryption_key"):
        open_node(settings, role=Role.OEM)
    seats, extra = seats_from_file(state / CONFIG_FILE)
    migrated = build_network(state, seats, base_port=18500, extra=extra)
    assert [m.public_key for m in migrated.members] == [m.public_key for m in old.members]
    assert all(m.encryption_key for m in migrated.members)
    seats, extra = seats_from_file(state / CONFIG_FILE)
    again = build_network(state, seats, base_port=18500, extra=extra)  # resume reuses the new keys
    assert [m.encryption_key for m in again.members] == [m.encryption_key for m in migrated.members]
    node = open_node(settings, role=Role.OEM)
    try:
        assert node.recipient.public_key.text == migrated.member("oem-a").encryption_key
    finally:
        close_engine(node.engine)
