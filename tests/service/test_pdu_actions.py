"""Party actions sent to the PDU (``POST /peer/v1/actions``): sequenced once, or refused."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from supplymesh.core.actions import DEMAND_SUBMITTED, Action, sign_action
from supplymesh.core.crypto import Signer
from supplymesh.core.entry import format_time
from supplymesh.node.keys import KEY_FILE, load_key_file
from tests.harness import Harness
from tests.service.test_oem_api import NORMALISED, network_entries, network_size

pytestmark = [pytest.mark.anyio, pytest.mark.db]

PROBLEM = "application/problem+json"
PATH = "/peer/v1/actions"


def key_of(harness: Harness, member: str) -> Signer:
    return load_key_file(harness.state_dir / member / KEY_FILE)


def action(
    *, party: str = "oem-a", kind: str = DEMAND_SUBMITTED, body: dict[str, Any] | None = None, id_: str = ""
) -> Action:
    return Action(
        kind=kind,
        party=party,
        id=id_ or uuid.uuid4().hex,
        time=format_time(datetime.now(UTC)),
        body=copy.deepcopy(NORMALISED if body is None else body),
    )


def envelope(harness: Harness, act: Action, *, signed_by: str | None = None) -> dict[str, Any]:
    return {"action": act.statement(), "signature": sign_action(act, key_of(harness, signed_by or act.party))}


async def test_signed_demand_action_is_sequenced_on_the_network_ledger(harness: Harness) -> None:
    before = await network_size(harness)
    act = action()
    response = await harness.peer("oem-a").request("pdu", "POST", PATH, json=envelope(harness, act))
    assert response.status_code == 200, response.text
    placed = response.json()
    assert placed["ledger"] == "network"
    assert placed["seq"] == before + 1
    assert await network_size(harness) == before + 1

    entries = await network_entries(harness)
    entry = entries[placed["seq"] - 1]
    assert entry["hash"] == placed["hash"]
    assert entry["entry"]["kind"] == DEMAND_SUBMITTED
    assert entry["entry"]["author"] == "pdu"
    assert entry["entry"]["body"]["action"] == act.statement()
    signature = entry["entry"]["body"]["signature"]
    harness.config.member("oem-a").key.verify_text(signature, Action.from_statement(act.statement()).digest)
    assert [s["signer"] for s in entry["signatures"]] == ["pdu"]


async def test_same_action_sent_again_returns_the_first_placement(harness: Harness) -> None:
    act = action()
    body = envelope(harness, act)
    peer = harness.peer("oem-a")
    first = await peer.request("pdu", "POST", PATH, json=body)
    assert first.status_code == 200, first.text
    size = await network_size(harness)
    again = await peer.request("pdu", "POST", PATH, json=body)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert await network_size(harness) == size
    assert len(await network_entries(harness, DEMAND_SUBMITTED)) == 1


async def test_same_action_id_of_two_parties_are_two_entries(harness: Harness) -> None:
    shared_id = uuid.uuid4().hex
    a = await harness.peer("oem-a").request(
        "pdu", "POST", PATH, json=envelope(harness, action(party="oem-a", id_=shared_id))
    )
    b = await harness.peer("oem-b").request(
        "pdu", "POST", PATH, json=envelope(harness, action(party="oem-b", id_=shared_id))
    )
    assert a.status_code == b.status_code == 200
    assert a.json()["seq"] != b.json()["seq"]
    assert len(await network_entries(harness, DEMAND_SUBMITTED)) == 2


async def _refused(harness: Harness, sender: str, body: object, status: int) -> None:
    before = await network_size(harness)
    response = await harness.peer(sender).request("pdu", "POST", PATH, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert await network_size(harness) == before
    assert await network_entries(harness, DEMAND_SUBMITTED) == []


async def test_action_of_another_party_is_403(harness: Harness) -> None:
    act = action(party="oem-b")
    await _refused(harness, "oem-a", envelope(harness, act), 403)
    # Even when oem-b's own signature is attached, only oem-b may send oem-b's action.
    await _refused(harness, "oem-a", envelope(harness, act, signed_by="oem-b"), 403)


@pytest.mark.parametrize("signer", ["oem-b", "supplier-a", "pdu"])
async def test_action_signed_by_another_key_is_422(harness: Harness, signer: str) -> None:
    act = action(party="oem-a")
    await _refused(harness, "oem-a", envelope(harness, act, signed_by=signer), 422)


async def test_signature_over_other_terms_is_422(harness: Harness) -> None:
    signed = action()
    tampered = signed.statement()
    tampered["body"]["quantity"] = 1
    body = {"action": tampered, "signature": sign_action(signed, key_of(harness, "oem-a"))}
    await _refused(harness, "oem-a", body, 422)


async def test_garbage_signature_is_422(harness: Harness) -> None:
    await _refused(harness, "oem-a", {"action": action().statement(), "signature": "not-a-signature"}, 422)


async def test_supplier_submitting_a_demand_is_422(harness: Harness) -> None:
    act = action(party="supplier-a")
    await _refused(harness, "supplier-a", envelope(harness, act), 422)


async def test_auditor_submitting_a_demand_is_422(harness: Harness) -> None:
    act = action(party="auditor")
    await _refused(harness, "auditor", envelope(harness, act), 422)


async def test_unknown_action_kind_is_422(harness: Harness) -> None:
    act = action(kind="demand.withdrawn")
    await _refused(harness, "oem-a", envelope(harness, act), 422)


@pytest.mark.parametrize("field", ["process_time_s", "sensor_values", "specification", "channel_terms"])
async def test_body_field_outside_the_network_visible_list_is_422(harness: Harness, field: str) -> None:
    body = copy.deepcopy(NORMALISED)
    body[field] = ["12.5", "13.1"] if field == "sensor_values" else "secret"
    act = action(body=body)
    await _refused(harness, "oem-a", envelope(harness, act), 422)


def _statement_without(key: str) -> dict[str, Any]:
    statement = action().statement()
    del statement[key]
    return statement


MALFORMED: dict[str, Any] = {
    "missing-kind": _statement_without("kind"),
    "missing-party": _statement_without("party"),
    "missing-body": _statement_without("body"),
    "wrong-type-tag": {**action().statement(), "type": "supplymesh.action.v0"},
    "extra-field": {**action().statement(), "seq": 7},
    "party-not-a-string": {**action().statement(), "party": ["oem-a"]},
    "body-not-an-object": {**action().statement(), "body": "terms"},
    "empty-id": {**action().statement(), "id": ""},
    "id-too-long": {**action().statement(), "id": "x" * 65},
    "binary-float-in-body": {**action().statement(), "body": {**NORMALISED, "quantity": 1000.5}},
    "integer-beyond-2-pow-53": {**action().statement(), "body": {**NORMALISED, "quantity": 2**60}},
}


@pytest.mark.parametrize("statement", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_statement_is_422(harness: Harness, statement: dict[str, Any]) -> None:
    signer = key_of(harness, "oem-a")
    try:
        signature = sign_action(Action.from_statement(statement), signer)
    except ValueError:  # not an action, or not canonicalisable: any signature will do
        signature = signer.sign_text(b"\x00" * 32)
    await _refused(harness, "oem-a", {"action": statement, "signature": signature}, 422)


@pytest.mark.parametrize(
    "body",
    [
        {"action": "not an object", "signature": "x"},
        {"signature": "x"},
        {"action": {}},
        {"action": {}, "signature": "x", "extra": 1},
        [],
    ],
    ids=["action-a-string", "no-action", "no-signature", "extra-field", "array"],
)
async def test_malformed_envelope_is_422(harness: Harness, body: object) -> None:
    await _refused(harness, "oem-a", body, 422)


async def test_unsigned_request_is_401(harness: Harness) -> None:
    before = await network_size(harness)
    response = await harness.anonymous("pdu").post(PATH, json=envelope(harness, action()))
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM
    erp = await harness.erp("pdu").post(PATH, json=envelope(harness, action()))
    assert erp.status_code == 401, erp.text
    assert await network_size(harness) == before
