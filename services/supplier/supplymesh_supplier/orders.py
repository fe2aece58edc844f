"""The supplier's order book: allocations it received, and production complete.

Orders appear when an allocation to this supplier commits on the network ledger.
Production complete is refused (409) unless the order's escrow is funded; it records
the lot quality — given by the ERP (``declared``) or derived from the order's DMS
readings (``dms``) — on the channel with the buyer.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from supplymesh.channels.service import ChannelService
from supplymesh.config import channel_ledger
from supplymesh.core.contracts.channel import QUALITY_KIND
from supplymesh.core.contracts.dms import DEFECT_CLASSES
from supplymesh.errors import Conflict, NotFound
from supplymesh.storage.engine import read_transaction, write_transaction
from supplymesh.storage.events import publish
from supplymesh.web.node import Node
from supplymesh_supplier.dms import Dms
from supplymesh_supplier.models import OrderOut, ProductionCompleteIn
from supplymesh_supplier.tables import supplier_orders


def list_orders(node: Node, *, after: str, limit: int) -> list[OrderOut]:
    """Orders with id > ``after``, by id."""
    with read_transaction(node.engine) as conn:
        rows = conn.execute(
            select(supplier_orders)
            .where(supplier_orders.c.id > after)
            .order_by(supplier_orders.c.id)
            .limit(limit)
        ).all()
    return [_order(r) for r in rows]


def get_order(node: Node, order_id: str) -> OrderOut:
    """One order.

    Raises:
        NotFound: if there is no such order.
    """
    with read_transaction(node.engine) as conn:
        row = conn.execute(select(supplier_orders).where(supplier_orders.c.id == order_id)).one_or_none()
    if row is None:
        raise NotFound(f"no order {order_id!r}")
    return _order(row)


async def production_complete(
    node: Node, dms: Dms, channels: ChannelService, order_id: str, body: ProductionCompleteIn
) -> dict[str, Any]:
    """Record production complete with the lot quality.

    Raises:
        NotFound: unknown order.
        Conflict: the order's escrow is not funded (or the order is closed).
    """
    order = get_order(node, order_id)
    if order.state != "funded":
        raise Conflict(f"order {order_id} is {order.state}; production can be reported only when funded")
    if body.defects is None:
        _, defects = dms.lot_quality(order_id)
        source = "dms"
    else:
        defects = {str(c): body.defects.get(str(c), 0) for c in DEFECT_CLASSES}  # type: ignore[call-overload]
        source = "declared"
    quality = {
        "order": order_id,
        "produced_quantity": body.produced_quantity,
        "defects": defects,
        "source": source,
    }
    await channels.append(channel_ledger(order.buyer, node.id), QUALITY_KIND, quality)
    with write_transaction(node.engine) as conn:
        conn.execute(
            update(supplier_orders).where(supplier_orders.c.id == order_id).values(state="completed")
        )
        publish(conn, type_="order.completed", subject=order_id, data=quality, now_text=node.now_text())
    return {"order": order_id, "state": "completed", "quality": quality}


def _order(row: Any) -> OrderOut:
    return OrderOut(
        id=row.id,
        buyer=row.buyer,
        product=row.product,
        quantity=row.quantity,
        machine_hours=row.machine_hours,
        escrow_id=row.escrow_id,
        state=row.state,
    )
