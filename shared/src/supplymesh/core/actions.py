"""Party actions on the network ledger: statements signed by the party that acts.

The PDU sequences the network ledger, so a party cannot sign the final entry (its seq
and prev are the PDU's to assign). Instead the party signs a *statement*
``{"type": "supplymesh.action.v1", kind, party, id, time, body}``; the PDU appends an
entry of the same kind whose body is ``{"action": statement, "signature": sig}``. Anyone
holding the network ledger can check the party's signature, and the ``(party, id)``
pair makes a retried submission idempotent.

Only network-visible fields may appear in an action body (SPEC §2): demand terms,
deposits, production complete with lot quality (and, for a sample inspection, its
``sample_size``), offer acceptance. A deposit's payment
reference is not network-visible: the action carries a salted commitment to it
(:func:`supplymesh.core.commitment.commitment`), opened on the buyer's channel with the
supplier (encrypted).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from supplymesh.core.canonical import CanonicalizationError, canonical_hash
from supplymesh.core.crypto import PublicKey, SignatureError, Signer

ACTION_TYPE = "supplymesh.action.v1"

DEMAND_SUBMITTED = "demand.submitted"
ESCROW_DEPOSITED = "escrow.deposited"
PRODUCTION_COMPLETED = "production.completed"
OFFER_ACCEPTED = "offer.accepted"

ACTION_ROLES: Mapping[str, str] = {
    DEMAND_SUBMITTED: "oem",
    ESCROW_DEPOSITED: "oem",
    OFFER_ACCEPTED: "oem",
    PRODUCTION_COMPLETED: "supplier",
}
ACTION_FIELDS: Mapping[str, frozenset[str]] = {
    DEMAND_SUBMITTED: frozenset(
        {
            "product",
            "quantity",
            "lead_time_days",
            "required_machine_hours",
            "priority_suppliers",
            "aql",
            "unit_price",
        }
    ),
    ESCROW_DEPOSITED: frozenset({"escrow", "amount", "currency", "payment_reference_commitment"}),
    OFFER_ACCEPTED: frozenset({"offer", "escrow", "unit_price"}),
    PRODUCTION_COMPLETED: frozenset(
        {"order", "escrow", "produced_quantity", "defects", "source", "sample_size"}
    ),
}


class ActionError(ValueError):
    """A party action is malformed, unauthorised or badly signed."""


@dataclass(frozen=True, slots=True)
class Action:
    """A party's signed statement."""

    kind: str
    party: str
    id: str
    time: str
    body: Mapping[str, Any]

    def statement(self) -> dict[str, Any]:
        """The signed JSON object."""
        return {
            "type": ACTION_TYPE,
            "kind": self.kind,
            "party": self.party,
            "id": self.id,
            "time": self.time,
            "body": dict(self.body),
        }

    @property
    def digest(self) -> bytes:
        """SHA-256 of the canonical statement: what the party signs."""
        return canonical_hash(self.statement())

    @classmethod
    def from_statement(cls, value: object) -> Action:
        """Parse a statement.

        Raises:
            ActionError: if it is not one.
        """
        if not isinstance(value, Mapping) or set(value) != {"type", "kind", "party", "id", "time", "body"}:
            raise ActionError("an action statement has type, kind, party, id, time and body")
        if value["type"] != ACTION_TYPE:
            raise ActionError(f"not a {ACTION_TYPE} statement")
        if not all(isinstance(value[k], str) for k in ("kind", "party", "id", "time")):
            raise ActionError("kind, party, id and time are strings")
        if not isinstance(value["body"], Mapping):
            raise ActionError("body is an object")
        action = cls(value["kind"], value["party"], value["id"], value["time"], value["body"])
        try:
            action.digest  # noqa: B018 - refuse floats and unsafe integers up front
        except CanonicalizationError as exc:
            raise ActionError(f"body is not exact JSON: {exc}") from exc
        return action


def _is_hash(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def sign_action(action: Action, signer: Signer) -> str:
    """The party's signature over ``action``."""
    return signer.sign_text(action.digest)


def check_action(action: Action, signature: str, *, role: str, key: PublicKey) -> None:
    """Check kind, role, visible fields and signature of a party action.

    Raises:
        ActionError: naming what is wrong.
    """
    allowed_role = ACTION_ROLES.get(action.kind)
    if allowed_role is None:
        raise ActionError(f"unknown action kind {action.kind!r}")
    if allowed_role != role:
        raise ActionError(f"{action.kind} is an action of a {allowed_role}, not of a {role}")
    extra = set(action.body) - ACTION_FIELDS[action.kind]
    if extra:
        raise ActionError(f"fields not visible on the network ledger: {sorted(extra)}")
    if not action.id or len(action.id) > 64:
        raise ActionError("action id must be 1–64 characters")
    if action.kind == ESCROW_DEPOSITED and not _is_hash(action.body.get("payment_reference_commitment")):
        raise ActionError("payment_reference_commitment must be a salted hash (64 lowercase hex)")
    try:
        key.verify_text(signature, action.digest)
    except (SignatureError, CanonicalizationError) as exc:
        raise ActionError(f"signature of {action.party} does not verify") from exc
