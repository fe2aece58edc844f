"""The typed network vocabulary: the SPEC's messages accepted, one negative case per rule."""

from __future__ import annotations

from typing import Any

import pytest

from supplymesh.core.numbers import MAX_SAFE_INTEGER
from supplymesh.core.vocabulary.bodies import (
    CapacityAttestation,
    DemandTerms,
    Deposit,
    OfferAcceptance,
    ProductionReport,
    parse_action_body,
    parse_body,
)
from supplymesh.core.vocabulary.decisions import SplitResult, check_result
from supplymesh.core.vocabulary.values import MessageError, Money
from tests.service.test_oem_api import NORMALISED

Json = dict[str, Any]

DEMAND: Json = NORMALISED  # the appendix A demand as the OEM signs it
ESCROW = "0123456789abcdef0123456789abcdef"


def with_(base: Json, **changes: Any) -> Json:
    return {**base, **changes}


def without(base: Json, key: str) -> Json:
    return {k: v for k, v in base.items() if k != key}


def test_the_spec_demand_is_a_valid_network_message() -> None:
    terms = parse_body(DemandTerms, DEMAND)
    assert terms.priority_suppliers == ("supplier-a", "supplier-b")
    assert terms.escrow_amount(390) == 487500
    assert terms.aql.as_text() == {"critical": "0", "major": "2.5", "minor": "4"}


BAD_DEMANDS: dict[str, Any] = {
    "quantity zero": with_(DEMAND, quantity=0),
    "quantity negative": with_(DEMAND, quantity=-5),
    "quantity a boolean": with_(DEMAND, quantity=True),
    "quantity a float": with_(DEMAND, quantity=1000.0),
    "quantity a string": with_(DEMAND, quantity="1000"),
    "quantity past exact integers": with_(DEMAND, quantity=MAX_SAFE_INTEGER + 1),
    "quantity missing": without(DEMAND, "quantity"),
    "lead time zero": with_(DEMAND, lead_time_days=0),
    "lead time past ten years": with_(DEMAND, lead_time_days=3651),
    "rmhd negative": with_(DEMAND, required_machine_hours="-400"),
    "rmhd zero": with_(DEMAND, required_machine_hours="0"),
    "rmhd not canonical": with_(DEMAND, required_machine_hours="400.0"),
    "rmhd a JSON number": with_(DEMAND, required_machine_hours=400),
    "rmhd with an exponent": with_(DEMAND, required_machine_hours="4e2"),
    "rmhd below a micro-hour per unit": with_(DEMAND, required_machine_hours="0.0009"),
    "no priority supplier": with_(DEMAND, priority_suppliers=[]),
    "a supplier listed twice": with_(DEMAND, priority_suppliers=["supplier-a", "supplier-a"]),
    "a priority supplier that is not a member id": with_(DEMAND, priority_suppliers=["Supplier A"]),
    "aql above 100": with_(DEMAND, aql={"critical": "0", "major": "101", "minor": "4"}),
    "aql negative": with_(DEMAND, aql={"critical": "-1", "major": "2.5", "minor": "4"}),
    "aql not canonical": with_(DEMAND, aql={"critical": "0", "major": "2.50", "minor": "4"}),
    "aql class missing": with_(DEMAND, aql={"critical": "0", "major": "2.5"}),
    "unit price negative": with_(DEMAND, unit_price={"amount": -1, "currency": "EUR"}),
    "currency not ISO 4217": with_(DEMAND, unit_price={"amount": 1250, "currency": "EUX"}),
    "currency in lower case": with_(DEMAND, unit_price={"amount": 1250, "currency": "eur"}),
    "escrow past exact integers": with_(
        DEMAND, unit_price={"amount": MAX_SAFE_INTEGER, "currency": "EUR"}, quantity=1000
    ),
    "an unknown field": with_(DEMAND, note="private"),
    "product with a space": with_(DEMAND, product="P 100"),
    "not an object": [],
}


@pytest.mark.parametrize("case", list(BAD_DEMANDS))
def test_demand_terms_breaking_a_rule_are_refused(case: str) -> None:
    with pytest.raises(MessageError):
        parse_action_body("demand.submitted", BAD_DEMANDS[case])


def test_refusal_names_the_field_and_the_rule() -> None:
    with pytest.raises(MessageError, match=r"required_machine_hours: -400 is not positive"):
        parse_action_body("demand.submitted", with_(DEMAND, required_machine_hours="-400"))
    with pytest.raises(MessageError, match="at most once"):
        parse_action_body("demand.submitted", with_(DEMAND, priority_suppliers=["supplier-a"] * 2))


DEPOSIT: Json = {
    "escrow": ESCROW,
    "amount": 487500,
    "currency": "EUR",
    "payment_reference_commitment": "a" * 64,
}
REPORT: Json = {
    "escrow": ESCROW,
    "order": ESCROW,
    "produced_quantity": 390,
    "defects": {"critical": 0, "major": 5, "minor": 10},
    "source": "declared",
}


