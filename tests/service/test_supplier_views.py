"""The supplier's channels: capacity attestations, the PDU's views, orders and lot quality.

SPEC §2 (channel ledgers, who may read), §4 (capacity attestation and lot quality),
§6 (orders at the supplier) and appendix A.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from supplymesh.config import channel_ledger
from supplymesh.core.entry import Entry
from tests.flows import demand as demand_terms
from tests.flows import order_for
from tests.harness import Harness

pytestmark = [pytest.mark.anyio, pytest.mark.db]


@pytest.fixture(autouse=True)
def _channel_members_started(harness: Harness) -> None:
    """Start supplier-a and its OEMs before any peer request is signed.

    The harness starts a node lazily on the first request routed to it; a node refuses a
    peer request signed before it started, so a counterpart started by the very request
    that asks for its countersignature could refuse it at a second boundary.
    """
    for node_id in ("supplier-a", "oem-a", "oem-b"):
        harness.app(node_id)


PROFILE: dict[str, Any] = {
    "machines": 4,
    "hours_per_day": "16",
    "baseline_efficiency": "0.8",
    "queued_machine_hours": "100",
    "products": ["P-100"],
}
CHANNEL_A = channel_ledger("oem-a", "supplier-a")
CHANNEL_B = channel_ledger("oem-b", "supplier-a")
CAPACITY = "capacity.attestation"
QUALITY = "lot.quality"
PROBLEM = "application/problem+json"
DEMAND = "5d" * 32
CAPACITY_FIELDS = {"efficiency", "mhc_per_day", "queued_machine_hours", "products", "computed_at"}


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 problem with ``status`` and return its document."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    document: dict[str, Any] = response.json()
    assert document["status"] == status
    return document


async def put_profile(harness: Harness, profile: dict[str, Any] = PROFILE) -> None:
    # Both OEMs run before the supplier asks them to countersign: a node the harness
    # starts lazily inside that request can miss the countersignature deadline on a
    # loaded machine, and the entry is then completed by a late countersignature.
    harness.start_all()
    response = await harness.erp("supplier-a").put("/v1/dms/profile", json=profile)
    assert response.status_code == 200, response.text
    await harness.drain()


async def pending_demand_of(harness: Harness, buyer: str) -> str:
    """The hash of a demand of ``buyer`` listing supplier-a, sequenced and not yet decided."""
    created = await harness.erp(buyer).post("/v1/demands", json=demand_terms())
    assert created.status_code == 202, created.text
    await harness.drain()
    record = harness.app("pdu").state.replica.state.demand_by_id(buyer, created.json()["id"])
    assert record is not None and record.status == "pending"
    found: str = record.hash
    return found


async def entries(harness: Harness, node_id: str, ledger: str) -> list[dict[str, Any]]:
    response = await harness.erp(node_id).get(f"/v1/ledgers/{ledger}/entries", params={"limit": 1000})
    if response.status_code == 404:
        return []
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()
    return items


def of_kind(items: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [item for item in items if item["entry"]["kind"] == kind]


def verify_signed(harness: Harness, item: dict[str, Any], signers: set[str]) -> None:
    """The served hash is the entry's hash, and each of ``signers`` signed it (and nobody else)."""
    entry = Entry.from_json(item["entry"])
    assert entry.hash == item["hash"]
    signatures = {s["signer"]: s["sig"] for s in item["signatures"]}
    assert set(signatures) == signers
    for signer, sig in signatures.items():
        harness.config.member(signer).key.verify_text(sig, bytes.fromhex(item["hash"]))


async def view(harness: Harness, reader: str, path: str, **params: str) -> httpx.Response:
    return await harness.peer(reader).request("supplier-a", "GET", path, params=params)


async def insert_order(harness: Harness, *, state: str, buyer: str = "oem-a") -> str:
    return await order_for(harness, state={"funded": "funded"}.get(state, "awaiting_funding"), buyer=buyer)


async def order_state(harness: Harness, order_id: str) -> str:
    response = await harness.erp("supplier-a").get(f"/v1/orders/{order_id}")
    assert response.status_code == 200, response.text
    state: str = response.json()["state"]
    return state


