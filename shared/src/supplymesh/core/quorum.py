"""Quorum certificates: who must sign a decision, and whether enough did (SPEC §7).

A policy names a set of members (default: every partner, i.e. supplier and OEM) and a
threshold: *more than* a fraction of the set (default 2/3, so 3 of 4) or *at least* a
count. :func:`check` returns a :class:`QuorumResult` and never raises;
:func:`require` raises :class:`QuorumNotReachedError`. Fail closed: an empty set, a
threshold above the set's size, a signer outside the set or an unknown key never counts.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from supplymesh.core.crypto import PublicKey, SignatureError
from supplymesh.core.entry import Signature


class QuorumNotReachedError(Exception):
    """Too few valid signatures from the policy's members."""


@dataclass(frozen=True, slots=True)
class Policy:
    """Members who may sign and how many must."""

    members: frozenset[str]
    more_than: Fraction | None = None
    at_least: int | None = None

    @property
    def threshold(self) -> int:
        """Signatures needed; larger than the set when the policy is unsatisfiable."""
        size = len(self.members)
        if size == 0:
            return 1  # an empty policy never passes
        if self.more_than is not None:
            return int(self.more_than * size) + 1
        if self.at_least is not None and self.at_least >= 1:
            return self.at_least
        return size + 1


@dataclass(frozen=True, slots=True)
class QuorumResult:
    """Outcome of checking signatures against a policy."""

    threshold: int
    signed: frozenset[str]
    missing: frozenset[str]
    invalid: frozenset[str]

    @property
    def ok(self) -> bool:
        """True if enough valid signatures from the policy's members were found."""
        return len(self.signed) >= self.threshold

    def describe(self) -> str:
        """E.g. ``signed by 2/3 (missing: oem-b; invalid: supplier-b)``."""
        text = f"signed by {len(self.signed)}/{self.threshold}"
        notes = []
        if self.missing:
            notes.append("missing: " + ", ".join(sorted(self.missing)))
        if self.invalid:
            notes.append("invalid: " + ", ".join(sorted(self.invalid)))
        return text + (f" ({'; '.join(notes)})" if notes else "")


def check(
    policy: Policy, signatures: Sequence[Signature], digest: bytes, keys: Mapping[str, PublicKey]
) -> QuorumResult:
    """Count the valid signatures over ``digest`` by members of the policy."""
    signed: set[str] = set()
    invalid: set[str] = set()
    for signature in signatures:
        if signature.signer not in policy.members:
            continue
        key = keys.get(signature.signer)
        if key is None:
            invalid.add(signature.signer)
            continue
        try:
            key.verify_text(signature.sig, digest)
        except SignatureError:
            invalid.add(signature.signer)
            continue
        signed.add(signature.signer)
    return QuorumResult(
        threshold=policy.threshold,
        signed=frozenset(signed),
        missing=frozenset(policy.members - signed - invalid),
        invalid=frozenset(invalid),
    )


def require(
    policy: Policy, signatures: Sequence[Signature], digest: bytes, keys: Mapping[str, PublicKey]
) -> QuorumResult:
    """:func:`check`, raising when the quorum is not reached.

    Raises:
        QuorumNotReachedError: with the count, e.g. "signed by 2/3".
    """
    result = check(policy, signatures, digest, keys)
    if not result.ok:
        raise QuorumNotReachedError(result.describe())
    return result


def policy_of(members: Collection[str], *, more_than: str | None, at_least: int | None) -> Policy:
    """Build a policy from config values (``more_than`` as ``"a/b"``)."""
    fraction = None
    if more_than is not None:
        numerator, denominator = more_than.split("/")
        fraction = Fraction(int(numerator), int(denominator))
    return Policy(members=frozenset(members), more_than=fraction, at_least=at_least)
