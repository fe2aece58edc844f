"""Tests for supplymesh.core.quorum: policies, thresholds and certificates (SPEC §7)."""

from __future__ import annotations

import hashlib
from fractions import Fraction

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from supplymesh.core.crypto import PublicKey, Signer
from supplymesh.core.entry import Signature
from supplymesh.core.quorum import Policy, QuorumNotReachedError, QuorumResult, check, policy_of, require

PARTNERS = ("supplier-a", "supplier-b", "oem-a", "oem-b")
OUTSIDER = "auditor"
DIGEST = hashlib.sha256(b"decision: split of demand 7 at base 41").digest()
OTHER_DIGEST = hashlib.sha256(b"decision: split of demand 7 at base 42").digest()

SIGNERS: dict[str, Signer] = {name: Signer(Ed25519PrivateKey.generate()) for name in (*PARTNERS, OUTSIDER)}
KEYS: dict[str, PublicKey] = {name: signer.public_key for name, signer in SIGNERS.items()}


def sign(name: str, digest: bytes = DIGEST, *, signer: Signer | None = None) -> Signature:
    return Signature(signer=name, sig=(signer or SIGNERS[name]).sign_text(digest))


def default_policy() -> Policy:
    return policy_of(PARTNERS, more_than="2/3", at_least=None)


# --- the default policy: more than 2/3 of four partners --------------------------------------


def test_default_policy_of_four_partners_needs_three() -> None:
    assert default_policy().threshold == 3


def test_three_valid_signatures_of_four_reach_the_quorum() -> None:
    signatures = [sign("supplier-a"), sign("supplier-b"), sign("oem-a")]

    result = check(default_policy(), signatures, DIGEST, KEYS)

    assert result.ok
    assert result == QuorumResult(
        threshold=3,
        signed=frozenset({"supplier-a", "supplier-b", "oem-a"}),
        missing=frozenset({"oem-b"}),
        invalid=frozenset(),
    )
    assert result.describe() == "signed by 3/3 (missing: oem-b)"


def test_all_four_signatures_reach_the_quorum_with_nothing_missing() -> None:
    result = check(default_policy(), [sign(name) for name in PARTNERS], DIGEST, KEYS)

    assert result.ok
    assert result.signed == frozenset(PARTNERS)
    assert result.missing == frozenset()
    assert result.invalid == frozenset()
    assert result.describe() == "signed by 4/3"


def test_two_valid_signatures_of_four_do_not_reach_the_quorum() -> None:
    result = check(default_policy(), [sign("supplier-a"), sign("oem-a")], DIGEST, KEYS)

    assert not result.ok
    assert result.threshold == 3
    assert result.signed == frozenset({"supplier-a", "oem-a"})
    assert result.missing == frozenset({"supplier-b", "oem-b"})
    assert result.invalid == frozenset()
    assert result.describe() == "signed by 2/3 (missing: oem-b, supplier-b)"


def test_no_signatures_do_not_reach_the_quorum() -> None:
    result = check(default_policy(), [], DIGEST, KEYS)

    assert not result.ok
    assert result.signed == frozenset()
    assert result.missing == frozenset(PARTNERS)
    assert result.describe().startswith("signed by 0/3")


def test_require_returns_the_result_when_the_quorum_is_reached() -> None:
    signatures = [sign("supplier-a"), sign("supplier-b"), sign("oem-b")]

    result = require(default_policy(), signatures, DIGEST, KEYS)

    assert result.ok
    assert result.signed == frozenset({"supplier-a", "supplier-b", "oem-b"})


def test_require_raises_with_the_count_when_the_quorum_is_not_reached() -> None:
    with pytest.raises(QuorumNotReachedError, match=r"signed by 2/3") as raised:
        require(default_policy(), [sign("supplier-a"), sign("oem-a")], DIGEST, KEYS)

    assert str(raised.value) == "signed by 2/3 (missing: oem-b, supplier-b)"


def test_describe_lists_missing_and_invalid_signers_sorted() -> None:
    signatures = [sign("supplier-a"), sign("oem-a"), sign("supplier-b", OTHER_DIGEST)]

    result = check(default_policy(), signatures, DIGEST, KEYS)

    assert result.describe() == "signed by 2/3 (missing: oem-b; invalid: supplier-b)"
    with pytest.raises(QuorumNotReachedError, match=r"invalid: supplier-b"):
        require(default_policy(), signatures, DIGEST, KEYS)


# --- what counts ------------------------------------------------------------------------------


def test_signatures_by_non_members_are_ignored() -> None:
    signatures = [sign("supplier-a"), sign("oem-a"), sign(OUTSIDER)]

    result = check(default_policy(), signatures, DIGEST, KEYS)

    assert not result.ok
    assert result.signed == frozenset({"supplier-a", "oem-a"})
    assert OUTSIDER not in result.signed | result.invalid | result.missing


def test_signature_made_with_the_wrong_key_counts_as_invalid() -> None:
    forged = sign("oem-b", signer=SIGNERS[OUTSIDER])
    signatures = [sign("supplier-a"), sign("oem-a"), forged]

    result = check(default_policy(), signatures, DIGEST, KEYS)

    assert not result.ok
    assert result.signed == frozenset({"supplier-a", "oem-a"})
    assert result.invalid == frozenset({"oem-b"})
    assert result.missing == frozenset({"supplier-b"})


