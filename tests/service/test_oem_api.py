"""The OEM node's ERP API: demands, their submission to the network ledger, escrows, offers."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from supplymesh.core.actions import DEMAND_SUBMITTED, Action
from supplymesh.core.entry import parse_time
from supplymesh.node.erp_clients import CLIENTS_FILE, ErpClients, add_client
from supplymesh.storage.engine import write_transaction
from supplymesh.storage.tables import outbox
from tests.flows import order_for
from tests.harness import Harness

pytestmark = [pytest.mark.anyio, pytest.mark.db]

PROBLEM = "application/problem+json"

# SPEC appendix A, verbatim.
DEMAND: dict[str, Any] = {
    "product": "P-100",
    "quantity": 1000,
    "lead_time_days": 5,
    "required_machine_hours": "400",
    "priority_suppliers": ["supplier-a", "supplier-b"],
    "aql": {"critical": "0", "major": "2.5", "minor": "4.0"},
    "unit_price": {"amount": 1250, "currency": "EUR"},
}
# The same terms as every node must store and sign them (SPEC §10: no trailing zeros).
NORMALISED: dict[str, Any] = {
    "product": "P-100",
    "quantity": 1000,
    "lead_time_days": 5,
    "required_machine_hours": "400",
    "priority_suppliers": ["supplier-a", "supplier-b"],
    "aql": {"critical": "0", "major": "2.5", "minor": "4"},
    "unit_price": {"amount": 1250, "currency": "EUR"},
}


def demand(**changes: Any) -> dict[str, Any]:
    """The appendix A demand with top-level fields replaced."""
    body = copy.deepcopy(DEMAND)
    body.update(changes)
    return body


async def network_entries(harness: Harness, kind: str | None = None) -> list[dict[str, Any]]:
    """Every entry of the PDU's network ledger (optionally of one kind)."""
    entries: list[dict[str, Any]] = []
    client = harness.erp("pdu")
    after = 0
    while True:
        page = await client.get("/v1/ledgers/network/entries", params={"after": after, "limit": 1000})
        assert page.status_code == 200, page.text
        batch = page.json()
        entries += batch
        if "link" not in page.headers:
            break
        after = batch[-1]["entry"]["seq"]
    return [e for e in entries if kind is None or e["entry"]["kind"] == kind]


async def network_size(harness: Harness) -> int:
    head = await harness.erp("pdu").get("/v1/ledgers/network/head")
    assert head.status_code == 200, head.text
    size: int = head.json()["size"]
    return size


async def create_demand(client: httpx.AsyncClient, body: dict[str, Any] | None = None) -> str:
    response = await client.post("/v1/demands", json=DEMAND if body is None else body)
    assert response.status_code == 202, response.text
    demand_id: str = response.json()["id"]
    return demand_id


async def insert_escrow(harness: Harness, *, state: str) -> str:
    """An escrow of oem-a with supplier-a for 487500 EUR, brought to ``state`` by a real flow."""
    return await order_for(harness, state={"awaiting_deposit": "awaiting_funding"}.get(state, state))


# --- demands: creation and reads ---------------------------------------------------------------


async def test_appendix_a_demand_is_accepted_pending_and_readable_at_once(harness: Harness) -> None:
    client = harness.erp("oem-a")
    created = await client.post("/v1/demands", json=DEMAND)
    assert created.status_code == 202, created.text
    body = created.json()
    assert set(body) == {"id", "status"} and body["status"] == "pending"
    assert isinstance(body["id"], str) and body["id"]

    got = await client.get(f"/v1/demands/{body['id']}")
    assert got.status_code == 200, got.text
    demand_out = got.json()
    assert demand_out["id"] == body["id"]
    assert demand_out["status"] == "pending"
    assert demand_out["allocations"] == []
    assert demand_out["unallocated_quantity"] == 1000
    assert demand_out["decision_id"] is None
    assert demand_out["terms"] == NORMALISED


async def test_demand_terms_are_normalised_from_json_numbers_and_trailing_zeros(harness: Harness) -> None:
    client = harness.erp("oem-a")
    body = demand(
        required_machine_hours=400,
        aql={"critical": 0, "major": 2.5, "minor": "4.0"},
    )
    demand_id = await create_demand(client, body)
    terms = (await client.get(f"/v1/demands/{demand_id}")).json()["terms"]
    assert terms == NORMALISED
    decimals = demand(
        required_machine_hours="400.000", aql={"critical": "0.0", "major": "2.50", "minor": "4"}
    )
    other = await create_demand(client, decimals)
    assert (await client.get(f"/v1/demands/{other}")).json()["terms"] == NORMALISED