# -- capacity attestations on every channel ------------------------------------------------------


async def test_profile_put_attests_on_every_channel_countersigned_by_the_oem(harness: Harness) -> None:
    await put_profile(harness)
    for oem, ledger in (("oem-a", CHANNEL_A), ("oem-b", CHANNEL_B)):
        supplier_copy = await entries(harness, "supplier-a", ledger)
        attestations = of_kind(supplier_copy, CAPACITY)
        assert len(attestations) == 1, ledger
        attestation = attestations[0]
        assert attestation["entry"]["author"] == "supplier-a"
        verify_signed(harness, attestation, {"supplier-a", oem})
        body = attestation["entry"]["body"]
        assert set(body) == CAPACITY_FIELDS
        assert (body["efficiency"], body["mhc_per_day"], body["queued_machine_hours"], body["products"]) == (
            "0.8",
            "51.2",
            "100",
            ["P-100"],
        )
        supplier_raw = await harness.erp("supplier-a").get(f"/v1/ledgers/{ledger}/entries")
        oem_raw = await harness.erp(oem).get(f"/v1/ledgers/{ledger}/entries")
        assert oem_raw.status_code == 200
        assert oem_raw.content == supplier_raw.content, ledger
        supplier_head = (await harness.erp("supplier-a").get(f"/v1/ledgers/{ledger}/head")).json()
        oem_head = (await harness.erp(oem).get(f"/v1/ledgers/{ledger}/head")).json()
        for field in ("size", "head_hash", "root_hash"):
            assert oem_head[field] == supplier_head[field], (ledger, field)
    # Supplier-b has no profile: nothing on its channels.
    assert await entries(harness, "supplier-b", channel_ledger("oem-a", "supplier-b")) == []


async def test_identical_profile_appends_nothing_and_changed_figure_attests_on_both_channels(
    harness: Harness,
) -> None:
    await put_profile(harness)
    sizes = {ledger: len(await entries(harness, "supplier-a", ledger)) for ledger in (CHANNEL_A, CHANNEL_B)}
    await put_profile(harness)
    await put_profile(harness, {**PROFILE, "hours_per_day": 16, "baseline_efficiency": "0.80"})
    for ledger, size in sizes.items():
        assert len(await entries(harness, "supplier-a", ledger)) == size, ledger
    await put_profile(harness, {**PROFILE, "queued_machine_hours": "120"})
    for oem, ledger in (("oem-a", CHANNEL_A), ("oem-b", CHANNEL_B)):
        supplier_copy = await entries(harness, "supplier-a", ledger)
        assert len(supplier_copy) == sizes[ledger] + 1, ledger
        latest = supplier_copy[-1]
        assert latest["entry"]["kind"] == CAPACITY
        assert latest["entry"]["body"]["queued_machine_hours"] == "120"
        verify_signed(harness, latest, {"supplier-a", oem})
        assert await entries(harness, oem, ledger) == supplier_copy


# -- the capacity view ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reader", "status"),
    [("pdu", 200), ("auditor", 200), ("oem-a", 200), ("oem-b", 403), ("supplier-b", 403)],
)
async def test_capacity_view_read_matrix(harness: Harness, reader: str, status: int) -> None:
    await put_profile(harness)
    response = await view(harness, reader, "/peer/v1/views/capacity", buyer="oem-a")
    if status == 200:
        assert response.status_code == 200, response.text
        assert response.json()["entry"]["ledger"] == CHANNEL_A
        assert response.json()["entry"]["kind"] == CAPACITY
    else:
        problem(response, status)


async def test_capacity_view_for_unknown_buyer_is_404(harness: Harness) -> None:
    await put_profile(harness)
    for buyer in ("oem-z", "supplier-b", "pdu"):
        problem(await view(harness, "pdu", "/peer/v1/views/capacity", buyer=buyer), 404)


async def test_capacity_view_before_any_attestation_is_404(harness: Harness) -> None:
    problem(await view(harness, "pdu", "/peer/v1/views/capacity", buyer="oem-a"), 404)
    problem(await view(harness, "oem-a", "/peer/v1/views/capacity", buyer="oem-a"), 404)


