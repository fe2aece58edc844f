"""The witness checks a partner makes before signing, one negative case per rule.

Pure functions over a proposed entry, the replica state at its base and the node's own
channel records (a dictionary here): times against the partner's clock, its base and
the attestations used; the supplier's and the buyer's view of a split's attestations.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from supplymesh.cli.netgen import build_network, default_seats
from supplymesh.cli.scenarios import DEMAND_A
from supplymesh.config import NETWORK_LEDGER, NetworkConfig, channel_ledger
from supplymesh.core.contracts.channel import CAPACITY_KIND
from supplymesh.core.contracts.ids import DemandHash, EscrowId
from supplymesh.core.contracts.network import CANCEL, SPLIT, NetworkState
from supplymesh.core.contracts.records import DemandRecord, EscrowRecord
from supplymesh.core.entry import Entry, format_time
from supplymesh.core.vocabulary.bodies import DemandTerms, parse_body
from supplymesh.network.clocks import check_after_base, check_after_inputs, check_cancel_due, check_clock
from supplymesh.network.rules import RuleViolation
from supplymesh.network.witness import check_as_buyer, check_as_supplier, unheld

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DEMAND = "d" * 64
CHANNEL_A = channel_ledger("oem-a", "supplier-a")
CHANNEL_B = channel_ledger("oem-a", "supplier-b")
Json = dict[str, Any]


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> NetworkConfig:
    directory: Path = tmp_path_factory.mktemp("witness")
    return build_network(directory, default_seats(suppliers=2, oems=2), base_port=19400)


class Records:
    """Channel records held by one node: {(ledger, seq): hash}, attestations by demand."""

    def __init__(
        self,
        held: dict[tuple[str, int], str],
        made: dict[tuple[str, str], tuple[int, str]],
        behind: frozenset[str] = frozenset(),
    ) -> None:
        self.held = held
        self.made = made
        self.lagging = behind

    def hash_at(self, ledger: str, seq: int) -> str | None:
        return self.held.get((ledger, seq))

    def attestation_for(self, ledger: str, demand: str) -> tuple[int, str] | None:
        return self.made.get((ledger, demand))

    def behind(self, ledger: str) -> bool:
        return ledger in self.lagging


def at(seconds: float) -> str:
    return format_time(NOW + timedelta(seconds=seconds))


def state_with_demand() -> NetworkState:
    state = NetworkState(size=1, head="a" * 64, time=at(-10))
    terms = parse_body(DemandTerms, {**DEMAND_A, "aql": {"critical": "0", "major": "2.5", "minor": "4"}})
    state.demands[DEMAND] = DemandRecord(hash=DemandHash(DEMAND), seq=1, buyer="oem-a", id="d-1", terms=terms)
    return state


def attestation(ledger: str, seq: int, *, supplier: str, time: str = "", mhc: str = "51.2") -> Json:
    entry = Entry(
        ledger=ledger,
        seq=seq,
        prev="0" * 64,
        time=time or at(-5),
        kind=CAPACITY_KIND,
        author=supplier,
        body={
            "efficiency": "0.8",
            "mhc_per_day": mhc,
            "queued_machine_hours": "100",
            "products": ["P-100"],
            "computed_at": time or at(-5),
            "demand": DEMAND,
        },
    )
    return {"entry": entry.as_json(), "signatures": []}


def hash_of(item: Json) -> str:
    return Entry.from_json(item["entry"]).hash


def split(
    attestations: list[Json], unavailable: Json | None = None, *, time: str = "", kind: str = SPLIT
) -> Entry:
    inputs = {"demand": DEMAND, "attestations": attestations, "unavailable": unavailable or {}}
    body = {"decision": kind, "base": {"seq": 1, "hash": "a" * 64}, "inputs": inputs, "result": {}}
    return Entry(
        ledger=NETWORK_LEDGER, seq=2, prev="a" * 64, time=time or at(0), kind=kind, author="pdu", body=body
    )


GENUINE_A = attestation(CHANNEL_A, 3, supplier="supplier-a")
GENUINE_B = attestation(CHANNEL_B, 2, supplier="supplier-b")
SUPPLIER_A = Records({(CHANNEL_A, 3): hash_of(GENUINE_A)}, {(CHANNEL_A, DEMAND): (3, hash_of(GENUINE_A))})


# -- times --------------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [0, 300, -300, 1, -1])
def test_entry_time_within_the_skew_of_the_partner_clock_passes(seconds: int) -> None:
    check_clock(split([], time=at(seconds)), NOW, me="oem-a")


@pytest.mark.parametrize(
    ("seconds", "reason"),
    [
        (301, "more than 300 s ahead of oem-a's clock"),
        (-301, "more than 300 s behind oem-a's clock"),
        (-3 * 86400, "behind"),
        (3600, "ahead of"),
    ],
)
def test_entry_time_beyond_the_skew_of_the_partner_clock_is_refused(seconds: int, reason: str) -> None:
    with pytest.raises(RuleViolation, match=reason):
        check_clock(split([], time=at(seconds)), NOW, me="oem-a")


def test_entry_time_before_its_base_is_refused_and_equal_or_later_passes() -> None:
    check_after_base(split([], time=at(0)), at(0))
    check_after_base(split([], time=at(0)), "")  # the first entry of a ledger has no base time
    with pytest.raises(RuleViolation, match="is earlier than its base's"):
        check_after_base(split([], time=at(0)), at(0.000001))


def test_split_dated_more_than_the_skew_before_an_attestation_it_uses_is_refused() -> None:
    late = attestation(CHANNEL_A, 3, supplier="supplier-a", time=at(301))
    with pytest.raises(RuleViolation, match="before the attestation of supplier-a it uses"):
        check_after_inputs(split([late], time=at(0)))
    check_after_inputs(split([attestation(CHANNEL_A, 3, supplier="supplier-a", time=at(300))], time=at(0)))


def escrow_state(created: str) -> NetworkState:
    state = state_with_demand()
    state.escrows["e" * 32] = EscrowRecord(
        id=EscrowId("e" * 32),
        buyer="oem-a",
        supplier="supplier-a",
        product="P-100",
        quantity=390,
        machine_hours=Decimal("156"),
        amount=487500,
        currency="EUR",
        created_seq=2,
        created_time=created,
        demand=DemandHash(DEMAND),
    )
    return state


def cancel(time: str) -> Entry:
    body = {"decision": CANCEL, "base": {"seq": 2, "hash": "b" * 64}, "inputs": {"escrow": "e" * 32}}
    return Entry(ledger=NETWORK_LEDGER, seq=3, prev="b" * 64, time=time, kind=CANCEL, author="pdu", body=body)


def test_cancellation_not_due_by_the_partner_clock_is_refused(config: NetworkConfig) -> None:
    window = config.deposit_window_seconds
    state = escrow_state(at(-window + 10))
    with pytest.raises(RuleViolation, match="has not elapsed by this partner's clock"):
        check_cancel_due(config, state, cancel(at(100)), NOW)
    check_cancel_due(config, escrow_state(at(-window)), cancel(at(0)), NOW)
    check_cancel_due(config, state, split([]), NOW)  # only cancellations


# -- the supplier's view -----------------------------------------------------------------------------


def test_supplier_signs_a_split_using_its_own_attestation(config: NetworkConfig) -> None:
    check_as_supplier(config, state_with_demand(), split([GENUINE_A, GENUINE_B]), "supplier-a", SUPPLIER_A)


def test_supplier_called_unavailable_although_it_attested_refuses(config: NetworkConfig) -> None:
    entry = split([GENUINE_B], {"supplier-a": "did not answer in time"})
    with pytest.raises(RuleViolation, match="supplier-a is called unavailable although it attested"):
        check_as_supplier(config, state_with_demand(), entry, "supplier-a", SUPPLIER_A)


def test_supplier_left_out_although_it_attested_refuses(config: NetworkConfig) -> None:
    with pytest.raises(RuleViolation, match="the attestation supplier-a made for this demand is left out"):
        check_as_supplier(config, state_with_demand(), split([GENUINE_B]), "supplier-a", SUPPLIER_A)


def test_supplier_that_did_not_attest_signs_a_split_calling_it_unavailable(config: NetworkConfig) -> None:
    entry = split([GENUINE_B], {"supplier-a": "did not answer in time"})
    check_as_supplier(config, state_with_demand(), entry, "supplier-a", Records({}, {}))


def test_supplier_refuses_another_entry_at_the_seq_of_its_attestation(config: NetworkConfig) -> None:
    swapped = attestation(CHANNEL_A, 3, supplier="supplier-a", mhc="80")
    with pytest.raises(RuleViolation, match=f"is not the entry at {CHANNEL_A} seq 3 of its copy"):
        check_as_supplier(config, state_with_demand(), split([swapped, GENUINE_B]), "supplier-a", SUPPLIER_A)


def test_supplier_refuses_an_attestation_at_a_seq_it_does_not_hold(config: NetworkConfig) -> None:
    beyond = attestation(CHANNEL_A, 4, supplier="supplier-a")
    with pytest.raises(RuleViolation, match="is not on its channel"):
        check_as_supplier(config, state_with_demand(), split([beyond, GENUINE_B]), "supplier-a", SUPPLIER_A)


def test_supplier_refuses_an_older_attestation_than_its_latest_for_the_demand(config: NetworkConfig) -> None:
    newer = attestation(CHANNEL_A, 5, supplier="supplier-a", mhc="64")
    records = Records(
        {(CHANNEL_A, 3): hash_of(GENUINE_A), (CHANNEL_A, 5): hash_of(newer)},
        {(CHANNEL_A, DEMAND): (5, hash_of(newer))},
    )
    with pytest.raises(RuleViolation, match=f"is not its latest for this demand \\({CHANNEL_A} seq 5\\)"):
        check_as_supplier(config, state_with_demand(), split([GENUINE_A, GENUINE_B]), "supplier-a", records)
    check_as_supplier(config, state_with_demand(), split([newer, GENUINE_B]), "supplier-a", records)


def test_other_partners_have_nothing_to_witness_as_supplier(config: NetworkConfig) -> None:
    entry = split([GENUINE_B], {"supplier-a": "did not answer in time"})
    for me in ("oem-a", "oem-b"):
        check_as_supplier(config, state_with_demand(), entry, me, SUPPLIER_A)


# -- the buyer's view ---------------------------------------------------------------------------------


def test_buyer_refuses_an_attestation_that_is_not_the_entry_it_holds() -> None:
    swapped = attestation(CHANNEL_A, 3, supplier="supplier-a", mhc="80")
    buyer = Records({(CHANNEL_A, 3): hash_of(GENUINE_A), (CHANNEL_B, 2): hash_of(GENUINE_B)}, {})
    entry = split([swapped, GENUINE_B])
    assert unheld(state_with_demand(), entry, "oem-a", buyer) == set()
    with pytest.raises(RuleViolation, match=f"is not the entry at {CHANNEL_A} seq 3 of oem-a's copy"):
        check_as_buyer(state_with_demand(), entry, "oem-a", buyer, served=())
    check_as_buyer(state_with_demand(), split([GENUINE_A, GENUINE_B]), "oem-a", buyer, served=())


def test_buyer_refuses_an_attestation_the_caught_up_channel_does_not_hold() -> None:
    buyer = Records({(CHANNEL_B, 2): hash_of(GENUINE_B)}, {})
    entry = split([GENUINE_A, GENUINE_B])
    assert unheld(state_with_demand(), entry, "oem-a", buyer) == {CHANNEL_A}
    with pytest.raises(RuleViolation, match=f"is not on {CHANNEL_A}: oem-a's copy, caught up, has no seq 3"):
        check_as_buyer(state_with_demand(), entry, "oem-a", buyer, served={CHANNEL_A})


def test_buyer_signs_an_attestation_it_could_not_catch_up() -> None:
    buyer = Records({(CHANNEL_B, 2): hash_of(GENUINE_B)}, {})
    check_as_buyer(state_with_demand(), split([GENUINE_A, GENUINE_B]), "oem-a", buyer, served=())


def test_another_buyer_has_nothing_to_witness() -> None:
    swapped = attestation(CHANNEL_A, 3, supplier="supplier-a", mhc="80")
    oem_b = Records({(CHANNEL_A, 3): hash_of(GENUINE_A)}, {})
    assert unheld(state_with_demand(), split([swapped]), "oem-b", Records({}, {})) == set()
    check_as_buyer(state_with_demand(), split([swapped]), "oem-b", oem_b, served={CHANNEL_A})


BUYER_WITH_A = Records(
    {(CHANNEL_A, 3): hash_of(GENUINE_A), (CHANNEL_B, 2): hash_of(GENUINE_B)},
    {(CHANNEL_A, DEMAND): (3, hash_of(GENUINE_A)), (CHANNEL_B, DEMAND): (2, hash_of(GENUINE_B))},
)


@pytest.mark.parametrize("unavailable", [{"supplier-a": "did not answer in time"}, {}])
def test_buyer_refuses_a_split_leaving_out_a_supplier_attested_on_its_channel(unavailable: Json) -> None:
    entry = split([GENUINE_B], unavailable)
    with pytest.raises(
        RuleViolation, match=rf"supplier-a attested for this demand on oem-a's channel \({CHANNEL_A} seq 3\)"
    ):
        check_as_buyer(state_with_demand(), entry, "oem-a", BUYER_WITH_A, served=())
    check_as_buyer(state_with_demand(), split([GENUINE_A, GENUINE_B]), "oem-a", BUYER_WITH_A, served=())


def test_buyer_signs_a_split_calling_unavailable_a_supplier_with_no_attestation_on_its_channel() -> None:
    buyer = Records({(CHANNEL_B, 2): hash_of(GENUINE_B)}, {(CHANNEL_B, DEMAND): (2, hash_of(GENUINE_B))})
    check_as_buyer(
        state_with_demand(), split([GENUINE_B], {"supplier-a": "no answer"}), "oem-a", buyer, served=()
    )


def test_buyer_catches_up_a_left_out_suppliers_channel_only_when_it_countersigned_beyond_its_copy() -> None:
    entry = split([GENUINE_B], {"supplier-a": "no answer"})
    lagging = Records({(CHANNEL_B, 2): hash_of(GENUINE_B)}, {}, behind=frozenset({CHANNEL_A}))
    assert unheld(state_with_demand(), entry, "oem-a", lagging) == {CHANNEL_A}
    assert (
        unheld(state_with_demand(), entry, "oem-a", Records({(CHANNEL_B, 2): hash_of(GENUINE_B)}, {}))
        == set()
    )
    assert unheld(state_with_demand(), entry, "oem-b", lagging) == set()  # not oem-b's demand


def test_another_buyer_does_not_judge_what_was_left_out() -> None:
    check_as_buyer(
        state_with_demand(), split([GENUINE_B], {"supplier-a": "x"}), "oem-b", BUYER_WITH_A, served=()
    )


def test_malformed_attestation_inputs_are_refused_not_raised() -> None:
    for attestations in ([{"entry": {"seq": "x"}}], [{"nothing": 1}], "not a list"):
        entry = split([])
        body = {**entry.body, "inputs": {"demand": DEMAND, "attestations": attestations, "unavailable": {}}}
        malformed = Entry(
            ledger=entry.ledger, seq=2, prev=entry.prev, time=entry.time, kind=SPLIT, author="pdu", body=body
        )
        with pytest.raises(RuleViolation):
            check_as_buyer(state_with_demand(), malformed, "oem-a", Records({}, {}), served=())
