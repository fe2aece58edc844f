"""The OEM's demands: validated, stored, and submitted to the PDU as signed actions.

Submission goes through the durable outbox: a demand accepted by the API is never lost
if the PDU is down; it is sequenced when the PDU returns.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from sqlalchemy import func, insert, select, update

from supplymesh.config import Role
from supplymesh.core.actions import DEMAND_SUBMITTED, Action, sign_action
from supplymesh.core.contracts.network import DemandRecord, NetworkState, acceptance_escrow_id
from supplymesh.errors import NotFound, PeerError, Unprocessable
from supplymesh.network.replica import NetworkReplica
from supplymesh.node.context import Node
from supplymesh.storage.engine import read_transaction, write_transaction
from supplymesh.storage.events import publish
from supplymesh.storage.idempotency import respond_in
from supplymesh.storage.outbox import enqueue
from supplymesh_oem import reasons
from supplymesh_oem.history import LedgerHistory, Moment, SplitFacts
from supplymesh_oem.models import (
    Allocation,
    DemandCreated,
    DemandIn,
    DemandOut,
    DemandReason,
    DemandTermsOut,
    Money,
    Reoffer,
    Step,
)
from supplymesh_oem.tables import demands

SUBMIT_TASK = "demand.submit"
log = logging.getLogger("supplymesh.oem")


class Demands:
    """This buyer's demands: stored here, sequenced by the PDU, split on the network ledger."""

    def __init__(self, node: Node, replica: NetworkReplica, history: LedgerHistory) -> None:
        self.node = node
        self.replica = replica
        self.history = history

    def create(self, terms: DemandIn) -> DemandCreated:
        """Store a demand and queue its submission to the PDU.

        Raises:
            Unprocessable: if a priority supplier is not a supplier of the network.
        """
        node = self.node
        suppliers = {m.id for m in node.config.by_role(Role.SUPPLIER)}
        unknown = [s for s in terms.priority_suppliers if s not in suppliers]
        if unknown:
            raise Unprocessable(f"not suppliers of this network: {', '.join(unknown)}")
        demand_id = uuid.uuid4().hex
        now = node.now_text()
        with write_transaction(node.engine) as conn:
            seq = conn.execute(select(func.coalesce(func.max(demands.c.seq), 0))).scalar_one() + 1
            conn.execute(
                insert(demands).values(
                    id=demand_id, seq=seq, terms=terms.model_dump_json(), status="pending", created=now
                )
            )
            enqueue(conn, task=SUBMIT_TASK, key=demand_id, payload={"demand": demand_id}, now_text=now)
            publish(
                conn,
                type_="demand.created",
                subject=demand_id,
                data={"id": demand_id, "status": "pending"},
                now_text=now,
            )
            created = DemandCreated(id=demand_id, status="pending")
            respond_in(conn, created)  # a retry after a crash gets this very answer
        node.wake_outbox()
        return created

    def get(self, demand_id: str) -> DemandOut:
        """One demand with its split so far.

        Raises:
            NotFound: if there is no such demand.
        """
        state = self.replica.state
        with read_transaction(self.node.engine) as conn:
            row = conn.execute(select(demands).where(demands.c.id == demand_id)).one_or_none()
        if row is None:
            raise NotFound(f"no demand {demand_id!r}")
        return self._out(row, state)

    def position(self, demand_id: str) -> int | None:
        """The creation-order position of a demand of this node (a list cursor), if there is one."""
        with read_transaction(self.node.engine) as conn:
            seq = conn.execute(select(demands.c.seq).where(demands.c.id == demand_id)).scalar_one_or_none()
        return None if seq is None else int(seq)

    def page(self, *, after: int, limit: int) -> list[DemandOut]:
        """Demands in creation order after position ``after``."""
        state = self.replica.state
        with read_transaction(self.node.engine) as conn:
            rows = conn.execute(
                select(demands).where(demands.c.seq > after).order_by(demands.c.seq).limit(limit)
            ).all()
        return [self._out(r, state) for r in rows]

    def _out(self, row: Any, state: NetworkState) -> DemandOut:
        record = state.demand_by_id(self.node.id, row.id)
        return demand_out(row, record, state, self.history.caught_up(), self._refused(state, row.id))

    def _refused(self, state: NetworkState, demand_id: str) -> str | None:
        """Why the network's fold refused this demand, if a PDU sequenced it although inadmissible."""
        reason = state.refused_actions.get((DEMAND_SUBMITTED, self.node.id, demand_id))
        return None if reason is None else f"refused by the network: {reason}"

    async def submit(self, payload: dict[str, Any]) -> None:
        """Outbox handler: sign the demand as a party action and have the PDU sequence it."""
        node = self.node
        demand_id = payload["demand"]
        with read_transaction(node.engine) as conn:
            row = conn.execute(select(demands).where(demands.c.id == demand_id)).one()
        action = Action(
            kind=DEMAND_SUBMITTED, party=node.id, id=demand_id, time=row.created, body=json.loads(row.terms)
        )
        response = await node.peers.request(
            node.config.pdu.id,
            "POST",
            "/peer/v1/actions",
            json={"action": action.statement(), "signature": sign_action(action, node.signer)},
        )
        if 400 <= response.status_code < 500 and response.status_code not in (401, 408, 429):
            self._refused_by_pdu(demand_id, response)
            return
        if response.status_code != 200:
            raise PeerError(
                f"PDU refused demand {demand_id}: HTTP {response.status_code} {response.text[:300]}"
            )
        self._sequenced(demand_id, response.json())

    def _sequenced(self, demand_id: str, placed: dict[str, Any]) -> None:
        """The PDU sequenced the demand at ``placed["seq"]``: note it and tell the ERP."""
        with write_transaction(self.node.engine) as conn:
            conn.execute(
                update(demands)
                .where(demands.c.id == demand_id)
                .values(network_seq=placed["seq"], network_hash=placed["hash"])
            )
            publish(
                conn,
                type_="demand.submitted",
                subject=demand_id,
                data={"id": demand_id, "network_seq": placed["seq"]},
                now_text=self.node.now_text(),
            )

    def _refused_by_pdu(self, demand_id: str, response: Any) -> None:
        """The PDU will never sequence this demand: it ends ``failed`` with the PDU's reason."""
        try:
            detail = str(response.json().get("detail", ""))
        except ValueError:
            detail = response.text[:300]
        reason = f"refused by the PDU (HTTP {response.status_code}): {detail}"[:2000]
        log.warning("demand %s %s", demand_id, reason)
        with write_transaction(self.node.engine) as conn:
            conn.execute(
                update(demands).where(demands.c.id == demand_id).values(status="failed", detail=reason)
            )
            publish(
                conn,
                type_="demand.failed",
                subject=demand_id,
                data={"demand": demand_id, "detail": reason},
                now_text=self.node.now_text(),
            )


