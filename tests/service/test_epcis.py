"""The auditor's EPCIS 2.0 export after the paper's two scenarios: valid against the
documented required fields, the mapping as documented, every eventID a content hash."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sqlalchemy import text

from supplymesh.audit.epcis import MEDIA_TYPE, mismatched_event_ids
from supplymesh.node.erp_clients import CLIENTS_FILE, add_client
from tests.harness import Harness
from tests.service import test_scenarios as scenarios
from tests.service.test_audit import drop_triggers
from tests.service.test_scenarios import setup_split

pytestmark = [pytest.mark.anyio, pytest.mark.db]
SCHEMA = json.loads(
    (Path(__file__).resolve().parent.parent / "data" / "epcis-2.0-required-fields.schema.json").read_text()
)


async def export(harness: Harness, **params: str) -> dict[str, Any]:
    response = await harness.erp("auditor").get("/v1/epcis", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(MEDIA_TYPE)
    document: dict[str, Any] = json.loads(response.content, parse_float=Decimal)
    jsonschema.validate(document, SCHEMA)
    assert mismatched_event_ids(document) == []
    return document


def kinds(document: dict[str, Any]) -> Counter[tuple[str, str | None, str | None, str | None]]:
    return Counter(
        (e["type"], e.get("action"), e.get("bizStep"), e.get("disposition"))
        for e in document["epcisBody"]["eventList"]
    )


async def test_scenario_1_split_exports_demand_and_allocations(harness: Harness) -> None:
    demand = await setup_split(harness)
    document = await export(harness)
    events = document["epcisBody"]["eventList"]
    assert kinds(document) == Counter({("TransactionEvent", "ADD", None, None): 3})
    demand_event, *allocations = events
    assert demand_event["bizTransactionList"] == [
        {"type": "po", "bizTransaction": f"urn:supplymesh:demand:oem-a:{demand['id']}"}
    ]
    assert demand_event["quantityList"] == [{"epcClass": "urn:supplymesh:product:P-100", "quantity": 1000}]
    assert [
        (
            a["sourceList"][0]["source"],
            a["quantityList"][0]["quantity"],
            a["bizTransactionList"][1]["bizTransaction"],
        )
        for a in allocations
    ] == [
        (f"urn:supplymesh:party:{x['supplier']}", x["quantity"], f"urn:supplymesh:order:{x['escrow_id']}")
        for x in demand["allocations"]
    ]
    assert all(e["bizTransactionList"][0]["type"] == "po" for e in events)
    # the same ledger, from another holder's replica: the same bytes
    first = await harness.erp("auditor").get("/v1/epcis")
    again = await harness.erp("auditor").get("/v1/epcis", params={"holder": "supplier-b"})
    assert first.content == again.content


async def test_scenario_2_release_refund_and_reoffer_export(harness: Harness) -> None:
    await scenarios.test_scenario_2_release_refund_and_reoffer(harness)  # with all its checks
    document = await export(harness)
    assert kinds(document) == Counter(
        {
            ("TransactionEvent", "ADD", None, None): 6,  # 2 demands, 2 allocations, offer, acceptance
            ("TransformationEvent", None, "commissioning", "active"): 2,  # two lots produced
            ("ObjectEvent", "OBSERVE", "inspecting", "conformant"): 1,
            ("ObjectEvent", "OBSERVE", "inspecting", "non_conformant"): 1,
            ("TransactionEvent", "OBSERVE", "accepting", None): 2,  # two releases
            ("TransactionEvent", "DELETE", None, None): 1,  # the refund
        }
    )
    events = document["epcisBody"]["eventList"]
    rejected = next(e for e in events if e.get("disposition") == "non_conformant")
    assert (rejected["supplymesh:defectsMajor"], rejected["quantityList"][0]["quantity"]) == (14, 400)
    lot = rejected["quantityList"][0]["epcClass"]
    offer = next(
        e for e in events if any(t["type"] == "urn:supplymesh:btt:offer" for t in e["bizTransactionList"])
    )
    assert offer["quantityList"][0]["epcClass"] == lot
    assert offer["destinationList"] == [{"type": "owning_party", "destination": "urn:supplymesh:party:oem-b"}]
    final = events[-1]
    assert (final["type"], final["bizStep"], final["quantityList"][0]["epcClass"]) == (
        "TransactionEvent",
        "accepting",
        lot,
    )
    assert final["destinationList"][0]["destination"] == "urn:supplymesh:party:oem-b"
    passed = next(e for e in events if e.get("disposition") == "conformant")
    only_a = await export(harness, demand=passed["bizTransactionList"][0]["bizTransaction"].rsplit(":", 1)[1])
    assert 0 < len(only_a["epcisBody"]["eventList"]) < len(events)


async def test_a_tampered_event_no_longer_matches_its_event_id(harness: Harness) -> None:
    await setup_split(harness)
    document = await export(harness)
    allocation = document["epcisBody"]["eventList"][1]
    allocation["quantityList"][0]["quantity"] += 1
    assert mismatched_event_ids(document) == [allocation["eventID"]]


async def test_export_needs_an_auditor_token_with_the_read_scope(harness: Harness) -> None:
    # a client of the auditor without `read` (added before the auditor node starts)
    audit_only = add_client(harness.state_dir / "auditor" / CLIENTS_FILE, "audit-only", ("audit",))
    assert (await harness.erp("auditor", token=audit_only).get("/v1/epcis")).status_code == 403
    assert (await harness.anonymous("auditor").get("/v1/epcis")).status_code == 401
    foreign = harness.erp("auditor", token=harness.token("oem-a"))
    assert (await foreign.get("/v1/epcis")).status_code == 401
    assert (await harness.erp("auditor").get("/v1/epcis", params={"holder": "nobody"})).status_code == 404


async def test_a_copy_that_does_not_verify_is_not_exported(harness: Harness) -> None:
    await setup_split(harness)
    engine = harness.node("pdu").engine
    drop_triggers(engine)
    with engine.begin() as conn:
        conn.execute(
            text(  # seq 2: the demand (seq 1 is the network's genesis)
                "UPDATE ledger_entries SET entry = replace(entry, :old, :new) "
                "WHERE ledger = 'network' AND seq = 2"
            ),
            {"old": '"quantity":1000', "new": '"quantity":9000'},
        )
    refused = await harness.erp("auditor").get("/v1/epcis")
    assert refused.status_code == 502 and "does not verify" in refused.json()["detail"]
    replica = await export(harness, holder="oem-b")
    assert replica["epcisBody"]["eventList"][0]["quantityList"][0]["quantity"] == 1000