async def test_unknown_demand_is_404_problem(harness: Harness) -> None:
    response = await harness.erp("oem-a").get("/v1/demands/no-such-demand")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


async def test_demands_are_listed_oldest_first_with_next_link(harness: Harness) -> None:
    client = harness.erp("oem-a")
    ids = [await create_demand(client, demand(quantity=q)) for q in (100, 200, 300)]
    everything = await client.get("/v1/demands")
    assert everything.status_code == 200
    assert [d["id"] for d in everything.json()] == ids
    assert "link" not in everything.headers

    first = await client.get("/v1/demands", params={"limit": 2})
    assert [d["id"] for d in first.json()] == ids[:2]
    assert [d["terms"]["quantity"] for d in first.json()] == [100, 200]
    link = first.headers["link"]
    assert link.endswith('rel="next"')
    second = await client.get(link[1 : link.index(">")])
    assert [d["id"] for d in second.json()] == ids[2:]
    assert "link" not in second.headers

    exact = await client.get("/v1/demands", params={"limit": 3})
    assert len(exact.json()) == 3 and "link" not in exact.headers


async def test_the_id_of_the_last_demand_you_have_is_the_cursor(harness: Harness) -> None:
    client = harness.erp("oem-a")
    ids = [await create_demand(client, demand(quantity=q)) for q in (100, 200, 300)]
    first = await client.get("/v1/demands", params={"limit": 1})
    assert f"after={ids[0]}" in first.headers["link"]
    after_id = await client.get("/v1/demands", params={"after": ids[0]})
    assert [d["id"] for d in after_id.json()] == ids[1:]
    after_last = await client.get("/v1/demands", params={"after": ids[2]})
    assert after_last.status_code == 200 and after_last.json() == []
    legacy = await client.get("/v1/demands", params={"after": "1"})  # a position from an older next link
    assert [d["id"] for d in legacy.json()] == ids[1:]


@pytest.mark.parametrize(
    "after", ["0123456789abcdef0123456789abcdef", "not an id", str(2**70), "x" * 65], ids=str
)
async def test_a_demand_cursor_that_is_no_demand_of_this_node_is_422(harness: Harness, after: str) -> None:
    client = harness.erp("oem-a")
    await create_demand(client)
    response = await client.get("/v1/demands", params={"after": after})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM


async def test_another_oems_demand_id_is_no_cursor_here(harness: Harness) -> None:
    theirs = await create_demand(harness.erp("oem-b"))
    response = await harness.erp("oem-a").get("/v1/demands", params={"after": theirs})
    assert response.status_code == 422 and "not the id of an item" in response.json()["detail"]


async def test_a_demand_is_created_at_its_location(harness: Harness) -> None:
    client = harness.erp("oem-a")
    created = await client.post("/v1/demands", json=DEMAND, headers={"Idempotency-Key": "po-1"})
    assert created.status_code == 202
    location = created.headers["location"]
    assert location.endswith(f"/v1/demands/{created.json()['id']}")
    read = await client.get(location)
    assert read.status_code == 200 and read.json()["id"] == created.json()["id"]
    replayed = await client.post("/v1/demands", json=DEMAND, headers={"Idempotency-Key": "po-1"})
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.headers["location"] == location


# --- demands: submission to the PDU ------------------------------------------------------------


async def test_drained_demand_is_a_signed_action_on_the_network_ledger(harness: Harness) -> None:
    client = harness.erp("oem-a")
    demand_id = await create_demand(client)
    await harness.drain()

    submitted = await network_entries(harness, DEMAND_SUBMITTED)
    assert len(submitted) == 1
    entry = submitted[0]["entry"]
    assert entry["author"] == "pdu"
    assert set(entry["body"]) == {"action", "signature"}
    statement = entry["body"]["action"]
    assert statement["type"] == "supplymesh.action.v1"
    assert statement["kind"] == DEMAND_SUBMITTED
    assert statement["party"] == "oem-a"
    assert statement["id"] == demand_id
    assert statement["body"] == NORMALISED
    action = Action.from_statement(statement)
    harness.config.member("oem-a").key.verify_text(entry["body"]["signature"], action.digest)

    got = (await client.get(f"/v1/demands/{demand_id}")).json()
    assert got["network_seq"] == entry["seq"]
    assert got["status"] == "pending"