async def test_capacity_view_is_the_latest_attestation_and_verifies(harness: Harness) -> None:
    await put_profile(harness)
    await put_profile(harness, {**PROFILE, "queued_machine_hours": "120"})
    response = await view(harness, "pdu", "/peer/v1/views/capacity", buyer="oem-a")
    assert response.status_code == 200, response.text
    item = response.json()
    verify_signed(harness, item, {"supplier-a", "oem-a"})
    harness.config.member("supplier-a").key.verify_text(
        next(s["sig"] for s in item["signatures"] if s["signer"] == "supplier-a"), bytes.fromhex(item["hash"])
    )
    assert item["entry"]["author"] == "supplier-a"
    assert set(item["entry"]["body"]) == CAPACITY_FIELDS
    assert item["entry"]["body"]["queued_machine_hours"] == "120"
    latest = of_kind(await entries(harness, "supplier-a", CHANNEL_A), CAPACITY)[-1]
    assert item["hash"] == latest["hash"]


# -- attestations for a demand --------------------------------------------------------------------


async def test_pdu_gets_an_attestation_made_for_a_demand(harness: Harness) -> None:
    await put_profile(harness)
    pending = await pending_demand_of(harness, "oem-a")
    size_b = len(await entries(harness, "supplier-a", CHANNEL_B))
    response = await harness.peer("pdu").request(
        "supplier-a", "POST", "/peer/v1/capacity/attestations", json={"buyer": "oem-a", "demand": pending}
    )
    assert response.status_code == 200, response.text
    item = response.json()
    body = item["entry"]["body"]
    assert body["demand"] == pending
    assert set(body) == CAPACITY_FIELDS | {"demand"}
    assert (body["efficiency"], body["mhc_per_day"], body["queued_machine_hours"]) == ("0.8", "51.2", "100")
    assert item["entry"]["ledger"] == CHANNEL_A and item["entry"]["kind"] == CAPACITY
    verify_signed(harness, item, {"supplier-a", "oem-a"})
    await harness.drain()
    supplier_copy = await entries(harness, "supplier-a", CHANNEL_A)
    assert supplier_copy[-1]["hash"] == item["hash"]
    assert await entries(harness, "oem-a", CHANNEL_A) == supplier_copy
    assert len(await entries(harness, "supplier-a", CHANNEL_B)) == size_b
    latest = (await view(harness, "pdu", "/peer/v1/views/capacity", buyer="oem-a")).json()
    assert latest["hash"] == item["hash"]


async def test_pdu_attestation_for_a_demand_reflects_the_latest_profile(harness: Harness) -> None:
    await put_profile(harness)
    pending = await pending_demand_of(harness, "oem-b")
    await put_profile(harness, {**PROFILE, "machines": 5})
    response = await harness.peer("pdu").request(
        "supplier-a", "POST", "/peer/v1/capacity/attestations", json={"buyer": "oem-b", "demand": pending}
    )
    assert response.status_code == 200, response.text
    body = response.json()["entry"]["body"]
    assert (body["mhc_per_day"], body["demand"]) == ("64", pending)
    assert response.json()["entry"]["ledger"] == CHANNEL_B


@pytest.mark.parametrize("requester", ["oem-a", "auditor", "supplier-b"])
async def test_only_the_pdu_may_ask_for_an_attestation_for_a_demand(harness: Harness, requester: str) -> None:
    await put_profile(harness)
    before = await entries(harness, "supplier-a", CHANNEL_A)
    response = await harness.peer(requester).request(
        "supplier-a", "POST", "/peer/v1/capacity/attestations", json={"buyer": "oem-a", "demand": DEMAND}
    )
    problem(response, 403)
    assert await entries(harness, "supplier-a", CHANNEL_A) == before


