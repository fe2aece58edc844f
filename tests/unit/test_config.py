"""Tests for supplymesh.config: the public network configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from supplymesh.config import (
    Channel,
    Member,
    NetworkConfig,
    QuorumPolicies,
    QuorumPolicy,
    Role,
    channel_ledger,
)
from supplymesh.core.crypto import PublicKey, Signer
from supplymesh.core.encoding import b64url_encode


def new_key() -> str:
    return Signer(Ed25519PrivateKey.generate()).public_key.text


def member(member_id: str, role: str, key: str | None = None) -> dict[str, Any]:
    return {"id": member_id, "role": role, "url": f"http://{member_id}:8000", "public_key": key or new_key()}


def network(*members: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"members": list(members), **extra}


def standard_members() -> list[dict[str, Any]]:
    return [
        member("oem-1", "oem"),
        member("oem-2", "oem"),
        member("supplier-1", "supplier"),
        member("supplier-2", "supplier"),
        member("pdu", "pdu"),
        member("auditor", "auditor"),
    ]


def build(raw: dict[str, Any]) -> NetworkConfig:
    return NetworkConfig.model_validate(raw, strict=False)


@pytest.fixture
def config() -> NetworkConfig:
    return build(network(*standard_members()))


# --- a valid network ------------------------------------------------------------


def test_config_built_from_member_objects_is_valid() -> None:
    members = [Member.model_validate(m, strict=False) for m in standard_members()]
    config = NetworkConfig(members=members)
    assert [m.id for m in config.members] == ["oem-1", "oem-2", "supplier-1", "supplier-2", "pdu", "auditor"]
    assert config.members[0].role is Role.OEM


def test_all_channels_is_every_oem_supplier_pair_named_channel_oem_supplier(config: NetworkConfig) -> None:
    channels = config.all_channels()
    assert {(c.oem, c.supplier) for c in channels} == {
        ("oem-1", "supplier-1"),
        ("oem-1", "supplier-2"),
        ("oem-2", "supplier-1"),
        ("oem-2", "supplier-2"),
    }
    assert len(channels) == 4
    assert {c.id for c in channels} == {
        "channel:oem-1:supplier-1",
        "channel:oem-1:supplier-2",
        "channel:oem-2:supplier-1",
        "channel:oem-2:supplier-2",
    }
    assert channel_ledger("oem-1", "supplier-2") == "channel:oem-1:supplier-2"


def test_partners_are_the_oems_and_suppliers(config: NetworkConfig) -> None:
    assert [m.id for m in config.partners()] == ["oem-1", "oem-2", "supplier-1", "supplier-2"]


def test_pdu_auditor_and_by_role(config: NetworkConfig) -> None:
    assert config.pdu.id == "pdu"
    assert config.auditor.id == "auditor"
    assert [m.id for m in config.by_role(Role.SUPPLIER)] == ["supplier-1", "supplier-2"]


def test_member_finds_by_id_and_raises_key_error_for_unknown(config: NetworkConfig) -> None:
    assert config.member("supplier-2").role is Role.SUPPLIER
    with pytest.raises(KeyError):
        config.member("supplier-3")
    with pytest.raises(KeyError):
        config.member("")


def test_channel_looks_up_by_ledger_name(config: NetworkConfig) -> None:
    found = config.channel("channel:oem-2:supplier-1")
    assert found == Channel(oem="oem-2", supplier="supplier-1")
    assert config.channel("channel:supplier-1:oem-2") is None
    assert config.channel("channel:oem-2:supplier-3") is None
    assert config.channel("network") is None


def test_channels_of_lists_a_members_channels(config: NetworkConfig) -> None:
    assert {c.id for c in config.channels_of("supplier-1")} == {
        "channel:oem-1:supplier-1",
        "channel:oem-2:supplier-1",
    }
    assert config.channels_of("pdu") == []


def test_keys_maps_member_ids_to_their_public_keys() -> None:
    raw = network(*standard_members())
    config = build(raw)
    keys = config.keys()
    assert set(keys) == {m["id"] for m in raw["members"]}
    for item in raw["members"]:
        assert keys[item["id"]] == PublicKey.from_text(item["public_key"])


def test_explicit_channel_list_replaces_the_full_mesh() -> None:
    config = build(network(*standard_members(), channels=[{"oem": "oem-2", "supplier": "supplier-1"}]))
    assert config.all_channels() == [Channel(oem="oem-2", supplier="supplier-1")]
    assert config.channel("channel:oem-1:supplier-1") is None


def test_network_of_three_suppliers_and_one_oem_has_three_channels() -> None:
    config = build(
        network(
            member("oem-x", "oem"),
            member("s-1", "supplier"),
            member("s-2", "supplier"),
            member("s-3", "supplier"),
            member("pdu", "pdu"),
            member("audit", "auditor"),
        )
    )
    assert [c.id for c in config.all_channels()] == [
        "channel:oem-x:s-1",
        "channel:oem-x:s-2",
        "channel:oem-x:s-3",
    ]
    assert len(config.partners()) == 4
    assert config.channel("channel:oem-x:s-3") == Channel(oem="oem-x", supplier="s-3")


def test_default_quorum_is_more_than_two_thirds_of_partners(config: NetworkConfig) -> None:
    assert config.quorum.default == QuorumPolicy(of="partners", more_than="2/3", at_least=None)
    assert config.quorum.kinds == {}


@pytest.mark.parametrize(
    "policy",
    [
        {"more_than": "1/2"},
        {"more_than": None, "at_least": 3},
        {"of": ["oem-1", "supplier-1"], "more_than": None, "at_least": 1},
        {"of": ["oem-1", "supplier-1", "supplier-2"], "more_than": "10/15"},
    ],
)
def test_quorum_policy_accepts_exactly_one_threshold(policy: dict[str, Any]) -> None:
    parsed = QuorumPolicy.model_validate(policy, strict=False)
    assert (parsed.more_than is None) != (parsed.at_least is None)


# --- invalid networks -----------------------------------------------------------


def test_config_refuses_duplicate_member_ids() -> None:
    members = standard_members()
    members[1]["id"] = "oem-1"
    with pytest.raises(ValidationError, match="unique"):
        build(network(*members))


def test_config_refuses_two_members_sharing_a_key() -> None:
    members = standard_members()
    members[3]["public_key"] = members[2]["public_key"]
    with pytest.raises(ValidationError, match="own key"):
        build(network(*members))


def test_config_refuses_two_pdus() -> None:
    with pytest.raises(ValidationError, match="pdu"):
        build(network(*standard_members(), member("pdu-2", "pdu")))


def test_config_refuses_network_without_pdu() -> None:
    members = [m for m in standard_members() if m["role"] != "pdu"]
    with pytest.raises(ValidationError, match="pdu"):
        build(network(*members))


def test_config_refuses_network_without_auditor() -> None:
    members = [m for m in standard_members() if m["role"] != "auditor"]
    with pytest.raises(ValidationError, match="auditor"):
        build(network(*members))


def test_config_refuses_two_auditors() -> None:
    with pytest.raises(ValidationError, match="auditor"):
        build(network(*standard_members(), member("auditor-2", "auditor")))


@pytest.mark.parametrize(
    "key",
    [
        "not-a-key",
        b64url_encode(b"\x01" * 31),
        b64url_encode(b"\x01" * 33),
        b64url_encode(b"\x01" * 32) + "=",
        b64url_encode(b"\x01" * 32).replace("-", "+").replace("_", "/") + "+",
        " " + b64url_encode(b"\x01" * 32),
    ],
    ids=["words", "31-bytes", "33-bytes", "padded", "standard-alphabet", "leading-space"],
)
def test_config_refuses_bad_public_key_text(key: str) -> None:
    members = standard_members()
    members[0]["public_key"] = key
    with pytest.raises(ValidationError):
        build(network(*members))


@pytest.mark.parametrize(
    "channel",
    [
        {"oem": "supplier-1", "supplier": "supplier-2"},
        {"oem": "oem-1", "supplier": "oem-2"},
        {"oem": "supplier-1", "supplier": "oem-1"},
        {"oem": "oem-1", "supplier": "pdu"},
        {"oem": "oem-1", "supplier": "supplier-9"},
    ],
    ids=["two-suppliers", "two-oems", "reversed", "pdu", "unknown-member"],
)
def test_config_refuses_channel_not_joining_an_oem_and_a_supplier(channel: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="must join an oem and a supplier"):
        build(network(*standard_members(), channels=[channel]))


def test_config_refuses_unknown_top_level_field() -> None:
    with pytest.raises(ValidationError, match="extra"):
        build(network(*standard_members(), admins=["oem-1"]))


def test_config_refuses_unknown_member_field() -> None:
    members = standard_members()
    members[0]["private_key"] = "secret"
    with pytest.raises(ValidationError, match="extra"):
        build(network(*members))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "Supplier-1"),
        ("id", "-x"),
        ("id", "a" * 64),
        ("url", "ftp://x"),
        ("url", "http://x/path"),
        ("role", "admin"),
    ],
)
def test_config_refuses_invalid_member_field(field: str, value: str) -> None:
    members = standard_members()
    members[2][field] = value
    with pytest.raises(ValidationError):
        build(network(*members))


@pytest.mark.parametrize(
    "policy",
    [
        {"more_than": "2/3", "at_least": 2},
        {"more_than": None},
        {"more_than": None, "at_least": None},
        {"more_than": "two-thirds"},
        {"more_than": "0/3"},
        {"more_than": "2/0"},
        {"more_than": "-1/3"},
        {"more_than": "2/3 "},
        {"more_than": "0.66"},
        {"more_than": None, "at_least": 0},
        {"more_than": None, "at_least": -1},
        {"of": "everyone"},
        {"of": "all"},
    ],
    ids=[
        "both-thresholds",
        "neither-threshold",
        "neither-explicit",
        "fraction-words",
        "fraction-zero-numerator",
        "fraction-zero-denominator",
        "fraction-negative",
        "fraction-trailing-space",
        "fraction-decimal",
        "at-least-zero",
        "at-least-negative",
        "of-everyone",
        "of-all",
    ],
)
def test_quorum_policy_refuses_invalid_threshold_or_set(policy: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        QuorumPolicy.model_validate(policy, strict=False)
    with pytest.raises(ValidationError):
        build(network(*standard_members(), quorum={"kinds": {"split": policy}}))


@pytest.mark.parametrize(
    ("of", "message"),
    [
        (["oem-1", "pdu"], "names 'pdu', the pdu: a policy may name only partners"),
        (["auditor", "supplier-1"], "names 'auditor', the auditor: a policy may name only partners"),
        (["oem-1", "mallory"], "names 'mallory', not a member"),
    ],
    ids=["lists-the-pdu", "lists-the-auditor", "lists-an-unknown-member"],
)
@pytest.mark.parametrize("where", ["default", "kind"])
def test_config_refuses_a_quorum_policy_naming_a_non_partner(of: list[str], message: str, where: str) -> None:
    policy = {"of": of, "more_than": "1/2"}
    quorum = {"default": policy} if where == "default" else {"kinds": {"decision.split": policy}}
    with pytest.raises(ValidationError, match=message):
        build(network(*standard_members(), quorum=quorum))


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"of": [], "more_than": "1/2"}, "a quorum of nobody"),
        ({"of": ["oem-1", "oem-1"], "more_than": "1/2"}, "lists a member twice"),
        ({"of": ["oem-1", "supplier-1"], "at_least": 3}, "at_least 3 signatures of 2 members"),
        ({"at_least": 5}, "at_least 5 signatures of 4 members"),
    ],
    ids=["empty-list", "duplicate-member", "at-least-over-the-list", "at-least-over-the-partners"],
)
def test_config_refuses_a_quorum_policy_that_can_never_be_met_honestly(
    policy: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        build(network(*standard_members(), quorum={"kinds": {"decision.split": policy}}))


def test_config_accepts_a_quorum_policy_of_partners_only_reaching_every_one() -> None:
    policy = {"of": ["oem-1", "oem-2", "supplier-1", "supplier-2"], "at_least": 4}
    config = build(network(*standard_members(), quorum={"default": policy}))
    assert config.quorum.default.of == ["oem-1", "oem-2", "supplier-1", "supplier-2"]


# --- files ----------------------------------------------------------------------


def test_load_round_trips_to_json_through_a_file(tmp_path: Path) -> None:
    config = build(network(*standard_members(), network="acme-net"))
    path = tmp_path / "network.json"
    path.write_text(config.to_json(), encoding="utf-8")
    loaded = NetworkConfig.load(path)
    assert loaded == config
    assert loaded.to_json() == config.to_json()


def test_load_round_trips_explicit_channels_and_quorum_overrides(tmp_path: Path) -> None:
    config = build(
        network(
            *standard_members(),
            channels=[{"oem": "oem-1", "supplier": "supplier-2"}],
            quorum=QuorumPolicies(
                default=QuorumPolicy(more_than="1/2"),
                kinds={"escrow": QuorumPolicy(of=["oem-1", "supplier-2"], more_than="2/3")},
            ).model_dump(),
        )
    )
    path = tmp_path / "network.json"
    path.write_text(config.to_json(), encoding="utf-8")
    assert NetworkConfig.load(path) == config


def test_load_round_trips_an_at_least_quorum_policy(tmp_path: Path) -> None:
    # to_json drops ``more_than: null``; loading must not bring back the "2/3" default.
    policy = QuorumPolicy(of=["oem-1", "supplier-1"], more_than=None, at_least=2)
    config = build(network(*standard_members(), quorum={"kinds": {"split": policy.model_dump()}}))
    path = tmp_path / "network.json"
    path.write_text(config.to_json(), encoding="utf-8")
    assert NetworkConfig.load(path) == config


def test_to_json_holds_no_private_material(config: NetworkConfig) -> None:
    text = config.to_json()
    assert "private" not in text
    assert text.endswith("\n")


def test_load_refuses_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "network.json"
    path.write_text('{"members": [', encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        NetworkConfig.load(path)


def test_load_refuses_valid_json_that_is_not_a_config(tmp_path: Path) -> None:
    path = tmp_path / "network.json"
    path.write_text('{"members": []}', encoding="utf-8")
    with pytest.raises(ValidationError):
        NetworkConfig.load(path)
