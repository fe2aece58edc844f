"""The explorer, in process: sign-in, every page kind, search, error pages, findings.

Pages are fetched as HTML from the auditor app of a six-node in-process network that
has run the paper's second scenario (split, deposits, a release, a refund, a re-offer
accepted and released), so every object the explorer shows exists.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from supplymesh.core.contracts.channel import is_private
from supplymesh.core.contracts.network import NetworkState
from supplymesh_auditor.explorer.history import fold
from supplymesh_auditor.explorer.ledgers import preview
from supplymesh_auditor.explorer.session import SESSION_SECONDS, SessionStore
from tests.harness import Harness
from tests.service.test_audit import CHANNEL, drop_triggers
from tests.service.test_scenarios import run_scenario_2, setup_split

pytestmark = [pytest.mark.anyio, pytest.mark.db]


async def full_flow(harness: Harness) -> dict[str, Any]:
    """Scenario 2: split, both escrows funded, one lot released, one refunded and re-offered."""
    done = await run_scenario_2(harness)
    state: NetworkState = harness.app("pdu").state.replica.state
    return {
        "state": state,
        "demand": next(h for h, d in state.demands.items() if d.buyer == "oem-a"),
        "other": next(h for h, d in state.demands.items() if d.buyer == "oem-b" and d.id == done.other_id),
        "released": done.released,
        "refunded": done.refunded,
        "offer": done.offer,
        "reoffer_escrow": done.reoffer_escrow,
    }


def html(page: httpx.Response, status: int = 200) -> str:
    assert page.status_code == status, page.text[:2000]
    assert page.headers["content-type"].startswith("text/html")
    return page.text


# -- sign-in ------------------------------------------------------------------------------


async def test_sign_in_with_the_form_sets_a_session_cookie_that_is_not_the_token(harness: Harness) -> None:
    token = harness.token("auditor")
    browser = harness.anonymous("auditor")
    form = html(await browser.get("/explorer"), 401)
    assert 'method="post" action="/explorer/login"' in form and 'name="token"' in form
    signed_in = await browser.post("/explorer/login", data={"token": token, "next": "/explorer/escrows"})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/explorer/escrows"
    cookie = signed_in.headers["set-cookie"]
    session = re.match(r"supplymesh_explorer=([^;]+);", cookie)
    assert session is not None and session.group(1) != token and token not in cookie
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", f"max-age={SESSION_SECONDS}", "path=/explorer"} <= attributes
    page = html(await browser.get("/explorer"))
    assert "Overview" in page and token not in page
    out = await browser.post("/explorer/logout")
    assert out.status_code == 303 and out.headers["location"] == "/explorer/login"
    assert "max-age=0" in out.headers["set-cookie"].lower()
    # The session is over on the server, whatever the browser keeps.
    replay = harness.anonymous("auditor")
    replay.cookies.set("supplymesh_explorer", session.group(1))
    html(await replay.get("/explorer"), 401)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        ("token=oem-token", "application/x-www-form-urlencoded", 401, "not an auditor token"),
        ("token=", "application/x-www-form-urlencoded", 401, "not an auditor token"),
        ('{"token": "x"}', "application/json", 400, "Send the sign-in form"),
        ("token=" + "x" * 5000, "application/x-www-form-urlencoded", 400, "Send the sign-in form"),
    ],
)
async def test_a_sign_in_that_is_not_an_auditor_token_opens_no_session(
    harness: Harness, body: str, content_type: str, status: int, says: str
) -> None:
    body = body.replace("oem-token", harness.token("oem-a"))
    answer = await harness.anonymous("auditor").post(
        "/explorer/login", content=body, headers={"content-type": content_type}
    )
    assert says in html(answer, status)
    assert "set-cookie" not in answer.headers
    assert harness.app("auditor").state.explorer_sessions.sessions == {}


async def test_a_token_in_the_url_signs_nobody_in(harness: Harness) -> None:
    answer = await harness.anonymous("auditor").get(
        "/explorer/login", params={"token": harness.token("auditor")}
    )
    assert "Sign-in links with a token are not accepted" in html(answer)
    assert "set-cookie" not in answer.headers


async def test_an_expired_or_forged_session_opens_nothing(harness: Harness) -> None:
    now = [1000.0]
    store = SessionStore(clock=lambda: now[0])
    harness.app("auditor").state.explorer_sessions = store
    browser = harness.anonymous("auditor")
    await browser.post("/explorer/login", data={"token": harness.token("auditor")})
    html(await browser.get("/explorer/audits"))
    now[0] += SESSION_SECONDS
    html(await browser.get("/explorer/audits"), 401)
    assert store.sessions == {}
    forged = harness.anonymous("auditor")
    forged.cookies.set("supplymesh_explorer", harness.token("auditor"))  # the token is not a session id
    html(await forged.get("/explorer/audits"), 401)


PAGES = [
    "/explorer",
    "/explorer/ledgers/network",
    "/explorer/ledgers/network/entries/1",
    "/explorer/entries/1",
    "/explorer/decisions",
    "/explorer/decisions/1",
    "/explorer/demands",
    "/explorer/demands/" + "0" * 64,
    "/explorer/escrows",
    "/explorer/escrows/" + "0" * 32,
    "/explorer/findings",
    "/explorer/audits",
    "/explorer/search?q=1",
    "/explorer/no-such-page",
]


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_refuses_a_reader_without_auditor_credentials(harness: Harness, path: str) -> None:
    for client in (harness.anonymous("auditor"), harness.erp("auditor", token=harness.token("oem-a"))):
        assert "Auditor ERP token" in html(await client.get(path), 401)


async def test_running_an_audit_needs_auditor_credentials(harness: Harness) -> None:
    html(await harness.anonymous("auditor").post("/explorer/audit"), 401)
    assert "No audit has run yet" in html(await harness.erp("auditor").get("/explorer/audits"))


# -- the pages ----------------------------------------------------------------------------


async def test_overview_shows_each_ledger_agreed_by_tree_size_and_root(harness: Harness) -> None:
    await setup_split(harness)
    head = (await harness.erp("pdu").get("/v1/ledgers/network/head")).json()
    page = html(await harness.erp("auditor").get("/explorer"))
    assert "5/5 holders agree" in page and "2/2 holders agree" in page
    assert head["root_hash"] in page and f"<td>{head['size']}</td>" in page
    assert head["head_hash"] not in page  # the root, not an entry hash, is the head
    assert "No audit has run yet" in page


async def test_an_unreachable_holder_is_shown_on_the_overview_not_left_out(harness: Harness) -> None:
    await setup_split(harness)
    harness.down("supplier-a")
    page = html(await harness.erp("auditor").get("/explorer"))
    assert "4/5 holders agree" in page
    assert 'class="replica replica-unreachable"' in page and "supplier-a</a> unreachable" in page
    entry = await harness.erp("auditor").get(
        f"/explorer/ledgers/{CHANNEL}/entries/1", params={"holder": "supplier-a"}
    )
    assert "supplier-a did not serve its copy" in html(entry, 502)


async def test_a_short_entry_address_opens_the_network_ledger_entry(harness: Harness) -> None:
    await setup_split(harness)
    client = harness.erp("auditor")
    short = await client.get("/explorer/entries/2")
    assert short.status_code == 303
    assert short.headers["location"] == "/explorer/ledgers/network/entries/2"
    assert "is not an entry number" in html(await client.get("/explorer/entries/two"), 404)


async def test_network_pages_read_a_partner_copy_when_the_pdu_does_not_answer(harness: Harness) -> None:
    flow = await full_flow(harness)
    harness.down("pdu")
    client = harness.erp("auditor")
    demand = html(await client.get(f"/explorer/demands/{flow['demand']}"))
    assert "Split: partially allocated" in demand
    assert f'href="/explorer/escrows/{flow["released"]}"' in html(await client.get("/explorer/escrows"))
    for member in ("oem-a", "oem-b", "supplier-a", "supplier-b"):
        harness.down(member)
    nobody = html(await client.get(f"/explorer/demands/{flow['demand']}"), 502)
    assert "pdu did not serve its copy" in nobody and "supplier-b did not serve its copy" in nobody


async def test_entry_page_decodes_the_body_and_verifies_each_signer(harness: Harness) -> None:
    flow = await full_flow(harness)
    client = harness.erp("auditor")
    demand = flow["state"].demands[flow["demand"]]
    page = html(await client.get(f"/explorer/ledgers/network/entries/{demand.seq}"))
    assert flow["demand"] in page and 'data-copy="' + flow["demand"] + '"' in page
    assert "&#34;priority_suppliers&#34;: [\n" in page  # pretty-printed, not compact
    assert 'pdu <span class="muted">pdu</span> — signature verifies' in page
    assert 'oem-a <span class="muted">oem</span> — its signed action in the body: signature verifies' in page
    assert f'href="/explorer/demands/{flow["demand"]}"' in page
    assert f'rel="prev" href="/explorer/ledgers/network/entries/{demand.seq - 1}?holder=pdu"' in page
    assert f'rel="next" href="/explorer/ledgers/network/entries/{demand.seq + 1}?holder=pdu"' in page
    channel = (
        await harness.erp("oem-a").get(f"/v1/ledgers/{CHANNEL}/entries", params={"limit": 1000})
    ).json()
    sealed = next(i["entry"] for i in channel if is_private(i["entry"]["kind"]))
    assert set(sealed["body"]) == {"enc"}  # stored and served encrypted
    private = html(
        await client.get(f"/explorer/ledgers/{CHANNEL}/entries/{sealed['seq']}", params={"holder": "oem-a"})
    )
    assert "decrypted with the auditor's channel key" in private and "As stored (encrypted)" in private
    shown = private.split('id="body">')[1].split("</pre>")[0]
    assert "&#34;ct&#34;" not in shown and "&#34;enc&#34;" not in shown
    public = html(await client.get(f"/explorer/ledgers/{CHANNEL}/entries/1", params={"holder": "oem-a"}))
    assert "decrypted with" not in public and "queued_machine_hours" in public
    assert 'supplier-a <span class="muted">supplier</span> — signature verifies' in public


async def test_decision_page_shows_the_split_as_a_table_with_its_quorum_and_base(harness: Harness) -> None:
    flow = await full_flow(harness)
    client = harness.erp("auditor")
    decisions = html(await client.get("/explorer/decisions"))
    split_seq = flow["state"].escrows[flow["released"]].created_seq
    assert f'id="decision-{split_seq}"' in decisions and "4/4 signed · threshold 3" in decisions
    page = html(await client.get(f"/explorer/decisions/{split_seq}"))
    assert "4/4 signed · threshold 3" in page
    assert f'href="/explorer/ledgers/network/entries/{split_seq - 1}">network #{split_seq - 1}</a>' in page
    assert f'href="/explorer/demands/{flow["demand"]}"' in page
    rows = re.findall(
        r'<tr><td>(supplier-[ab])</td><td class="num">(\d+)</td>'
        r'.*?12\.50 EUR</td><td class="num">([\d,.]+ EUR)',
        page,
        re.S,
    )
    assert rows == [("supplier-a", "390", "4,875.00 EUR"), ("supplier-b", "400", "5,000.00 EUR")]
    assert "487500" not in page
    assert f"{CHANNEL} #" in page  # the attestations it was computed from, linked
    refund_seq = next(
        seq
        for seq in range(split_seq, flow["state"].size + 1)
        if f'decision-{seq}"' in decisions
        and seq != split_seq
        and "decision.refund" in decisions.split(f'id="decision-{seq}"')[1].split("</tr>")[0]
    )
    refund = html(await client.get(f"/explorer/decisions/{refund_seq}"))
    assert "5,000.00 EUR" in refund and f'id="offer-{flow["offer"]}"' in refund and "13.00 EUR" in refund


async def test_demand_and_escrow_pages_tell_their_history(harness: Harness) -> None:
    flow = await full_flow(harness)
    client = harness.erp("auditor")
    demand = html(await client.get(f"/explorer/demands/{flow['demand']}"))
    steps = re.findall(r"<strong>([^<]+)</strong>", demand.split('id="timeline"')[1])
    assert steps[0] == "Submitted by oem-a" and steps[1].startswith("Capacity attested by")
    for step in (
        "Split: partially allocated",
        "supplier-a: Deposit",
        "supplier-a: Production completed",
        "supplier-a: Inspection",
        "supplier-a: Released",
        "supplier-b: Refunded",
    ):
        assert step in steps, (step, steps)
    assert steps.index("supplier-a: Deposit") < steps.index("supplier-a: Released")
    assert "badge badge-partially_allocated" in demand
    other = html(await client.get(f"/explorer/demands/{flow['other']}"))
    assert "accepted re-offer" in other and "supplier-b: Opened by an accepted re-offer" in other
    assert "badge badge-unallocated" in other
    escrow = html(await client.get(f"/explorer/escrows/{flow['refunded']}"))
    assert "badge badge-refunded" in escrow and "5,000.00 EUR" in escrow
    assert f'href="/explorer/demands/{flow["demand"]}"' in escrow and f'id="offer-{flow["offer"]}"' in escrow
    assert "defects critical 0, major 14, minor 10" in escrow
    assert "<strong>Re-offered</strong>" in escrow and "<strong>Re-offer accepted</strong>" in escrow
    reoffer = html(await client.get(f"/explorer/escrows/{flow['reoffer_escrow']}"))
    assert f'href="/explorer/escrows/{flow["refunded"]}"' in reoffer and "badge badge-released" in reoffer
    assert re.search(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d:\d\d UTC", reoffer)  # times for people
    listed = html(await client.get("/explorer/escrows"))
    assert all(f'href="/explorer/escrows/{e}"' in listed for e in flow["state"].escrows)
    demands = html(await client.get("/explorer/demands"))
    assert all(f'href="/explorer/demands/{d}"' in demands for d in flow["state"].demands)


async def test_search_opens_the_page_of_what_it_names(harness: Harness) -> None:
    flow = await full_flow(harness)
    client = harness.erp("auditor")
    state = flow["state"]
    split_seq = state.escrows[flow["released"]].created_seq
    pdu_items = (await harness.erp("pdu").get("/v1/ledgers/network/entries", params={"limit": 1000})).json()
    deposit = next(i for i in pdu_items if i["entry"]["kind"] == "escrow.deposited")
    channel = (await harness.erp("supplier-a").get(f"/v1/ledgers/{CHANNEL}/entries")).json()[0]
    cases = {
        flow["demand"]: f"/explorer/demands/{flow['demand']}",
        flow["demand"][:10].upper(): f"/explorer/demands/{flow['demand']}",
        flow["released"]: f"/explorer/escrows/{flow['released']}",
        flow["offer"]: f"/explorer/escrows/{flow['refunded']}#offer-{flow['offer']}",
        deposit["hash"]: f"/explorer/ledgers/network/entries/{deposit['entry']['seq']}",
        str(split_seq): f"/explorer/decisions/{split_seq}",
        " 1 ": "/explorer/ledgers/network/entries/1",
        channel["hash"]: f"/explorer/ledgers/{CHANNEL}/entries/1?holder=supplier-a",
    }
    for query, target in cases.items():
        found = await client.get("/explorer/search", params={"q": query})
        assert (found.status_code, found.headers.get("location")) == (303, target), query


@pytest.mark.parametrize("query", ["f" * 64, "abcdef0123", "99999", "²", "not an id", "<script>", "ab"])
async def test_a_search_that_finds_nothing_is_a_nothing_found_page(harness: Harness, query: str) -> None:
    await setup_split(harness)
    page = html(await harness.erp("auditor").get("/explorer/search", params={"q": query}), 404)
    assert "Nothing found" in page and "<script>" not in page.split("<main>")[1]


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/explorer/demands/" + "a" * 64, 404, "There is no demand"),
        ("/explorer/escrows/" + "a" * 32, 404, "There is no escrow"),
        ("/explorer/decisions/1", 404, "is not a decision"),
        ("/explorer/decisions/abc", 404, "is not an entry number"),
        ("/explorer/ledgers/network/entries/0", 404, "is not an entry number"),
        ("/explorer/ledgers/network/entries/²", 404, "is not an entry number"),
        ("/explorer/ledgers/network/entries/" + "9" * 40, 404, "is not an entry number"),
        ("/explorer/ledgers/network/entries/999", 404, "there is no entry 999"),
        ("/explorer/ledgers/network/entries/1?holder=nobody", 404, "nobody&#39; does not hold"),
        (f"/explorer/ledgers/{CHANNEL}?holder=nobody", 404, "nobody&#39; does not hold"),
        (f"/explorer/ledgers/{CHANNEL}?holder=oem-b", 404, "oem-b&#39; does not hold"),
        ("/explorer/ledgers/channel:oem-z:supplier-z", 404, "There is no ledger"),
        ("/explorer/findings?audit=7", 404, "There is no audit #7"),
        ("/explorer/findings?audit=x", 404, "is not an audit number"),
        ("/explorer/findings?audit=²", 404, "is not an audit number"),
        ("/explorer/no/such/page", 404, "The explorer has no page"),
        ("/explorer/static/missing.css", 404, ""),
    ],
)
async def test_unknown_objects_are_html_404_pages(
    harness: Harness, path: str, status: int, says: str
) -> None:
    await setup_split(harness)
    page = await harness.erp("auditor").get(path)
    assert page.status_code == status, page.text
    assert says in page.text
    if says:
        assert page.headers["content-type"].startswith("text/html")


async def test_the_style_sheet_and_script_are_served_by_the_auditor(harness: Harness) -> None:
    client = harness.anonymous("auditor")
    css = await client.get("/explorer/static/explorer.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "overflow-x: auto" in css.text and "@media (max-width: 640px)" in css.text
    js = await client.get("/explorer/static/explorer.js")
    assert js.status_code == 200 and "clipboard" in js.text


async def test_tampered_entry_shows_as_a_finding_linked_to_its_entry_page(harness: Harness) -> None:
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
    assert ran.status_code == 303 and ran.headers["location"] == "/explorer/findings"
    findings = html(await client.get("/explorer/findings"))
    assert "bad_signature" in findings
    assert f'href="/explorer/ledgers/{CHANNEL}/entries/1?holder=supplier-a"' in findings
    entry = html(await client.get(f"/explorer/ledgers/{CHANNEL}/entries/1", params={"holder": "supplier-a"}))
    assert "The latest audit found: " in entry and "signature does not verify" in entry
    assert "the holder serves another hash" in entry
    ledger = html(await client.get(f"/explorer/ledgers/{CHANNEL}", params={"holder": "supplier-a"}))
    assert 'id="seq-1" class="finding"' in ledger
    overview = html(await client.get("/explorer"))
    assert re.search(r'href="/explorer/findings\?audit=1">\d+ findings</a>', overview)
    audits = html(await client.get("/explorer/audits"))
    assert 'href="/explorer/findings?audit=1"' in audits and "findings</a>" in audits


def test_a_ledger_row_glimpses_its_body_without_cutting_a_word() -> None:
    body = {"note": "word " * 60, "quantity": 390}
    glimpse = preview(body)
    assert glimpse.endswith(" …") and len(glimpse) <= 162
    assert glimpse[:-2].endswith("word") and "wor …" not in glimpse
    assert preview({"quantity": 390}) == '{"quantity": 390}'


async def test_a_channel_ledger_page_shows_private_bodies_decrypted_and_marked(harness: Harness) -> None:
    await full_flow(harness)
    page = html(await harness.erp("auditor").get(f"/explorer/ledgers/{CHANNEL}", params={"holder": "oem-a"}))
    assert 'class="decrypted"' in page and "&#34;enc&#34;" not in page


def test_timelines_survive_bodies_no_fold_accepts() -> None:
    genesis = {"ledger": "network", "seq": 1, "prev": "0" * 64, "time": "2026-01-01T00:00:00Z"}
    items: list[dict[str, Any]] = [
        {"entry": {**genesis, "kind": "network.genesis", "author": "pdu", "body": {}}},
        {
            "entry": {
                **genesis,
                "seq": 2,
                "prev": "1" * 64,
                "kind": "decision.split",
                "author": "pdu",
                "body": {
                    "result": {"demand": "d" * 64, "allocations": ["x", 3]},
                    "inputs": {"attestations": [{"entry": {"seq": "x"}}]},
                },
            }
        },
        {
            "entry": {
                **genesis,
                "seq": 3,
                "prev": "2" * 64,
                "kind": "escrow.deposited",
                "author": "pdu",
                "body": {"action": "x"},
            }
        },
        {"entry": "not an entry"},
    ]
    line = fold(items)
    assert set(line.state.refused) == {2, 3}


@pytest.mark.parametrize(
    ("wanted", "lands"),
    [
        ("/explorer/demands?q=1", "/explorer/demands?q=1"),
        ("https://elsewhere.example/explorer", "/explorer"),
        ("//elsewhere.example", "/explorer"),
        ("/explorer/../..//elsewhere.example", "/explorer"),
        ("/explorer\r\nSet-Cookie: x=1", "/explorer"),
        ("/explorer/login", "/explorer"),
    ],
)
async def test_after_signing_in_the_reader_stays_on_the_explorer(
    harness: Harness, wanted: str, lands: str
) -> None:
    answer = await harness.anonymous("auditor").post(
        "/explorer/login", data={"token": harness.token("auditor"), "next": wanted}
    )
    assert answer.status_code == 303 and answer.headers["location"] == lands
