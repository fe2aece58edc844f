"""The bodies of PDU decisions on the network ledger: inputs, base and result, typed.

A decision entry's body is ``{decision, base, inputs, result}`` (SPEC §7). The fold
parses every decision it applies with :func:`parse_decision_result`; a certified entry whose
body does not parse changes nothing and is recorded as refused, so even a faulty quorum
cannot put a negative allocation or an inexact amount into any replica's state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from supplymesh.core.vocabulary.bodies import Defects, parse_body
from supplymesh.core.vocabulary.values import (
    Count,
    Currency,
    DerivedId,
    EntryHash,
    MemberId,
    Message,
    MessageError,
    NonNegativeDecimal,
    PositiveCount,
    PositiveDecimal,
    Reason,
)

SPLIT = "decision.split"
RELEASE = "decision.release"
REFUND = "decision.refund"
CANCEL = "decision.cancel"
DECISION_KINDS = frozenset({SPLIT, RELEASE, REFUND, CANCEL})
DEMAND_FAILED = "demand.failed"
PROPOSAL_WITHDRAWN = "proposal.withdrawn"
SplitStatus = Literal["allocated", "partially_allocated", "unallocated"]


class Base(Message):
    """The network ledger state a decision was computed against."""

    seq: Count
    hash: EntryHash


class SignedEntryInput(Message):
    """A channel entry used as an input (an attestation), with its signatures."""

    entry: dict[str, Any]
    signatures: list[dict[str, Any]] = Field(max_length=16)


class SplitInputs(Message):
    """What a split was computed from."""

    demand: EntryHash
    attestations: list[SignedEntryInput] = Field(max_length=1000)
    unavailable: dict[MemberId, Reason] = Field(max_length=1000)


class EscrowInputs(Message):
    """A decision about one escrow."""

    escrow: DerivedId


class AllocationResult(Message):
    """One supplier's share and the escrow it opens."""

    supplier: MemberId
    quantity: PositiveCount
    machine_hours: PositiveDecimal
    escrow_amount: Count
    escrow_id: DerivedId


class Skipped(Message):
    """A priority supplier that got nothing, and why."""

    supplier: MemberId
    reason: Reason


class SplitResult(Message):
    """Algorithm 3's result."""

    demand: EntryHash
    allocations: tuple[AllocationResult, ...] = Field(max_length=1000, strict=False)
    unallocated: Count
    allocated: Count
    skipped: tuple[Skipped, ...] = Field(max_length=1000, strict=False)
    status: SplitStatus

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        suppliers = [a.supplier for a in self.allocations]
        if len(set(suppliers)) != len(suppliers):
            raise ValueError("a supplier has at most one allocation per demand")
        escrows = [a.escrow_id for a in self.allocations]
        if len(set(escrows)) != len(escrows):
            raise ValueError("every allocation opens its own escrow")
        if sum(a.quantity for a in self.allocations) != self.allocated:
            raise ValueError("allocated is the sum of the allocations")
        expected = (
            "unallocated"
            if not self.allocations
            else "allocated"
            if self.unallocated == 0
            else "partially_allocated"
        )
        if self.status != expected:
            raise ValueError(f"status of this split is {expected}")
        return self


class OfferTerms(Message):
    """A failed lot offered to one eligible buyer."""

    id: DerivedId
    buyer: MemberId
    demand: EntryHash
    quantity: Count
    defects: Defects
    unit_price: Count
    currency: Currency


class ReleaseResult(Message):
    """Pay the supplier."""

    escrow: DerivedId
    amount: Count
    to: MemberId
    reason: Reason
    sample_size: PositiveCount | None = None


class RefundResult(Message):
    """Refund the buyer and re-offer the lot."""

    escrow: DerivedId
    amount: Count
    to: MemberId
    reason: Reason
    offers: tuple[OfferTerms, ...] = Field(max_length=1000, strict=False)
    sample_size: PositiveCount | None = None

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        buyers = [o.buyer for o in self.offers]
        if len(set(buyers)) != len(buyers) or len({o.id for o in self.offers}) != len(buyers):
            raise ValueError("one offer per buyer, each with its own id")
        return self


class CancelResult(Message):
    """An unfunded allocation cancelled after the deposit window."""

    escrow: DerivedId
    amount: Literal[0]
    reason: Reason
    freed_machine_hours: NonNegativeDecimal


class DemandFailed(Message):
    """A demand the PDU could not decide, with the reason."""

    demand: EntryHash
    reason: Reason


class ProposalWithdrawn(Message):
    """The PDU gives up the seq of a proposal that was not certified in time.

    Taking the seq means no certificate for that proposal can ever commit, whoever
    signed it; the decision is proposed again, fresh, at the next seq.
    """

    proposal: EntryHash
    reason: Reason


RESULTS: Mapping[str, type[Message]] = {
    SPLIT: SplitResult,
    RELEASE: ReleaseResult,
    REFUND: RefundResult,
    CANCEL: CancelResult,
}
INPUTS: Mapping[str, type[Message]] = {
    SPLIT: SplitInputs,
    RELEASE: EscrowInputs,
    REFUND: EscrowInputs,
    CANCEL: EscrowInputs,
}


class Decision(Message):
    """A decision entry's body, untyped parts still raw."""

    decision: str
    base: Base
    inputs: dict[str, Any]
    result: dict[str, Any]


def parse_decision_inputs(kind: str, body: object) -> tuple[Decision, Message]:
    """(body, typed inputs) of a decision entry of ``kind``: what re-executing it needs.

    A signer compares the proposed result with its own re-execution, which is a valid
    result by construction, so the proposed one need not be parsed first.

    Raises:
        MessageError: if the envelope or the inputs break a rule.
    """
    decision = _envelope(kind, body)
    return decision, parse_body(INPUTS[kind], decision.inputs)


def _envelope(kind: str, body: object) -> Decision:
    if kind not in DECISION_KINDS:
        raise MessageError(f"{kind!r} is not a decision")
    decision = parse_body(Decision, body)
    if decision.decision != kind:
        raise MessageError(f"a {kind} entry carries a {decision.decision!r} decision")
    return decision


def parse_decision_result(kind: str, body: object) -> tuple[Decision, Message]:
    """(body, typed result) of a decision entry of ``kind``: what folding it needs.

    The inputs are the signers' and the auditor's to re-execute
    (:func:`parse_decision_inputs`); the fold applies the certified result.

    Raises:
        MessageError: if any part breaks a rule.
    """
    decision = _envelope(kind, body)
    return decision, parse_body(RESULTS[kind], decision.result)


def check_result(kind: str, result: object) -> Message:
    """The typed result of a decision the PDU is about to propose.

    Raises:
        MessageError: if it cannot be a network message (e.g. an amount past exact integers).
    """
    return parse_body(RESULTS[kind], result)