async def test_malformed_demand_hash_is_422(harness: Harness) -> None:
    await put_profile(harness)
    before = await entries(harness, "supplier-a", CHANNEL_A)
    pdu = harness.peer("pdu")
    for demand in ("A" * 64, "a" * 63, "a" * 65, "g" * 64, "", 7, None):
        response = await pdu.request(
            "supplier-a", "POST", "/peer/v1/capacity/attestations", json={"buyer": "oem-a", "demand": demand}
        )
        assert response.status_code == 422, (demand, response.text)
        assert response.headers["content-type"] == PROBLEM
    missing = await pdu.request(
        "supplier-a", "POST", "/peer/v1/capacity/attestations", json={"buyer": "oem-a"}
    )
    problem(missing, 422)
    assert await entries(harness, "supplier-a", CHANNEL_A) == before


async def test_attestation_for_a_demand_of_unknown_buyer_is_404(harness: Harness) -> None:
    await put_profile(harness)
    response = await harness.peer("pdu").request(
        "supplier-a", "POST", "/peer/v1/capacity/attestations", json={"buyer": "oem-z", "demand": DEMAND}
    )
    problem(response, 404)


async def test_pdu_cannot_read_raw_channel_entries(harness: Harness) -> None:
    await put_profile(harness)
    pdu = harness.peer("pdu")
    problem(await pdu.request("supplier-a", "GET", f"/peer/v1/ledgers/{CHANNEL_A}/entries"), 403)
    problem(await pdu.request("supplier-a", "GET", f"/peer/v1/ledgers/{CHANNEL_A}/head"), 403)
    # The view is still open to it.
    assert (await view(harness, "pdu", "/peer/v1/views/capacity", buyer="oem-a")).status_code == 200


# -- orders and lot quality ----------------------------------------------------------------------