def demand_out(
    row: Any, record: DemandRecord | None, state: NetworkState, history: LedgerHistory, refused: str | None
) -> DemandOut:
    """Wire form of a demand: the stored row, and what the network ledger says of it."""
    terms = DemandTermsOut.model_validate_json(row.terms)
    steps = [Step(event="created", time=row.created)]
    submitted = history.submitted.get(row.id)
    if submitted is not None:
        steps.append(reasons.step(submitted))
    if record is None:  # not (yet) on the network ledger: pending, or refused by the PDU
        return _unsequenced(row, terms, steps, refused)
    facts, failure = history.splits.get(record.hash), history.failures.get(record.hash)
    steps += [reasons.step(m) for m in (facts.moment if facts else None, failure) if m is not None]
    offers = reoffers(record, state, history)
    accepted = [history.accepted[o.offer_id] for o in offers if o.offer_id in history.accepted]
    steps += [reasons.step(m, event="reoffer-accepted") for m in accepted]
    allocations = [Allocation(**a.model_dump()) for a in record.allocations] if record.decision else []
    return DemandOut(
        id=row.id,
        status=record.status,
        allocations=allocations,
        unallocated_quantity=record.unallocated,
        decision_id=record.decision,
        detail=record.detail,
        terms=terms,
        network_seq=record.seq,
        network_hash=record.hash,
        reason=_reason(record, facts, failure),
        allocated_quantity=sum(a.quantity for a in allocations),
        reoffered_quantity=sum(o.quantity for o in offers if o.state == "accepted"),
        reoffers=offers,
        history=steps,
    )


def _unsequenced(row: Any, terms: DemandTermsOut, steps: list[Step], refused: str | None) -> DemandOut:
    """A demand the network ledger does not hold: pending, refused by the PDU or by the fold."""
    detail = row.detail if row.status == "failed" else refused
    return DemandOut(
        id=row.id,
        status="failed" if detail is not None else "pending",
        allocations=[],
        unallocated_quantity=terms.quantity,
        decision_id=None,
        detail=detail,
        terms=terms,
        network_seq=row.network_seq,
        reason=None if detail is None else reasons.failed(detail, None),
        history=steps,
    )


def _reason(record: DemandRecord, facts: SplitFacts | None, failure: Moment | None) -> DemandReason | None:
    if record.status == "pending":
        return None
    if record.status == "failed":
        return reasons.failed(record.detail or "", failure)
    return reasons.split(record, facts)


def reoffers(record: DemandRecord, state: NetworkState, history: LedgerHistory) -> list[Reoffer]:
    """The refunded lots offered to this buyer for ``record``, by id."""
    found = []
    for offer in sorted(state.offers.values(), key=lambda o: o.id):
        if offer.demand != record.hash or offer.buyer != record.buyer:
            continue
        accepted = history.accepted.get(offer.id)
        escrow = state.escrows.get(acceptance_escrow_id(offer.id)) if offer.state == "accepted" else None
        found.append(
            Reoffer(
                offer_id=offer.id,
                supplier=offer.supplier,
                quantity=offer.quantity,
                unit_price=Money(amount=offer.unit_price, currency=offer.currency),
                state=offer.state,
                lot_escrow_id=offer.lot,
                accepted_at=accepted.time if accepted else None,
                escrow_id=escrow.id if escrow else None,
                escrow_state=escrow.state if escrow else None,
            )
        )
    return found
