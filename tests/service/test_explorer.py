"""The explorer pages: auditor credentials only, decisions with signers, findings linked."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.harness import Harness
from tests.service.test_audit import CHANNEL, drop_triggers
from tests.service.test_scenarios import setup_split

pytestmark = [pytest.mark.anyio, pytest.mark.db]


async def test_explorer_needs_auditor_credentials(harness: Harness) -> None:
    anonymous = harness.anonymous("auditor")
    page = await anonymous.get("/explorer")
    assert page.status_code == 401 and "Auditor ERP token" in page.text
    refused = await anonymous.get("/explorer/login", params={"token": harness.token("oem-a")})
    assert refused.status_code == 401 and "not an auditor token" in refused.text
    login = await anonymous.get("/explorer/login", params={"token": harness.token("auditor")})
    assert login.status_code == 303 and "supplymesh_explorer" in login.headers["set-cookie"]
    assert "httponly" in login.headers["set-cookie"].lower()


async def test_decision_page_shows_its_quorum_signers(harness: Harness) -> None:
    await setup_split(harness)
    client = harness.erp("auditor")
    page = await client.get("/explorer/decisions")
    assert page.status_code == 200
    assert "decision.split" in page.text
    for signer in ("oem-a", "oem-b", "supplier-a", "supplier-b"):
        assert signer in page.text
    assert "of 3 needed" in page.text
    escrows = await client.get("/explorer/escrows")
    assert escrows.status_code == 200 and "awaiting_deposit" in escrows.text
    # Money in major units of its currency: 487500 EUR cents are 4,875.00 EUR, not "487500 EUR".
    assert "4,875.00 EUR" in escrows.text and "5,000.00 EUR" in escrows.text
    assert "487500 EUR" not in escrows.text
    ledger = await client.get(f"/explorer/ledgers/{CHANNEL}", params={"holder": "oem-a"})
    assert ledger.status_code == 200 and "capacity.attestation" in ledger.text


async def test_tampered_entry_shows_as_a_finding_linked_to_the_entry(harness: Harness) -> None:
    await setup_split(harness)
    engine = harness.node("supplier-a").engine
    drop_triggers(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE ledger_entries SET entry = replace(entry, :old, :new) WHERE ledger = :l AND seq = 1"
            ),
            {"old": '"queued_machine_hours":"100"', "new": '"queued_machine_hours":"1"', "l": CHANNEL},
        )
    client = harness.erp("auditor")
    ran = await client.post("/explorer/audit")
    assert ran.status_code == 303
    overview = await client.get("/explorer")
    assert "bad_signature" in overview.text
    assert f'href="/explorer/ledgers/{CHANNEL}?holder=supplier-a#seq-1"' in overview.text
    ledger = await client.get(f"/explorer/ledgers/{CHANNEL}", params={"holder": "supplier-a"})
    assert 'id="seq-1" class="finding"' in ledger.text


@pytest.mark.parametrize(
    ("ledger", "holder", "status", "says"),
    [
        (CHANNEL, "nobody", 404, "nobody&#39; does not hold"),
        (CHANNEL, "oem-b", 404, "oem-b&#39; does not hold"),
        ("channel:oem-z:supplier-z", None, 404, "There is no ledger"),
        ("network", "pdu", 200, "network"),
    ],
)
async def test_a_ledger_page_for_a_holder_or_ledger_that_does_not_exist_is_a_404_page(
    harness: Harness, ledger: str, holder: str | None, status: int, says: str
) -> None:
    params = {} if holder is None else {"holder": holder}
    page = await harness.erp("auditor").get(f"/explorer/ledgers/{ledger}", params=params)
    assert page.status_code == status, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert says in page.text


async def test_a_holder_that_does_not_answer_is_a_502_page_not_raw_json(harness: Harness) -> None:
    harness.start_all()
    harness.down("supplier-a")
    page = await harness.erp("auditor").get(f"/explorer/ledgers/{CHANNEL}", params={"holder": "supplier-a"})
    assert page.status_code == 502
    assert page.headers["content-type"].startswith("text/html")
    assert "supplier-a did not serve its copy" in page.text