async def test_draining_again_appends_nothing(harness: Harness) -> None:
    await create_demand(harness.erp("oem-a"))
    await harness.drain()
    size = await network_size(harness)
    await harness.drain()
    assert await network_size(harness) == size
    assert len(await network_entries(harness, DEMAND_SUBMITTED)) == 1


async def test_redelivered_submission_is_not_appended_twice(harness: Harness) -> None:
    client = harness.erp("oem-a")
    demand_id = await create_demand(client)
    await harness.drain()
    first = (await client.get(f"/v1/demands/{demand_id}")).json()["network_seq"]
    size = await network_size(harness)
    # As after a crash between delivery and marking the task done: deliver once more.
    with write_transaction(harness.node("oem-a").engine) as conn:
        conn.execute(update(outbox).values(done=0, next_attempt=0))
    await harness.drain()
    assert await network_size(harness) == size
    assert (await client.get(f"/v1/demands/{demand_id}")).json()["network_seq"] == first


async def test_demand_placed_while_pdu_is_down_reaches_the_ledger_once_it_returns(harness: Harness) -> None:
    size = await network_size(harness)
    harness.down("pdu")
    client = harness.erp("oem-a")
    demand_id = await create_demand(client)
    await harness.drain()
    assert (await client.get(f"/v1/demands/{demand_id}")).json()["network_seq"] is None
    harness.up("pdu")
    assert await network_size(harness) == size
    await harness.drain()
    submitted = await network_entries(harness, DEMAND_SUBMITTED)
    assert [e["entry"]["body"]["action"]["id"] for e in submitted] == [demand_id]
    assert (await client.get(f"/v1/demands/{demand_id}")).json()["network_seq"] == submitted[0]["entry"][
        "seq"
    ]
    await harness.drain()
    assert len(await network_entries(harness, DEMAND_SUBMITTED)) == 1


async def test_demands_of_two_oems_are_both_sequenced(harness: Harness) -> None:
    a = await create_demand(harness.erp("oem-a"))
    b = await create_demand(harness.erp("oem-b"), demand(priority_suppliers=["supplier-b"]))
    await harness.drain()
    parties = {
        (e["entry"]["body"]["action"]["party"], e["entry"]["body"]["action"]["id"])
        for e in await network_entries(harness, DEMAND_SUBMITTED)
    }
    assert parties == {("oem-a", a), ("oem-b", b)}


# --- demands: validation -----------------------------------------------------------------------

INVALID: dict[str, dict[str, Any]] = {
    "quantity-zero": demand(quantity=0),
    "quantity-negative": demand(quantity=-5),
    "quantity-fraction": demand(quantity=1.5),
    "quantity-string": demand(quantity="10"),
    "quantity-2-pow-53": demand(quantity=2**53),
    "quantity-null": demand(quantity=None),
    "lead-time-zero": demand(lead_time_days=0),
    "rmhd-zero": demand(required_machine_hours="0"),
    "rmhd-negative": demand(required_machine_hours="-1"),
    "rmhd-not-a-number": demand(required_machine_hours="abc"),
    "rmhd-boolean": demand(required_machine_hours=True),
    "priority-empty": demand(priority_suppliers=[]),
    "priority-duplicate": demand(priority_suppliers=["supplier-a", "supplier-a"]),
    "aql-above-100": demand(aql={"critical": "0", "major": 101, "minor": "4.0"}),
    "aql-negative": demand(aql={"critical": "-1", "major": "2.5", "minor": "4.0"}),
    "aql-missing-class": demand(aql={"critical": "0", "major": "2.5"}),
    "aql-extra-class": demand(aql={"critical": "0", "major": "2.5", "minor": "4", "cosmetic": "10"}),
    "currency-unknown": demand(unit_price={"amount": 1250, "currency": "EUX"}),
    "currency-lowercase": demand(unit_price={"amount": 1250, "currency": "eur"}),
    "amount-negative": demand(unit_price={"amount": -1, "currency": "EUR"}),
    "amount-fraction": demand(unit_price={"amount": 12.5, "currency": "EUR"}),
    "extra-field": demand(process_time_s=30),
    "missing-product": {k: v for k, v in DEMAND.items() if k != "product"},
}


@pytest.mark.parametrize("body", INVALID.values(), ids=INVALID.keys())
async def test_invalid_demand_is_a_problem_and_stores_nothing(harness: Harness, body: dict[str, Any]) -> None:
    client = harness.erp("oem-a")
    response = await client.post("/v1/demands", json=body)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == response.status_code
    assert (await client.get("/v1/demands")).json() == []


