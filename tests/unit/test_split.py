"""Tests for supplymesh.core.contracts.split: Algorithm 3, the order split (SPEC §5, §10)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Context, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from supplymesh.core.contracts.capacity import made_for
from supplymesh.core.contracts.split import AttestedCapacity, DemandTerms, Split, split

# Big enough that no check in this file ever rounds.
BIG = Context(prec=200)
DEFAULT_PRODUCT = "bracket-x1"


def demand_of(
    quantity: int,
    lead_time_days: int,
    required_machine_hours: str | Decimal,
    priority: tuple[str, ...],
    unit_price: int = 1250,
    product: str = DEFAULT_PRODUCT,
) -> DemandTerms:
    return DemandTerms(
        product=product,
        quantity=quantity,
        lead_time_days=lead_time_days,
        required_machine_hours=Decimal(required_machine_hours),
        priority=priority,
        unit_price=unit_price,
    )


def capacity_of(
    supplier: str, mhc_per_day: str | Decimal, queue: str | Decimal, products: tuple[str, ...] = ()
) -> AttestedCapacity:
    return AttestedCapacity(
        supplier=supplier,
        mhc_per_day=Decimal(mhc_per_day),
        queued_machine_hours=Decimal(queue),
        products=products or (DEFAULT_PRODUCT,),
    )


def limit_of(capacity: AttestedCapacity, lead_time_days: int) -> Decimal:
    """MHCp × Ld − external queue, computed independently and exactly."""
    return BIG.subtract(
        BIG.multiply(capacity.mhc_per_day, Decimal(lead_time_days)), capacity.queued_machine_hours
    )


def exact_hours(quantity: int, demand: DemandTerms) -> Decimal:
    """Q × RMHd / D, unrounded."""
    return BIG.divide(
        BIG.multiply(Decimal(quantity), demand.required_machine_hours), Decimal(demand.quantity)
    )


def worked_example() -> tuple[DemandTerms, dict[str, AttestedCapacity]]:
    demand = demand_of(1000, 5, "400", ("supplier-a", "supplier-b"))
    capacities = {
        "supplier-a": capacity_of("supplier-a", "51.2", "100"),
        "supplier-b": capacity_of("supplier-b", "36", "20"),
    }
    return demand, capacities


# --- SPEC §5 worked example -------------------------------------------------------------


def test_spec_worked_example_allocations_hours_escrows_and_unallocated() -> None:
    demand, capacities = worked_example()

    result = split(demand, capacities, {}, {})

    assert [(a.supplier, a.quantity, a.machine_hours, a.escrow_amount) for a in result.allocations] == [
        ("supplier-a", 390, Decimal("156"), 487500),
        ("supplier-b", 400, Decimal("160"), 500000),
    ]
    assert result.unallocated == 210
    assert result.skipped == ()


def test_spec_worked_example_wire_form_writes_hours_without_trailing_zeros() -> None:
    demand, capacities = worked_example()

    result = split(demand, capacities, {}, {})

    assert [a.as_json() for a in result.allocations] == [
        {"supplier": "supplier-a", "quantity": 390, "machine_hours": "156", "escrow_amount": 487500},
        {"supplier": "supplier-b", "quantity": 400, "machine_hours": "160", "escrow_amount": 500000},
    ]


# --- rules of the split ------------------------------------------------------------------


def test_open_hours_reduce_the_available_hours() -> None:
    demand, capacities = worked_example()

    # supplier-a: 256 − 100 − 56 = 100 h → 250 units; supplier-b: 180 − 20 − 60 = 100 h → 250 units.
    result = split(demand, capacities, {"supplier-a": Decimal("56"), "supplier-b": Decimal("60")}, {})

    assert [(a.supplier, a.quantity, a.machine_hours) for a in result.allocations] == [
        ("supplier-a", 250, Decimal("100")),
        ("supplier-b", 250, Decimal("100")),
    ]
    assert result.unallocated == 500


def test_supplier_with_no_room_left_gets_no_allocation_and_is_not_skipped() -> None:
    demand, capacities = worked_example()

    # supplier-a's 156 h are all open already: q = 0.
    result = split(demand, capacities, {"supplier-a": Decimal("156")}, {})

    assert [a.supplier for a in result.allocations] == ["supplier-b"]
    assert result.skipped == ()
    assert result.unallocated == 600


def test_supplier_with_less_than_one_unit_of_room_gets_no_allocation() -> None:
    # One unit needs 0.4 h; supplier-a has 0.39 h left.
    demand, capacities = worked_example()

    result = split(demand, capacities, {"supplier-a": Decimal("155.61")}, {})

    assert [a.supplier for a in result.allocations] == ["supplier-b"]
    assert result.skipped == ()


def test_open_hours_beyond_the_limit_give_no_allocation_rather_than_a_negative_one() -> None:
    demand, capacities = worked_example()

    result = split(demand, capacities, {"supplier-a": Decimal("500")}, {})

    assert [a.supplier for a in result.allocations] == ["supplier-b"]
    assert all(a.quantity > 0 for a in result.allocations)


def test_external_queue_beyond_the_capacity_gives_no_allocation() -> None:
    demand = demand_of(10, 1, "1", ("supplier-a",))
    capacities = {"supplier-a": capacity_of("supplier-a", "5", "8")}

    result = split(demand, capacities, {}, {})

    assert result == Split((), 10, ())


def test_supplier_without_attestation_is_skipped_with_the_given_reason() -> None:
    demand, capacities = worked_example()
    demand = demand_of(1000, 5, "400", ("supplier-c", "supplier-a", "supplier-b"))

    result = split(demand, capacities, {}, {"supplier-c": "did not answer within 5 s"})

    assert result.skipped == (("supplier-c", "did not answer within 5 s"),)
    assert [(a.supplier, a.quantity) for a in result.allocations] == [
        ("supplier-a", 390),
        ("supplier-b", 400),
    ]
    assert result.unallocated == 210


def test_supplier_without_attestation_or_reason_is_skipped_with_the_default_reason() -> None:
    demand, capacities = worked_example()
    demand = demand_of(1000, 5, "400", ("supplier-a", "supplier-c", "supplier-b"))

    result = split(demand, capacities, {}, {})

    assert len(result.skipped) == 1
    supplier, reason = result.skipped[0]
    assert supplier == "supplier-c"
    assert "attestation" in reason
    assert [a.supplier for a in result.allocations] == ["supplier-a", "supplier-b"]


def test_supplier_that_does_not_make_the_product_is_skipped() -> None:
    demand, capacities = worked_example()
    capacities["supplier-a"] = capacity_of("supplier-a", "51.2", "100", products=("gear-z9", "shaft-y2"))

    result = split(demand, capacities, {}, {})

    assert result.skipped == (("supplier-a", f"does not make {DEFAULT_PRODUCT}"),)
    assert [(a.supplier, a.quantity) for a in result.allocations] == [("supplier-b", 400)]
    assert result.unallocated == 600


def test_iteration_stops_once_nothing_remains_and_later_suppliers_are_untouched() -> None:
    demand = demand_of(100, 5, "40", ("supplier-a", "supplier-c", "supplier-d", "supplier-b"))
    capacities = {
        "supplier-a": capacity_of("supplier-a", "51.2", "100"),  # 156 h → room for 390 units
        "supplier-d": capacity_of("supplier-d", "1", "0", products=("gear-z9",)),
        "supplier-b": capacity_of("supplier-b", "36", "20"),
    }

    result = split(demand, capacities, {}, {"supplier-c": "timeout"})

    assert [(a.supplier, a.quantity, a.machine_hours) for a in result.allocations] == [
        ("supplier-a", 100, Decimal("40")),
    ]
    assert result.unallocated == 0
    assert result.skipped == ()


def test_last_supplier_takes_only_what_remains() -> None:
    demand = demand_of(500, 5, "200", ("supplier-a", "supplier-b"))
    _, capacities = worked_example()

    result = split(demand, capacities, {}, {})

    # supplier-a: 156 h at 0.4 h/unit = 390; supplier-b takes the remaining 110 (44 h).
    assert [(a.supplier, a.quantity, a.machine_hours) for a in result.allocations] == [
        ("supplier-a", 390, Decimal("156")),
        ("supplier-b", 110, Decimal("44")),
    ]
    assert result.unallocated == 0


def test_everything_is_unallocated_when_nobody_can_take_anything() -> None:
    demand, capacities = worked_example()
    open_hours = {"supplier-a": Decimal("156"), "supplier-b": Decimal("160")}

    result = split(demand, capacities, open_hours, {})

    assert result == Split((), 1000, ())


def test_everything_is_unallocated_when_every_supplier_is_skipped() -> None:
    demand = demand_of(1000, 5, "400", ("supplier-a", "supplier-b"))

    result = split(demand, {}, {}, {"supplier-a": "timeout"})

    assert result.allocations == ()
    assert result.unallocated == 1000
    assert [s for s, _ in result.skipped] == ["supplier-a", "supplier-b"]


def test_zero_unit_price_opens_zero_escrows() -> None:
    demand, capacities = worked_example()
    demand = demand_of(1000, 5, "400", ("supplier-a", "supplier-b"), unit_price=0)

    result = split(demand, capacities, {}, {})

    assert [a.escrow_amount for a in result.allocations] == [0, 0]


# --- exactness (SPEC §10) ------------------------------------------------------------------


def test_hours_per_unit_of_a_tenth_and_seven_tenths_available_give_exactly_seven_units() -> None:
    # 0.1 h per unit (RMHd 1 over D 10); available 0.7 h. In floats 0.7 / 0.1 = 6.999999999999999.
    assert math.floor(0.7 / (1 / 10)) == 6
    demand = demand_of(10, 1, "1", ("supplier-a",))
    capacities = {"supplier-a": capacity_of("supplier-a", "0.7", "0")}

    result = split(demand, capacities, {}, {})

    assert [(a.quantity, a.machine_hours) for a in result.allocations] == [(7, Decimal("0.7"))]
    assert result.allocations[0].as_json()["machine_hours"] == "0.7"
    assert result.unallocated == 3


def test_available_times_quantity_over_hours_that_floats_floor_wrongly_is_exact() -> None:
    # 0.57 × 100 / 1 is 56.99999999999999 and 2.3 × 100 / 10 is 22.999999999999996 in floats.
    assert math.floor(0.57 * 100 / 1) == 56
    assert math.floor(2.3 * 100 / 10) == 22
    first = split(
        demand_of(100, 1, "1", ("supplier-a",)),
        {"supplier-a": capacity_of("supplier-a", "0.57", "0")},
        {},
        {},
    )
    second = split(
        demand_of(100, 1, "10", ("supplier-a",)),
        {"supplier-a": capacity_of("supplier-a", "2.3", "0")},
        {},
        {},
    )

    assert [(a.quantity, a.machine_hours) for a in first.allocations] == [(57, Decimal("0.57"))]
    assert [(a.quantity, a.machine_hours) for a in second.allocations] == [(23, Decimal("2.3"))]


def test_available_after_subtracting_queue_and_open_hours_is_exact() -> None:
    # 0.3 − 0.1 − 0.1 is 0.09999999999999998 in floats, which would give 0 units.
    assert math.floor((0.3 - 0.1 - 0.1) * 10 / 1) == 0
    demand = demand_of(10, 1, "1", ("supplier-a",))
    capacities = {"supplier-a": capacity_of("supplier-a", "0.3", "0.1")}

    result = split(demand, capacities, {"supplier-a": Decimal("0.1")}, {})

    assert [(a.quantity, a.machine_hours) for a in result.allocations] == [(1, Decimal("0.1"))]


def test_hours_are_written_to_six_places_half_even_on_ties() -> None:
    # RMHd 1 over D 128: 1 unit = 0.0078125 h → 0.007812 (tie, to even);
    # 3 units = 0.0234375 h → 0.023438 (tie, to even).
    demand = demand_of(128, 1, "1", ("supplier-a", "supplier-b"))
    capacities = {
        "supplier-a": capacity_of("supplier-a", "0.01", "0"),  # floor(0.01 × 128) = 1 unit
        "supplier-b": capacity_of("supplier-b", "0.03", "0"),  # floor(0.03 × 128) = 3 units
    }

    result = split(demand, capacities, {}, {})

    assert [(a.supplier, a.quantity, a.machine_hours) for a in result.allocations] == [
        ("supplier-a", 1, Decimal("0.007812")),
        ("supplier-b", 3, Decimal("0.023438")),
    ]
    assert [a.as_json()["machine_hours"] for a in result.allocations] == ["0.007812", "0.023438"]
    assert result.unallocated == 124


def test_hours_with_more_than_six_places_round_half_even_not_half_up() -> None:
    # RMHd 0.000005 over D 2: 1 unit = 0.0000025 h → 0.000002 (half-up would give 0.000003).
    demand = demand_of(2, 1, "0.000005", ("supplier-a",))
    capacities = {"supplier-a": capacity_of("supplier-a", "0.000003", "0")}

    result = split(demand, capacities, {}, {})

    assert [(a.quantity, a.machine_hours) for a in result.allocations] == [(1, Decimal("0.000002"))]
    assert result.allocations[0].as_json()["machine_hours"] == "0.000002"


def test_rounding_hours_up_never_lifts_them_above_the_available_hours() -> None:
    # Available exactly 0.0234375 h = 3 units at 1/128 h, but 3 units are written 0.023438 h,
    # which would overbook by half a micro-hour: the supplier gets 2 units (0.015625 h).
    demand = demand_of(128, 1, "1", ("supplier-a",))
    capacities = {"supplier-a": capacity_of("supplier-a", "0.0234375", "0")}

    result = split(demand, capacities, {}, {})

    assert [(a.quantity, a.machine_hours) for a in result.allocations] == [(2, Decimal("0.015625"))]
    assert result.allocations[0].machine_hours <= limit_of(capacities["supplier-a"], 1)
    assert result.unallocated == 126


# --- properties ------------------------------------------------------------------------------

SUPPLIER_POOL = tuple(f"supplier-{c}" for c in "abcdefgh")


@st.composite
def decimals6(draw: st.DrawFn, max_units: int = 10_000) -> Decimal:
    """A non-negative decimal with up to 6 places, as written on the wire."""
    places = draw(st.integers(0, 6))
    units = draw(st.integers(0, max_units * 10**places))
    return Decimal(units).scaleb(-places)


@st.composite
def positive_decimals6(draw: st.DrawFn, max_units: int = 10_000) -> Decimal:
    value = draw(decimals6(max_units))
    return value if value > 0 else Decimal("0.000001")


@st.composite
def split_inputs(
    draw: st.DrawFn,
) -> tuple[DemandTerms, dict[str, AttestedCapacity], dict[str, Decimal]]:
    priority = tuple(draw(st.lists(st.sampled_from(SUPPLIER_POOL), min_size=1, max_size=6, unique=True)))
    demand = demand_of(
        quantity=draw(st.integers(1, 100_000)),
        lead_time_days=draw(st.integers(1, 60)),
        required_machine_hours=draw(positive_decimals6()),
        priority=priority,
        unit_price=draw(st.integers(0, 1_000_000)),
    )
    capacities = {s: capacity_of(s, draw(decimals6(500)), draw(decimals6(5_000))) for s in priority}
    open_hours = {s: draw(decimals6(5_000)) for s in priority if draw(st.booleans())}
    return demand, capacities, open_hours


def assert_no_overbooking(
    result: Split,
    demand: DemandTerms,
    capacities: Mapping[str, AttestedCapacity],
    open_hours: Mapping[str, Decimal],
) -> None:
    for allocation in result.allocations:
        booked = BIG.add(open_hours.get(allocation.supplier, Decimal(0)), allocation.machine_hours)
        assert booked <= limit_of(capacities[allocation.supplier], demand.lead_time_days), allocation


@settings(max_examples=150, deadline=None)
@given(split_inputs())
def test_property_no_supplier_is_overbooked(
    inputs: tuple[DemandTerms, dict[str, AttestedCapacity], dict[str, Decimal]],
) -> None:
    demand, capacities, open_hours = inputs

    result = split(demand, capacities, open_hours, {})

    assert_no_overbooking(result, demand, capacities, open_hours)


@settings(max_examples=150, deadline=None)
@given(split_inputs())
def test_property_quantities_add_up_to_the_demand_and_every_allocation_is_positive(
    inputs: tuple[DemandTerms, dict[str, AttestedCapacity], dict[str, Decimal]],
) -> None:
    demand, capacities, open_hours = inputs

    result = split(demand, capacities, open_hours, {})

    assert sum(a.quantity for a in result.allocations) + result.unallocated == demand.quantity
    assert all(a.quantity >= 1 for a in result.allocations)
    assert result.unallocated >= 0
    suppliers = [a.supplier for a in result.allocations]
    assert len(set(suppliers)) == len(suppliers)
    assert suppliers == [s for s in demand.priority if s in suppliers]


@settings(max_examples=150, deadline=None)
@given(split_inputs())
def test_property_escrow_is_quantity_times_unit_price_and_hours_are_written_to_six_places(
    inputs: tuple[DemandTerms, dict[str, AttestedCapacity], dict[str, Decimal]],
) -> None:
    demand, capacities, open_hours = inputs

    result = split(demand, capacities, open_hours, {})

    for allocation in result.allocations:
        assert allocation.escrow_amount == allocation.quantity * demand.unit_price
        exact = exact_hours(allocation.quantity, demand)
        assert allocation.machine_hours == BIG.quantize(exact, Decimal("0.000001"))


@settings(max_examples=150, deadline=None)
@given(split_inputs())
def test_property_each_supplier_takes_as_much_as_fits(
    inputs: tuple[DemandTerms, dict[str, AttestedCapacity], dict[str, Decimal]],
) -> None:
    demand, capacities, open_hours = inputs

    result = split(demand, capacities, open_hours, {})

    allocated = {a.supplier: a.quantity for a in result.allocations}
    remaining = demand.quantity
    for supplier in demand.priority:
        if remaining == 0:
            break
        available = BIG.subtract(
            limit_of(capacities[supplier], demand.lead_time_days), open_hours.get(supplier, Decimal(0))
        )
        quantity = allocated.get(supplier, 0)
        if quantity < remaining:
            # One more unit would not fit: its exact hours exceed the room (the floor), or its
            # hours written to 6 places do (the rounding guard).
            more = exact_hours(quantity + 1, demand)
            written = BIG.quantize(more, Decimal("0.000001"))
            assert more > available or written > available, (supplier, quantity)
        remaining -= quantity


@settings(max_examples=120, deadline=None)
@given(split_inputs())
def test_property_split_is_deterministic(
    inputs: tuple[DemandTerms, dict[str, AttestedCapacity], dict[str, Decimal]],
) -> None:
    demand, capacities, open_hours = inputs

    first = split(demand, capacities, open_hours, {})
    second = split(demand, dict(reversed(capacities.items())), dict(open_hours), {})

    assert first == second
    assert [a.as_json() for a in first.allocations] == [a.as_json() for a in second.allocations]


@st.composite
def demand_sequences(
    draw: st.DrawFn,
) -> tuple[list[DemandTerms], dict[str, AttestedCapacity]]:
    suppliers = draw(st.lists(st.sampled_from(SUPPLIER_POOL), min_size=1, max_size=6, unique=True))
    capacities = {s: capacity_of(s, draw(decimals6(100)), draw(decimals6(500))) for s in suppliers}
    demands = []
    for _ in range(draw(st.integers(2, 5))):
        priority = tuple(draw(st.permutations(suppliers)))[: draw(st.integers(1, len(suppliers)))]
        demands.append(
            demand_of(
                quantity=draw(st.integers(1, 5_000)),
                lead_time_days=draw(st.integers(1, 30)),
                required_machine_hours=draw(positive_decimals6(1_000)),
                priority=priority,
                unit_price=draw(st.integers(0, 10_000)),
            )
        )
    return demands, capacities


@settings(max_examples=120, deadline=None)
@given(demand_sequences())
def test_property_sequential_demands_never_overbook_a_supplier(
    inputs: tuple[list[DemandTerms], dict[str, AttestedCapacity]],
) -> None:
    demands, capacities = inputs
    open_hours: dict[str, Decimal] = {}

    for demand in demands:
        result = split(demand, capacities, dict(open_hours), {})

        assert_no_overbooking(result, demand, capacities, open_hours)
        for allocation in result.allocations:
            open_hours[allocation.supplier] = BIG.add(
                open_hours.get(allocation.supplier, Decimal(0)), allocation.machine_hours
            )


def test_an_attestation_is_made_for_its_demand_or_for_each_of_its_round() -> None:
    one, two, other = "a" * 64, "b" * 64, "c" * 64
    assert made_for({"demand": one}, one)
    assert not made_for({"demand": one}, two)
    assert made_for({"demands": [one, two]}, two) and made_for({"demands": (one, two)}, one)
    assert not made_for({"demands": [one, two]}, other)
    assert not made_for({"demands": f"{one}{two}"}, one)  # a string is no list of demands
    assert not made_for({}, one)