async def test_orders_list_is_empty_then_shows_the_order_row(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    empty = await client.get("/v1/orders")
    assert empty.status_code == 200 and empty.json() == []
    ord_1 = await insert_order(harness, state="awaiting_funding")
    assert (await client.get("/v1/orders")).json() == [
        {
            "id": ord_1,
            "buyer": "oem-a",
            "product": "P-100",
            "quantity": 390,
            "machine_hours": "156",
            "escrow_id": ord_1,
            "state": "awaiting_funding",
        }
    ]


async def test_production_complete_on_unfunded_order_is_409(harness: Harness) -> None:
    await put_profile(harness)
    ord_1 = await insert_order(harness, state="awaiting_funding")
    before = await entries(harness, "supplier-a", CHANNEL_A)
    response = await harness.erp("supplier-a").post(
        f"/v1/orders/{ord_1}/production-complete",
        json={"produced_quantity": 390, "defects": {"critical": 0, "major": 5, "minor": 10}},
    )
    problem(response, 409)
    assert await order_state(harness, ord_1) == "awaiting_funding"
    assert await entries(harness, "supplier-a", CHANNEL_A) == before


async def test_production_complete_on_unknown_order_is_404(harness: Harness) -> None:
    response = await harness.erp("supplier-a").post(
        "/v1/orders/ord-404/production-complete", json={"produced_quantity": 390}
    )
    problem(response, 404)


async def test_production_complete_with_declared_defects_records_countersigned_lot_quality(
    harness: Harness,
) -> None:
    client = harness.erp("supplier-a")
    await put_profile(harness)
    ord_1 = await insert_order(harness, state="funded")
    assert (await client.get("/v1/capacity")).json()["open_network_hours"] == "156"
    defects = {"critical": 0, "major": 5, "minor": 10}
    response = await client.post(
        f"/v1/orders/{ord_1}/production-complete", json={"produced_quantity": 390, "defects": defects}
    )
    assert response.status_code == 200, response.text
    assert await order_state(harness, ord_1) == "completed"
    assert (await client.get("/v1/capacity")).json()["open_network_hours"] == "0"
    await harness.drain()
    quality = of_kind(await entries(harness, "supplier-a", CHANNEL_A), QUALITY)
    assert len(quality) == 1
    entry = quality[0]
    assert entry["entry"]["author"] == "supplier-a"
    assert entry["entry"]["body"] == {
        "order": ord_1,
        "produced_quantity": 390,
        "defects": defects,
        "source": "declared",
    }
    verify_signed(harness, entry, {"supplier-a", "oem-a"})
    assert await entries(harness, "oem-a", CHANNEL_A) == await entries(harness, "supplier-a", CHANNEL_A)
    assert of_kind(await entries(harness, "supplier-a", CHANNEL_B), QUALITY) == []
    # The same report again (an ERP's retry after a crash) is answered as the first was; another
    # report of a completed order is refused; nothing more is recorded either way.
    again = await client.post(
        f"/v1/orders/{ord_1}/production-complete", json={"produced_quantity": 390, "defects": defects}
    )
    assert again.status_code == 200, again.text
    assert {k: again.json()[k] for k in ("network_seq", "report", "quality")} == {
        k: response.json()[k] for k in ("network_seq", "report", "quality")
    }
    other = await client.post(
        f"/v1/orders/{ord_1}/production-complete", json={"produced_quantity": 389, "defects": defects}
    )
    problem(other, 409)
    assert len(of_kind(await entries(harness, "supplier-a", CHANNEL_A), QUALITY)) == 1


async def test_production_complete_for_oem_b_goes_to_that_channel(harness: Harness) -> None:
    ord_b = await insert_order(harness, state="funded", buyer="oem-b")
    response = await harness.erp("supplier-a").post(
        f"/v1/orders/{ord_b}/production-complete",
        json={"produced_quantity": 400, "defects": {"critical": 0, "major": 14, "minor": 0}},
    )
    assert response.status_code == 200, response.text
    await harness.drain()
    quality = of_kind(await entries(harness, "supplier-a", CHANNEL_B), QUALITY)
    assert [q["entry"]["body"]["order"] for q in quality] == [ord_b]
    verify_signed(harness, quality[0], {"supplier-a", "oem-b"})
    assert of_kind(await entries(harness, "supplier-a", CHANNEL_A), QUALITY) == []


async def test_production_complete_without_defects_derives_counts_from_the_dms(harness: Harness) -> None:
    client = harness.erp("supplier-a")
    sensors = [
        {
            "id": f"s-{cls}",
            "process": "drill",
            "target": "0.3",
            "tolerance": "0.1",
            "defect_class": cls,
            "standard_seconds": "60",
        }
        for cls in ("critical", "major", "minor")
    ]
    assert (await client.post("/v1/dms/sensors", json={"sensors": sensors})).status_code == 201
    end = datetime.now(UTC) - timedelta(hours=1)
    ord_2 = await insert_order(harness, state="funded")

    def reading(sensor_id: str, unit: str, value: str, order: str = ord_2) -> dict[str, Any]:
        return {
            "sensor_id": sensor_id,
            "unit_id": unit,
            "order_id": order,
            "value": value,
            "start": (end - timedelta(seconds=75)).isoformat(),
            "end": end.isoformat(),
        }

    readings = [
        reading("s-major", "u-1", "0.9"),
        reading("s-major", "u-1", "0.0"),  # the same unit again: still one defective unit
        reading("s-major", "u-2", "0.9"),
        reading("s-minor", "u-2", "0.9"),
        reading("s-critical", "u-3", "0.3"),
        reading("s-critical", "u-9", "0.9", order="ord-other"),
    ]
    ingested = await client.post("/v1/dms/readings", json={"readings": readings})
    assert ingested.status_code == 200, ingested.text
    response = await client.post(f"/v1/orders/{ord_2}/production-complete", json={"produced_quantity": 390})
    assert response.status_code == 200, response.text
    await harness.drain()
    quality = of_kind(await entries(harness, "supplier-a", CHANNEL_A), QUALITY)
    assert len(quality) == 1
    assert quality[0]["entry"]["body"] == {
        "order": ord_2,
        "produced_quantity": 390,
        "defects": {"critical": 0, "major": 2, "minor": 1},
        "source": "dms",
    }
    verify_signed(harness, quality[0], {"supplier-a", "oem-a"})
    assert await order_state(harness, ord_2) == "completed"


async def test_quality_view_is_readable_by_pdu_and_verifies(harness: Harness) -> None:
    ord_1 = await insert_order(harness, state="funded")
    defects = {"critical": 0, "major": 5, "minor": 10}
    response = await harness.erp("supplier-a").post(
        f"/v1/orders/{ord_1}/production-complete", json={"produced_quantity": 390, "defects": defects}
    )
    assert response.status_code == 200, response.text
    await harness.drain()
    for reader in ("pdu", "auditor", "oem-a"):
        seen = await view(harness, reader, f"/peer/v1/views/quality/{ord_1}", buyer="oem-a")
        assert seen.status_code == 200, (reader, seen.text)
        item = seen.json()
        assert item["entry"]["kind"] == QUALITY and item["entry"]["ledger"] == CHANNEL_A
        assert item["entry"]["body"]["defects"] == defects and item["entry"]["body"]["source"] == "declared"
        verify_signed(harness, item, {"supplier-a", "oem-a"})
    problem(await view(harness, "oem-b", f"/peer/v1/views/quality/{ord_1}", buyer="oem-a"), 403)
    problem(await view(harness, "supplier-b", f"/peer/v1/views/quality/{ord_1}", buyer="oem-a"), 403)
    problem(await view(harness, "pdu", "/peer/v1/views/quality/ord-404", buyer="oem-a"), 404)
    problem(await view(harness, "pdu", f"/peer/v1/views/quality/{ord_1}", buyer="oem-b"), 404)
    problem(await view(harness, "pdu", f"/peer/v1/views/quality/{ord_1}", buyer="oem-z"), 404)


INVALID_COMPLETIONS: dict[str, Any] = {
    "negative produced_quantity": {"produced_quantity": -1},
    "fractional produced_quantity": {"produced_quantity": 390.5},
    "missing produced_quantity": {"defects": {"critical": 0, "major": 0, "minor": 0}},
    "unknown defect class": {"produced_quantity": 390, "defects": {"cosmetic": 1}},
    "negative defect count": {"produced_quantity": 390, "defects": {"major": -1}},
    "fractional defect count": {"produced_quantity": 390, "defects": {"major": 1.5}},
    "unknown field": {"produced_quantity": 390, "sample": 50},
}
# Integers are JSON integers (SPEC §10): not floats, booleans or text.
MISTYPED_COMPLETIONS: dict[str, Any] = {
    "float produced_quantity 390.0": b'{"produced_quantity": 390.0}',
    "boolean produced_quantity": {"produced_quantity": True},
    "text produced_quantity": {"produced_quantity": "390"},
    "float defect count 5.0": b'{"produced_quantity": 390, "defects": {"major": 5.0}}',
    "boolean defect count": {"produced_quantity": 390, "defects": {"major": True}},
}


async def _refused_completions(harness: Harness, cases: dict[str, Any]) -> list[str]:
    """Report production complete with each body on its own funded order; list the non-422 answers."""
    client = harness.erp("supplier-a")
    wrong = []
    for name, body in cases.items():
        order_id = await insert_order(harness, state="funded")
        path = f"/v1/orders/{order_id}/production-complete"
        if isinstance(body, bytes):
            response = await client.post(path, content=body, headers={"Content-Type": "application/json"})
        else:
            response = await client.post(path, json=body)
        if response.status_code != 422 or response.headers["content-type"] != PROBLEM:
            wrong.append(f"{name}: HTTP {response.status_code} {response.text[:120]}")
        elif await order_state(harness, order_id) != "funded":
            wrong.append(f"{name}: order state changed")
    return wrong


async def test_invalid_production_complete_bodies_are_422(harness: Harness) -> None:
    wrong = await _refused_completions(harness, INVALID_COMPLETIONS)
    assert not wrong, "\n".join(wrong)
    assert of_kind(await entries(harness, "supplier-a", CHANNEL_A), QUALITY) == []


async def test_float_boolean_or_text_quantities_in_production_complete_are_422(harness: Harness) -> None:
    wrong = await _refused_completions(harness, MISTYPED_COMPLETIONS)
    assert not wrong, "\n".join(wrong)
    assert of_kind(await entries(harness, "supplier-a", CHANNEL_A), QUALITY) == []
