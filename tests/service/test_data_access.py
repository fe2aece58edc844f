"""docs/data-access.md, executed: every cell of the matrix is a read attempted as that member.

The test parses the matrix, runs one check per row for every reader column, and fails
on a row without a check, a check without a row, or a cell the system contradicts.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from supplymesh.config import channel_ledger
from supplymesh.core.commitment import opens
from supplymesh.core.contracts.channel import KEY_KIND
from supplymesh.core.contracts.network import NetworkState
from supplymesh.core.entry import Entry
from supplymesh.core.sealing import SealingError, open_body, sealed_key_id, unwrap_key
from supplymesh.node.keys import ENC_KEY_FILE, load_enc_key_file
from supplymesh.storage.entry_records import latest_of_kind
from tests.flows import order_for
from tests.harness import Harness

pytestmark = [pytest.mark.anyio, pytest.mark.db]

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-access.md"
CHANNEL = channel_ledger("oem-a", "supplier-a")
COLUMNS = {
    "channel supplier": ["supplier-a"],
    "channel OEM": ["oem-a"],
    "other partners": ["oem-b", "supplier-b"],
    "pdu": ["pdu"],
    "auditor": ["auditor"],
}
Check = Callable[[Harness, str, dict[str, str]], Awaitable[bool]]


def matrix() -> dict[str, dict[str, bool]]:
    """Row id → column → allowed, parsed from the document's table."""
    lines = [line for line in DOC.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows: dict[str, dict[str, bool]] = {}
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        match = re.fullmatch(r"`([a-z-]+)`", cells[0])
        if match is None:
            continue
        values = dict(zip(header, cells, strict=True))
        assert all(values[c] in ("yes", "no") for c in COLUMNS), line
        rows[match[1]] = {c: values[c] == "yes" for c in COLUMNS}
    return rows


async def _peer_ok(harness: Harness, reader: str, holder: str, path: str, **params: str) -> bool:
    response = await harness.peer(reader).request(holder, "GET", path, params=params or None)
    assert response.status_code in (200, 401, 403, 404), (reader, path, response.status_code, response.text)
    return response.status_code == 200


async def network_entries(harness: Harness, reader: str, _ctx: dict[str, str]) -> bool:
    holder = "oem-a" if reader == "pdu" else "pdu"
    return await _peer_ok(harness, reader, holder, "/peer/v1/ledgers/network/entries")


async def channel_entries(harness: Harness, reader: str, _ctx: dict[str, str]) -> bool:
    holder = "oem-a" if reader == "supplier-a" else "supplier-a"
    return await _peer_ok(harness, reader, holder, f"/peer/v1/ledgers/{CHANNEL}/entries")


def _open_with_own_key(harness: Harness, reader: str, kind: str) -> dict[str, object] | None:
    """Open the latest ``kind`` entry of the channel with ``reader``'s own encryption key."""
    engine = harness.node("supplier-a").engine
    recipient = load_enc_key_file(harness.state_dir / reader / ENC_KEY_FILE)
    sealed = latest_of_kind(engine, CHANNEL, kind)
    assert sealed is not None
    entry: Entry = sealed.entry
    key_id = sealed_key_id(entry.body)
    key_entry = latest_of_kind(engine, CHANNEL, KEY_KIND, key_id=key_id)
    assert key_entry is not None
    wrapped = key_entry.entry.body["readers"].get(reader)
    if wrapped is None:
        return None
    try:
        key = unwrap_key(wrapped, recipient=recipient, ledger=CHANNEL, reader=reader, key_id=key_id)
    except SealingError:
        return None
    return open_body(entry.body, key=key, ledger=CHANNEL, seq=entry.seq, kind=entry.kind, author=entry.author)


async def channel_payload(harness: Harness, reader: str, _ctx: dict[str, str]) -> bool:
    body = _open_with_own_key(harness, reader, "terms")
    return body is not None and body == {"incoterm": "DAP", "payment_days": 45}


async def payment_reference(harness: Harness, reader: str, ctx: dict[str, str]) -> bool:
    body = _open_with_own_key(harness, reader, "escrow.event")
    if body is None:
        return False
    state: NetworkState = harness.app("pdu").state.replica.state
    committed = state.escrows[ctx["order"]].payment_reference_commitment
    assert committed is not None
    return opens(committed, value=str(body["payment_reference"]), salt_text=str(body["salt"]))


async def capacity_view(harness: Harness, reader: str, _ctx: dict[str, str]) -> bool:
    if reader == "supplier-a":  # its own data, through its own ERP API
        return (await harness.erp(reader).get("/v1/capacity")).status_code == 200
    return await _peer_ok(harness, reader, "supplier-a", "/peer/v1/views/capacity", buyer="oem-a")


async def attestation_copy(harness: Harness, reader: str, ctx: dict[str, str]) -> bool:
    holder = "supplier-a" if reader == "oem-a" else "oem-a"  # a member asks the other one
    path = f"/peer/v1/channels/{CHANNEL}/attestations"
    return await _peer_ok(harness, reader, holder, path, demand=ctx["demand"])


async def quality_view(harness: Harness, reader: str, ctx: dict[str, str]) -> bool:
    path = f"/peer/v1/views/quality/{ctx['order']}"
    if reader == "supplier-a":
        return (await harness.erp(reader).get("/v1/orders")).status_code == 200
    return await _peer_ok(harness, reader, "supplier-a", path, buyer="oem-a")


async def dms_data(harness: Harness, reader: str, _ctx: dict[str, str]) -> bool:
    if reader == "supplier-a":
        return (await harness.erp(reader).get("/v1/dms/profile")).status_code == 200
    return await _peer_ok(harness, reader, "supplier-a", "/v1/dms/profile")


CHECKS: dict[str, Check] = {
    "network-entries": network_entries,
    "channel-entries": channel_entries,
    "channel-payload": channel_payload,
    "payment-reference": payment_reference,
    "capacity-view": capacity_view,
    "attestation-copy": attestation_copy,
    "quality-view": quality_view,
    "dms-data": dms_data,
}


def test_every_matrix_row_has_a_check_and_every_check_a_row() -> None:
    assert set(matrix()) == set(CHECKS)


async def test_the_data_access_matrix_holds(harness: Harness) -> None:
    order = await order_for(harness, state="released")  # deposit, lot quality, release
    added = await harness.erp("oem-a").post(
        f"/v1/channels/{CHANNEL}/entries",
        json={"kind": "terms", "body": {"incoterm": "DAP", "payment_days": 45}},
    )
    assert added.status_code == 201, added.text
    await harness.drain()
    [demand] = [d.hash for d in harness.app("pdu").state.replica.state.demands.values() if d.buyer == "oem-a"]
    ctx = {"order": order, "demand": demand}
    mismatches = []
    for row, expected in matrix().items():
        for column, readers in COLUMNS.items():
            for reader in readers:
                actual = await CHECKS[row](harness, reader, ctx)
                if actual != expected[column]:
                    mismatches.append(
                        f"{row} / {column} ({reader}): doc says {expected[column]}, system {actual}"
                    )
    assert mismatches == []
