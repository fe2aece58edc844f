"""The EPCIS 2.0 export of a network ledger: the paper's §5/§6 example folded into events."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from supplymesh.audit.epcis import CONTEXT, export_document, mismatched_event_ids, render
from supplymesh.audit.epcis_ids import lot_class, party
from supplymesh.core.contracts.network import acceptance_escrow_id, decide_quality, decide_split
from supplymesh.core.contracts.split import AttestedCapacity
from supplymesh.core.entry import Entry
from tests.unit.test_network_state import Ledger, demand_terms


class RecordingLedger(Ledger):
    def __init__(self) -> None:
        super().__init__()
        self.entries: list[Entry] = []

    def append(self, kind: str, body: dict[str, Any]) -> Entry:
        entry = super().append(kind, body)
        self.entries.append(entry)
        return entry


def paper_example() -> RecordingLedger:
    """SPEC §5 split (390 + 400 of 1000), §6 release of A, refund of B, re-offer to oem-b."""
    ledger = RecordingLedger()
    terms = demand_terms(1000, 400, "2.5", 1250)
    terms["priority_suppliers"] = ["supplier-a", "supplier-b"]
    first = ledger.action("demand.submitted", "oem-a", "d-1", terms)
    capacities = {
        "supplier-a": AttestedCapacity("supplier-a", Decimal("51.2"), Decimal(100), ("P-100",)),
        "supplier-b": AttestedCapacity("supplier-b", Decimal(36), Decimal(20), ("P-100",)),
    }
    ledger.decide("decision.split", {}, decide_split(ledger.state, first.hash, capacities, {}))
    other_terms = demand_terms(600, 240, "4", 1300)
    other = ledger.action("demand.submitted", "oem-b", "d-2", other_terms)
    unavailable = {"supplier-a": "no capacity", "supplier-b": "no capacity", "supplier-c": "no capacity"}
    ledger.decide("decision.split", {}, decide_split(ledger.state, other.hash, {}, unavailable))
    escrows = [a.escrow_id for a in ledger.state.demands[first.hash].allocations]
    for escrow_id in escrows:
        escrow = ledger.state.escrows[escrow_id]
        ledger.action(
            "escrow.deposited",
            "oem-a",
            f"pay-{escrow_id}",
            {
                "escrow": escrow_id,
                "amount": escrow.amount,
                "currency": "EUR",
                "payment_reference_commitment": "a" * 64,
            },
        )
    for escrow_id, produced, major in ((escrows[0], 390, 5), (escrows[1], 400, 14)):
        supplier = ledger.state.escrows[escrow_id].supplier
        ledger.action(
            "production.completed",
            supplier,
            f"done-{escrow_id}",
            {
                "escrow": escrow_id,
                "order": escrow_id,
                "produced_quantity": produced,
                "defects": {"critical": 0, "major": major, "minor": 10 if major == 5 else 0},
                "source": "declared",
            },
        )
        kind, result = decide_quality(ledger.state, escrow_id)
        ledger.decide(kind, {}, result)
    offer = next(iter(ledger.state.offers.values()))
    ledger.action(
        "offer.accepted",
        "oem-b",
        "accept-1",
        {"offer": offer.id, "escrow": acceptance_escrow_id(offer.id), "unit_price": offer.unit_price},
    )
    accepted = next(e for e in ledger.state.escrows.values() if e.offer == offer.id)
    ledger.action(
        "escrow.deposited",
        "oem-b",
        "pay-accept",
        {
            "escrow": accepted.id,
            "amount": accepted.amount,
            "currency": "EUR",
            "payment_reference_commitment": "b" * 64,
        },
    )
    kind, result = decide_quality(ledger.state, accepted.id)
    ledger.decide(kind, {}, result)
    return ledger


def summary(event: dict[str, Any]) -> tuple[str, str | None, str | None, str | None]:
    return (event["type"], event.get("action"), event.get("bizStep"), event.get("disposition"))


def test_paper_example_maps_to_the_documented_events() -> None:
    ledger = paper_example()
    document = export_document(ledger.entries)
    assert document["@context"] == CONTEXT
    assert (document["type"], document["schemaVersion"]) == ("EPCISDocument", "2.0")
    assert document["creationDate"] == ledger.entries[-1].time
    events = document["epcisBody"]["eventList"]
    assert [summary(e) for e in events] == [
        ("TransactionEvent", "ADD", None, None),  # demand of oem-a
        ("TransactionEvent", "ADD", None, None),  # allocation to supplier-a
        ("TransactionEvent", "ADD", None, None),  # allocation to supplier-b
        ("TransactionEvent", "ADD", None, None),  # demand of oem-b (nothing allocated)
        ("TransformationEvent", None, "commissioning", "active"),  # lot of supplier-a
        ("ObjectEvent", "OBSERVE", "inspecting", "conformant"),
        ("TransactionEvent", "OBSERVE", "accepting", None),  # release to supplier-a
        ("TransformationEvent", None, "commissioning", "active"),  # lot of supplier-b
        ("ObjectEvent", "OBSERVE", "inspecting", "non_conformant"),
        ("TransactionEvent", "DELETE", None, None),  # refund to oem-a
        ("TransactionEvent", "ADD", None, None),  # re-offer to oem-b
        ("TransactionEvent", "ADD", None, None),  # acceptance by oem-b
        ("TransactionEvent", "OBSERVE", "accepting", None),  # release of the accepted lot
    ]
    demand_a = events[0]
    assert demand_a["bizTransactionList"] == [
        {"type": "po", "bizTransaction": "urn:supplymesh:demand:oem-a:d-1"}
    ]
    assert demand_a["quantityList"] == [{"epcClass": "urn:supplymesh:product:P-100", "quantity": 1000}]
    allocation_b = events[2]
    escrow_b = ledger.state.demands[ledger.entries[0].hash].allocations[1].escrow_id
    assert allocation_b["quantityList"][0]["quantity"] == 400
    assert allocation_b["sourceList"] == [{"type": "owning_party", "source": party("supplier-b")}]
    assert allocation_b["bizTransactionList"][1]["bizTransaction"] == f"urn:supplymesh:order:{escrow_b}"
    rejected = events[8]
    assert rejected["quantityList"] == [{"epcClass": lot_class("P-100", escrow_b), "quantity": 400}]
    assert rejected["supplymesh:defectsMajor"] == 14
    offer = events[10]
    assert offer["destinationList"] == [{"type": "owning_party", "destination": party("oem-b")}]
    assert offer["quantityList"] == rejected["quantityList"]  # the same lot travels on
    assert all(e["eventTimeZoneOffset"] == "+00:00" for e in events)
    assert all(e["supplymesh:networkEntry"].startswith("urn:supplymesh:entry:network:") for e in events)


def test_event_ids_are_content_hashes_and_unique() -> None:
    document = export_document(paper_example().entries)
    events = document["epcisBody"]["eventList"]
    assert mismatched_event_ids(document) == []
    assert len({e["eventID"] for e in events}) == len(events)
    reparsed = json.loads(render(document))
    assert mismatched_event_ids(reparsed) == []
    reparsed["epcisBody"]["eventList"][8]["supplymesh:defectsMajor"] = 1
    assert mismatched_event_ids(reparsed) == [events[8]["eventID"]]


def test_same_ledger_gives_byte_identical_export() -> None:
    first = render(export_document(paper_example().entries))
    second = render(export_document(paper_example().entries))
    assert first == second


def test_filter_by_demand_keeps_its_story_and_the_offers_made_to_it() -> None:
    entries = paper_example().entries
    only_b = export_document(entries, demand="d-2", buyer="oem-b")["epcisBody"]["eventList"]
    assert [summary(e)[:2] for e in only_b] == [
        ("TransactionEvent", "ADD"),  # its demand
        ("TransactionEvent", "ADD"),  # the re-offer made to it
        ("TransactionEvent", "ADD"),  # its acceptance
        ("TransactionEvent", "OBSERVE"),  # the release of the lot it accepted
    ]
    only_a = export_document(entries, demand="d-1")["epcisBody"]["eventList"]
    assert len(only_a) == 12
    assert export_document(entries, demand="no-such")["epcisBody"]["eventList"] == []