@pytest.mark.parametrize(
    ("suppliers", "named"),
    [(["supplier-a", "supplier-z"], "supplier-z"), (["oem-b"], "oem-b"), (["pdu", "supplier-a"], "pdu")],
    ids=["unknown-member", "an-oem", "the-pdu"],
)
async def test_priority_supplier_that_is_not_a_network_supplier_is_422(
    harness: Harness, suppliers: list[str], named: str
) -> None:
    client = harness.erp("oem-a")
    response = await client.post("/v1/demands", json=demand(priority_suppliers=suppliers))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert named in response.json()["detail"]
    assert (await client.get("/v1/demands")).json() == []
    await harness.drain()
    assert await network_entries(harness, DEMAND_SUBMITTED) == []


async def test_malformed_json_is_400_problem_and_stores_nothing(harness: Harness) -> None:
    client = harness.erp("oem-a")
    response = await client.post(
        "/v1/demands", content=b'{"product": "P-100", ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert (await client.get("/v1/demands")).json() == []


# --- demands: Idempotency-Key ------------------------------------------------------------------


async def test_same_idempotency_key_and_body_creates_one_demand(harness: Harness) -> None:
    client = harness.erp("oem-a")
    headers = {"Idempotency-Key": "order-4711"}
    first = await client.post("/v1/demands", json=DEMAND, headers=headers)
    again = await client.post("/v1/demands", json=DEMAND, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    listed = (await client.get("/v1/demands")).json()
    assert [d["id"] for d in listed] == [first.json()["id"]]
    await harness.drain()
    assert len(await network_entries(harness, DEMAND_SUBMITTED)) == 1


async def test_same_idempotency_key_with_different_body_is_422(harness: Harness) -> None:
    client = harness.erp("oem-a")
    headers = {"Idempotency-Key": "order-4712"}
    first = await client.post("/v1/demands", json=DEMAND, headers=headers)
    assert first.status_code == 202
    other = await client.post("/v1/demands", json=demand(quantity=999), headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"] == PROBLEM
    assert [d["id"] for d in (await client.get("/v1/demands")).json()] == [first.json()["id"]]


async def test_idempotency_keys_are_scoped_per_erp_client(harness: Harness) -> None:
    path = harness.state_dir / "oem-a" / CLIENTS_FILE
    second_token = add_client(path, "erp-second", ("read", "write"))
    harness.node("oem-a").erp = ErpClients.load(path)
    first_client = harness.erp("oem-a")
    second_client = harness.erp("oem-a", token=second_token)
    headers = {"Idempotency-Key": "shared-key"}

    first = await first_client.post("/v1/demands", json=DEMAND, headers=headers)
    same_body = await second_client.post("/v1/demands", json=DEMAND, headers=headers)
    assert first.status_code == same_body.status_code == 202
    assert same_body.json()["id"] != first.json()["id"]
    other_body = await second_client.post(
        "/v1/demands", json=demand(quantity=5), headers={"Idempotency-Key": "k2"}
    )
    assert other_body.status_code == 202
    reused = await first_client.post(
        "/v1/demands", json=demand(quantity=6), headers={"Idempotency-Key": "k2"}
    )
    assert reused.status_code == 202, reused.text
    assert len((await first_client.get("/v1/demands")).json()) == 4


# --- auth ----------------------------------------------------------------------------------------


async def test_demand_routes_without_token_are_401_with_www_authenticate(harness: Harness) -> None:
    client = harness.anonymous("oem-a")
    for response in (
        await client.post("/v1/demands", json=DEMAND),
        await client.get("/v1/demands"),
        await client.get("/v1/demands/anything"),
        await client.get("/v1/escrows/anything"),
        await client.post(
            "/v1/escrows/anything/deposit", json={"amount": 1, "currency": "EUR", "payment_reference": "r"}
        ),
        await client.get("/v1/offers"),
        await client.post("/v1/offers/anything/accept"),
    ):
        assert response.status_code == 401, (response.request.url, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.headers["content-type"] == PROBLEM
    assert (await harness.erp("oem-a").get("/v1/demands")).json() == []


async def test_another_nodes_token_is_401_on_oem(harness: Harness) -> None:
    response = await harness.erp("oem-a", token=harness.token("oem-b")).post("/v1/demands", json=DEMAND)
    assert response.status_code == 401
    assert (await harness.erp("oem-a").get("/v1/demands")).json() == []


# --- escrows and offers ------------------------------------------------------------------------


async def test_unknown_escrow_and_offer_are_404(harness: Harness) -> None:
    client = harness.erp("oem-a")
    deposit = {"amount": 487500, "currency": "EUR", "payment_reference": "PAY-1"}
    for response in (
        await client.get("/v1/escrows/unknown"),
        await client.post("/v1/escrows/unknown/deposit", json=deposit),
        await client.post("/v1/offers/x/accept"),
    ):
        assert response.status_code == 404, (response.request.url, response.text)
        assert response.headers["content-type"] == PROBLEM


async def test_no_offers_is_an_empty_list(harness: Harness) -> None:
    response = await harness.erp("oem-a").get("/v1/offers")
    assert response.status_code == 200
    assert response.json() == []
    assert "link" not in response.headers


async def test_escrow_awaiting_deposit_is_readable_with_buyer_and_supplier(harness: Harness) -> None:
    escrow_id = await insert_escrow(harness, state="awaiting_deposit")
    response = await harness.erp("oem-a").get(f"/v1/escrows/{escrow_id}")
    assert response.status_code == 200
    escrow = response.json()
    assert {k: escrow[k] for k in ("id", "state", "amount", "currency", "buyer", "supplier")} == {
        "id": escrow_id,
        "state": "awaiting_deposit",
        "amount": 487500,
        "currency": "EUR",
        "buyer": "oem-a",
        "supplier": "supplier-a",
    }
    assert (escrow["product"], escrow["quantity"], escrow["deposited_at"], escrow["reason"]) == (
        "P-100",
        390,
        None,
        None,
    )
    window = harness.config.deposit_window_seconds
    opened = parse_time(escrow["created_at"])
    assert parse_time(escrow["deposit_deadline"]) == opened + timedelta(seconds=window)
    [created] = escrow["history"]
    assert (created["event"], created["time"]) == ("created", escrow["created_at"])
    demand = (await harness.erp("oem-a").get(escrow["links"]["demand_url"])).json()
    assert demand["allocations"][0]["escrow_id"] == escrow_id
    assert demand["decision_id"] == created["entry_hash"]
    assert escrow["links"]["order_id"] == escrow_id and escrow["links"]["offer_id"] is None


@pytest.mark.parametrize(
    "deposit",
    [
        {"amount": 487499, "currency": "EUR", "payment_reference": "PAY-1"},
        {"amount": 487501, "currency": "EUR", "payment_reference": "PAY-1"},
        {"amount": 487500, "currency": "USD", "payment_reference": "PAY-1"},
        {"amount": 487500, "currency": "EUR"},
        {"amount": 487500, "currency": "EUR", "payment_reference": ""},
        {"amount": -487500, "currency": "EUR", "payment_reference": "PAY-1"},
        {"amount": "487500", "currency": "EUR", "payment_reference": "PAY-1"},
    ],
    ids=["short", "over", "currency", "no-reference", "empty-reference", "negative", "amount-string"],
)
async def test_bad_deposit_is_422_and_leaves_escrow_awaiting(
    harness: Harness, deposit: dict[str, Any]
) -> None:
    escrow_id = await insert_escrow(harness, state="awaiting_deposit")
    client = harness.erp("oem-a")
    response = await client.post(f"/v1/escrows/{escrow_id}/deposit", json=deposit)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert (await client.get(f"/v1/escrows/{escrow_id}")).json()["state"] == "awaiting_deposit"


@pytest.mark.parametrize("state", ["funded", "released", "refunded"])
async def test_deposit_on_escrow_not_awaiting_one_is_409(harness: Harness, state: str) -> None:
    escrow_id = await insert_escrow(harness, state=state)
    client = harness.erp("oem-a")
    deposit = {"amount": 487500, "currency": "EUR", "payment_reference": "PAY-2"}
    response = await client.post(f"/v1/escrows/{escrow_id}/deposit", json=deposit)
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == PROBLEM
    assert (await client.get(f"/v1/escrows/{escrow_id}")).json()["state"] == state


async def test_escrow_of_one_oem_is_not_visible_at_another(harness: Harness) -> None:
    escrow_id = await insert_escrow(harness, state="awaiting_deposit")
    assert (await harness.erp("oem-b").get(f"/v1/escrows/{escrow_id}")).status_code == 404
