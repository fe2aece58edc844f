"""The supplier's orders: its allocations on the network ledger, read from its replica.

An order is the supplier's side of an escrow: ``awaiting_funding`` until the buyer's
deposit is sequenced, ``funded``, then ``completed`` once production is reported (or the
escrow released), ``refunded`` or ``cancelled``. Production complete is refused (409)
unless the order is funded; it records the lot quality — given by the ERP
(``declared``) or derived from the order's DMS readings (``dms``) — on the channel with
the buyer, and submits it to the PDU, whose quality decision follows. The same report
again (an ERP's retry after a crash) is answered as the first was, never recorded twice.

Where the order has DMS readings, what the DMS derived (units measured, defective units
per class) goes on the same channel first, as a private ``order.state`` entry (sealed
for the two members and the auditor), so the auditor can check that declared lot
quality agrees with the DMS (SPEC §8, :mod:`supplymesh.audit.dms_quality`). It never
reaches the network ledger.
"""

from __future__ import annotations

import uuid
from typing import Any

from supplymesh.audit.dms_quality import DMS_RECORD_KIND, dms_record
from supplymesh.channels.service import ChannelService
from supplymesh.config import channel_ledger
from supplymesh.core.actions import PRODUCTION_COMPLETED
from supplymesh.core.contracts.admission import sample_size_error
from supplymesh.core.contracts.channel import QUALITY_KIND
from supplymesh.core.contracts.dms import DEFECT_CLASSES
from supplymesh.core.contracts.network import EscrowRecord
from supplymesh.core.numbers import format_decimal
from supplymesh.errors import Conflict, NotFound, Unprocessable
from supplymesh.network.actions import submit_action
from supplymesh.network.replica import NetworkReplica
from supplymesh.node.serial import PerKey
from supplymesh_supplier.dms import Dms
from supplymesh_supplier.models import OrderOut, ProductionCompleteIn

ORDER_STATES = {"awaiting_deposit": "awaiting_funding", "released": "completed"}


def order_state(escrow: EscrowRecord) -> str:
    """The order's state from its escrow's."""
    if escrow.state == "funded" and escrow.completed:
        return "completed"
    return ORDER_STATES.get(escrow.state, escrow.state)


def order_out(escrow: EscrowRecord) -> OrderOut:
    """Wire form of an order."""
    return OrderOut(
        id=escrow.id,
        buyer=escrow.buyer,
        product=escrow.product,
        quantity=escrow.quantity,
        machine_hours=format_decimal(escrow.machine_hours),
        escrow_id=escrow.id,
        state=order_state(escrow),
    )


class Orders:
    """This supplier's orders on the node's network replica, and their production reports."""

    def __init__(self, replica: NetworkReplica, dms: Dms, channels: ChannelService) -> None:
        self.replica = replica
        self.dms = dms
        self.channels = channels
        self._reporting = PerKey()  # reports raced on one order: one is recorded, the others judged by it

    async def page(self, *, after: str, limit: int) -> list[OrderOut]:
        """Orders with id > ``after``, by id (allocations, not accepted re-offers).

        The replica is brought up to date first if the PDU answers.
        """
        await self.replica.sync_if_reachable()
        me = self.replica.node.id
        mine = sorted(
            (e for e in self.replica.state.escrows.values() if e.supplier == me and e.demand is not None),
            key=lambda e: e.id,
        )
        return [order_out(e) for e in mine if e.id > after][:limit]

    async def get(self, order_id: str) -> OrderOut:
        """One order (the replica is brought up to date first if the PDU answers).

        Raises:
            NotFound: if there is no such order.
        """
        await self.replica.sync_if_reachable()
        return order_out(self._order(order_id))

    def _order(self, order_id: str) -> EscrowRecord:
        escrow = self.replica.state.escrows.get(order_id)
        if escrow is None or escrow.supplier != self.replica.node.id:
            raise NotFound(f"no order {order_id!r}")
        return escrow

    async def production_complete(self, order_id: str, body: ProductionCompleteIn) -> dict[str, Any]:
        """Record production complete with the lot quality and submit it to the PDU.

        Raises:
            NotFound: unknown order.
            Conflict: the order is not funded (or already reported otherwise: the same report
                again, as a retry after a crash sends it, is answered as the first was).
            Unprocessable: a ``sample_size`` that is not the one the buyer's plans require.
        """
        async with self._reporting(order_id):  # parallel reports cannot all pass the check
            return await self._production_complete(order_id, body)

    async def _production_complete(self, order_id: str, body: ProductionCompleteIn) -> dict[str, Any]:
        await self.replica.sync_if_reachable()
        units, derived = self.dms.lot_quality(order_id)
        quality = lot_quality(order_id, body, derived)
        if not self._stands(order_id, quality):  # a report that stands is answered, never made twice
            order = self._reportable(order_id, body)
            ledger = channel_ledger(order.buyer, self.replica.node.id)
            if units > 0:  # the DMS saw this order: its counts go on the channel, sealed, for the audit
                await self.channels.append(ledger, DMS_RECORD_KIND, dms_record(order_id, units, derived))
            await self.channels.append(ledger, QUALITY_KIND, quality)
        action_id = f"production-{order_id}"
        seq = await submit_action(
            self.replica, PRODUCTION_COMPLETED, action_id, {"escrow": order_id, **quality}
        )
        return {
            "order": order_id,
            "state": order_state(self._order(order_id)),
            "quality": quality,
            "network_seq": seq,
            "report": uuid.uuid5(uuid.NAMESPACE_URL, action_id).hex,
        }

    def _stands(self, order_id: str, quality: dict[str, Any]) -> bool:
        """True if the network already holds this very report for the order (a retry after a crash).

        Its action is then sent again only to learn where it stands: the PDU sequences it once.
        """
        lot = self._order(order_id).lot
        return lot is not None and lot.as_json() == {k: v for k, v in quality.items() if k != "order"}

    def _reportable(self, order_id: str, body: ProductionCompleteIn) -> EscrowRecord:
        """The order, if production can be reported for it as ``body`` does."""
        order = self._order(order_id)
        state = order_state(order)
        if state != "funded":
            raise Conflict(f"order {order_id} is {state}; production can be reported only when funded")
        if body.sample_size is not None:
            refused = sample_size_error(self.replica.state, order, body.produced_quantity, body.sample_size)
            if refused is not None:
                raise Unprocessable(refused)
        return order


def lot_quality(order_id: str, body: ProductionCompleteIn, derived: dict[str, int]) -> dict[str, Any]:
    """The lot quality to record: the ERP's declared defects, else those the DMS derived."""
    if body.defects is None:
        defects = derived
        source = "dms"
    else:
        defects = {str(c): int(body.defects.get(str(c), 0)) for c in DEFECT_CLASSES}  # type: ignore[call-overload]
        source = "declared"
    quality: dict[str, Any] = {
        "order": order_id,
        "produced_quantity": body.produced_quantity,
        "defects": defects,
        "source": source,
    }
    if body.sample_size is not None:
        quality["sample_size"] = body.sample_size
    return quality