def test_signature_over_another_digest_counts_as_invalid() -> None:
    signatures = [sign("supplier-a"), sign("oem-a"), sign("oem-b", OTHER_DIGEST)]

    result = check(default_policy(), signatures, DIGEST, KEYS)

    assert not result.ok
    assert result.invalid == frozenset({"oem-b"})
    assert "oem-b" not in result.signed


def test_valid_signatures_checked_against_a_tampered_digest_count_as_invalid() -> None:
    signatures = [sign(name) for name in PARTNERS]
    tampered = bytes([DIGEST[0] ^ 1]) + DIGEST[1:]

    result = check(default_policy(), signatures, tampered, KEYS)

    assert not result.ok
    assert result.signed == frozenset()
    assert result.invalid == frozenset(PARTNERS)
    assert result.missing == frozenset()


@pytest.mark.parametrize("sig", ["", "not base64url!", "AAAA", "A" * 86])
def test_malformed_signature_text_counts_as_invalid(sig: str) -> None:
    signatures = [sign("supplier-a"), sign("oem-a"), Signature(signer="oem-b", sig=sig)]

    result = check(default_policy(), signatures, DIGEST, KEYS)

    assert not result.ok
    assert result.invalid == frozenset({"oem-b"})


def test_signer_without_a_known_key_counts_as_invalid() -> None:
    keys = {name: key for name, key in KEYS.items() if name != "oem-b"}
    signatures = [sign("supplier-a"), sign("oem-a"), sign("oem-b")]

    result = check(default_policy(), signatures, DIGEST, keys)

    assert not result.ok
    assert result.signed == frozenset({"supplier-a", "oem-a"})
    assert result.invalid == frozenset({"oem-b"})


def test_duplicate_signer_is_counted_once() -> None:
    signatures = [sign("supplier-a"), sign("supplier-a"), sign("oem-a")]

    result = check(default_policy(), signatures, DIGEST, KEYS)

    assert not result.ok
    assert result.signed == frozenset({"supplier-a", "oem-a"})
    assert result.describe().startswith("signed by 2/3")


def test_check_does_not_raise_when_the_quorum_is_missed() -> None:
    result = check(default_policy(), [sign(OUTSIDER)], DIGEST, KEYS)

    assert not result.ok


# --- other policies ---------------------------------------------------------------------------


def test_at_least_policy_passes_with_that_many_valid_signatures() -> None:
    policy = policy_of(PARTNERS, more_than=None, at_least=2)

    assert policy.threshold == 2
    assert check(policy, [sign("supplier-a"), sign("oem-b")], DIGEST, KEYS).ok
    assert not check(policy, [sign("supplier-a")], DIGEST, KEYS).ok


def test_at_least_policy_over_a_subset_of_members() -> None:
    policy = policy_of(("oem-a", "oem-b"), more_than=None, at_least=1)

    assert check(policy, [sign("oem-b")], DIGEST, KEYS).ok
    result = check(policy, [sign("supplier-a"), sign("supplier-b")], DIGEST, KEYS)
    assert not result.ok
    assert result.missing == frozenset({"oem-a", "oem-b"})


def test_at_least_larger_than_the_member_set_never_passes() -> None:
    policy = policy_of(PARTNERS, more_than=None, at_least=5)

    result = check(policy, [sign(name) for name in (*PARTNERS, OUTSIDER)], DIGEST, KEYS)

    assert not result.ok
    assert result.signed == frozenset(PARTNERS)


@pytest.mark.parametrize(
    "policy",
    [
        policy_of((), more_than="2/3", at_least=None),
        policy_of((), more_than=None, at_least=1),
        Policy(members=frozenset()),
    ],
)
def test_empty_member_set_never_passes(policy: Policy) -> None:
    result = check(policy, [sign(name) for name in (*PARTNERS, OUTSIDER)], DIGEST, KEYS)

    assert not result.ok
    assert result.signed == frozenset()
    with pytest.raises(QuorumNotReachedError):
        require(policy, [sign(name) for name in PARTNERS], DIGEST, KEYS)


def test_policy_of_parses_the_fraction_and_members() -> None:
    policy = policy_of(["oem-a", "supplier-a", "oem-a"], more_than="2/3", at_least=None)

    assert policy == Policy(members=frozenset({"oem-a", "supplier-a"}), more_than=Fraction(2, 3))
    assert policy_of(PARTNERS, more_than="1/2", at_least=None).more_than == Fraction(1, 2)


@pytest.mark.parametrize(
    ("partners", "threshold"),
    [(1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (6, 5), (7, 5), (8, 6), (9, 7), (16, 11)],
)
def test_more_than_two_thirds_threshold(partners: int, threshold: int) -> None:
    policy = policy_of([f"partner-{i}" for i in range(partners)], more_than="2/3", at_least=None)

    assert policy.threshold == threshold
    # The smallest count strictly above two thirds.
    assert Fraction(threshold) > Fraction(2, 3) * partners >= threshold - 1


@pytest.mark.parametrize(
    ("more_than", "partners", "threshold"),
    [("1/2", 4, 3), ("1/2", 5, 3), ("0/1", 4, 1), ("1/3", 3, 2)],
)
def test_other_fractions_need_strictly_more_than_the_fraction(
    more_than: str, partners: int, threshold: int
) -> None:
    policy = policy_of([f"partner-{i}" for i in range(partners)], more_than=more_than, at_least=None)

    assert policy.threshold == threshold