def test_the_spec_deposit_report_and_acceptance_are_valid() -> None:
    assert parse_body(Deposit, DEPOSIT).amount == 487500
    assert parse_body(ProductionReport, REPORT).lot().defects.major == 5
    sampled = parse_body(ProductionReport, with_(REPORT, sample_size=50))
    assert sampled.lot().sample_size == 50
    assert (
        parse_body(OfferAcceptance, {"offer": ESCROW, "escrow": ESCROW, "unit_price": 1300}).unit_price
        == 1300
    )


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (Deposit, with_(DEPOSIT, escrow="not-an-escrow")),
        (Deposit, with_(DEPOSIT, amount=-1)),
        (Deposit, with_(DEPOSIT, payment_reference_commitment="plain text")),
        (Deposit, with_(DEPOSIT, payment_reference="IBAN DE00")),
        (ProductionReport, with_(REPORT, order="f" * 32)),
        (ProductionReport, with_(REPORT, produced_quantity=-1)),
        (ProductionReport, with_(REPORT, defects={"critical": 0, "major": 391, "minor": 0})),
        (ProductionReport, with_(REPORT, defects={"critical": 0, "major": -1, "minor": 0})),
        (ProductionReport, with_(REPORT, defects={"major": 5, "minor": 10})),
        (ProductionReport, with_(REPORT, source="guess")),
        (ProductionReport, with_(REPORT, sample_size=391)),
        (ProductionReport, with_(REPORT, sample_size=0)),
        (ProductionReport, with_(REPORT, sample_size=8, defects={"critical": 0, "major": 9, "minor": 0})),
        (OfferAcceptance, {"offer": ESCROW, "escrow": ESCROW, "unit_price": -1}),
        (OfferAcceptance, {"offer": ESCROW, "unit_price": 1}),
    ],
)
def test_action_bodies_breaking_a_rule_are_refused(model: type[Any], body: Json) -> None:
    with pytest.raises(MessageError):
        parse_body(model, body)


ATTESTATION: Json = {
    "efficiency": "0.8",
    "mhc_per_day": "51.2",
    "queued_machine_hours": "100",
    "products": ["P-100"],
    "computed_at": "2026-11-23T00:00:00.000000Z",
}


@pytest.mark.parametrize(
    "changes",
    [
        {"queued_machine_hours": "-100"},
        {"mhc_per_day": "-1"},
        {"efficiency": "1.2"},
        {"mhc_per_day": "51.20"},
        {"computed_at": "yesterday"},
        {"products": "P-100"},
        {"demand": "short"},
    ],
)
def test_capacity_attestations_breaking_a_rule_are_refused(changes: Json) -> None:
    assert parse_body(CapacityAttestation, ATTESTATION).mhc_per_day == "51.2"
    with pytest.raises(MessageError):
        parse_body(CapacityAttestation, with_(ATTESTATION, **changes))


def test_money_multiplies_only_within_exact_integers() -> None:
    price = Money(amount=1250, currency="EUR")
    assert price.times(390) == Money(amount=487500, currency="EUR")
    with pytest.raises(MessageError, match="exact JSON integer"):
        price.times(MAX_SAFE_INTEGER)
    with pytest.raises(MessageError):
        price.same_currency(Money(amount=1, currency="USD"))


ALLOCATION: Json = {
    "supplier": "supplier-a",
    "quantity": 390,
    "machine_hours": "156",
    "escrow_amount": 487500,
    "escrow_id": ESCROW,
}
SPLIT_RESULT: Json = {
    "demand": "d" * 64,
    "allocations": [ALLOCATION],
    "unallocated": 610,
    "allocated": 390,
    "skipped": [],
    "status": "partially_allocated",
}


@pytest.mark.parametrize(
    "changes",
    [
        {"allocations": [with_(ALLOCATION, quantity=-390)], "allocated": -390},
        {"allocations": [with_(ALLOCATION, machine_hours="-156")]},
        {"allocations": [with_(ALLOCATION, escrow_amount=-487500)]},
        {"allocations": [ALLOCATION, with_(ALLOCATION, escrow_id="f" * 32)], "allocated": 780},
        {"allocations": [ALLOCATION, with_(ALLOCATION, supplier="supplier-b")], "allocated": 780},
        {"allocated": 400},
        {"status": "allocated"},
        {"allocations": [], "allocated": 0, "status": "partially_allocated"},
    ],
)
def test_split_results_breaking_a_rule_cannot_be_built(changes: Json) -> None:
    assert isinstance(check_result("decision.split", SPLIT_RESULT), SplitResult)
    with pytest.raises(MessageError):
        check_result("decision.split", with_(SPLIT_RESULT, **changes))
