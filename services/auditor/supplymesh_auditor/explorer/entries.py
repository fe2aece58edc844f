"""One entry of one holder's copy: decoded body, full hash, each signer verified.

Signatures are checked with the core's Ed25519 verification over the hash of the entry
as served (recomputed here, not taken from the holder) against the member keys of the
network config; a private channel body is shown opened with the auditor's channel keys,
marked as such, with its stored (encrypted) form beside it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.actions import Action, ActionError, check_action
from supplymesh.core.contracts.network import DECISION_KINDS
from supplymesh.core.crypto import SignatureError
from supplymesh.core.entry import Entry, EntryFormatError
from supplymesh.core.vocabulary.bodies import DEMAND_SUBMITTED, ESCROW_DEPOSITED, PRODUCTION_COMPLETED
from supplymesh.node.context import Node
from supplymesh.web.deps import NodeDep
from supplymesh_auditor import reports
from supplymesh_auditor.explorer.fetch import Item, copy_of, decrypted, flagged, holders
from supplymesh_auditor.explorer.session import Reader
from supplymesh_auditor.explorer.views import NotShown, decision_url, demand_url, escrow_url, render

router = APIRouter(prefix="/explorer", include_in_schema=False)


def parse_seq(text: str) -> int:
    """A seq from a path or a search.

    Raises:
        NotShown: 404 if it is not a positive integer.
    """
    if not (text.isascii() and text.isdigit() and len(text) <= 16) or not 0 < int(text) < 2**53:
        raise NotShown(404, f"{text!r} is not an entry number (a seq counts from 1).")
    return int(text)


def verify_signers(node: Node, entry: Entry | None, signatures: list[Any]) -> list[dict[str, str]]:
    """Each signature with whether it verifies over ``entry``'s hash under its member's key."""
    checked = []
    known = {m.id: m for m in node.config.members}
    for signature in signatures:
        signer = str(signature.get("signer")) if isinstance(signature, dict) else "?"
        member = known.get(signer)
        if member is None:
            status = "unknown signer"
        elif entry is None:
            status = "not checked: the entry does not parse"
        else:
            try:
                member.key.verify_text(str(signature.get("sig")), entry.digest)
                status = "verifies"
            except SignatureError:
                status = "does not verify"
        checked.append({"signer": signer, "status": status, "role": str(member.role) if member else ""})
    return checked


def party_signature(node: Node, entry: Entry | None) -> dict[str, str] | None:
    """The signed party action a network entry carries, checked as the PDU's admission does."""
    statement = entry.body.get("action") if entry is not None else None
    if entry is None or not isinstance(statement, dict):
        return None
    party = str(statement.get("party"))
    member = next((m for m in node.config.members if m.id == party), None)
    if member is None:
        return {"signer": party, "status": "unknown party", "role": ""}
    try:
        action = Action.from_statement(statement)
        check_action(action, str(entry.body.get("signature")), role=str(member.role), key=member.key)
    except ActionError as exc:
        return {"signer": party, "status": f"does not verify: {exc}", "role": str(member.role)}
    return {"signer": party, "status": "verifies", "role": str(member.role)}


def related(ledger: str, entry: Entry | None) -> list[tuple[str, str]]:
    """Pages of the objects a network entry decides or acts on: (label, address)."""
    if ledger != NETWORK_LEDGER or entry is None:
        return []
    if entry.kind in DECISION_KINDS:
        return [("the decision", decision_url(entry.seq))]
    if entry.kind == DEMAND_SUBMITTED:
        return [("the demand", demand_url(entry.hash))]
    action = entry.body.get("action")
    body = action.get("body") if isinstance(action, dict) else None
    if entry.kind in (ESCROW_DEPOSITED, PRODUCTION_COMPLETED) and isinstance(body, dict):
        return [("the escrow", escrow_url(str(body.get("escrow"))))]
    return []


def _parsed(item: Item) -> tuple[Entry | None, str | None]:
    try:
        return Entry.from_json(item.get("entry")), None
    except (EntryFormatError, TypeError, KeyError) as exc:
        return None, str(exc)


def _find(items: list[Item], seq: int, ledger: str, holder: str) -> Item:
    for item in items[seq - 1 : seq] + items:
        if isinstance(item.get("entry"), dict) and item["entry"].get("seq") == seq:
            return item
    raise NotShown(404, f"{holder}'s copy of {ledger} has {len(items)} entries; there is no entry {seq}.")


@router.get("/entries/{seq}")
def network_entry(_reader: Reader, seq: str) -> Response:
    """``/explorer/entries/N``: entry N of the network ledger (a channel entry names its ledger)."""
    return RedirectResponse(f"/explorer/ledgers/{NETWORK_LEDGER}/entries/{parse_seq(seq)}", status_code=303)


@router.get("/ledgers/{ledger}/entries/{seq}")
async def entry_page(
    request: Request,
    node: NodeDep,
    _reader: Reader,
    ledger: str,
    seq: str,
    holder: Annotated[str | None, Query()] = None,
) -> Response:
    """One entry: decoded body, full hash (recomputed and served), signers verified."""
    number = parse_seq(seq)
    holder, items = await copy_of(node, ledger, holder)
    item = _find(items, number, ledger, holder)
    entry, unreadable = _parsed(item)
    raw = item.get("entry") or {}
    plain = decrypted(node, ledger, items).get(number)
    context = {
        "ledger": ledger,
        "holder": holder,
        "holders": holders(node, ledger),
        "seq": number,
        "size": len(items),
        "raw": raw,
        "body": plain if plain is not None else raw.get("body"),
        "decrypted": plain is not None,
        "served_hash": str(item.get("hash", "")),
        "hash": entry.hash if entry else None,
        "unreadable": unreadable,
        "signers": verify_signers(node, entry, item.get("signatures", [])),
        "late": verify_signers(node, entry, item.get("late_signatures", [])),
        "party": party_signature(node, entry),
        "related": related(ledger, entry),
        "rules": flagged(node, reports.latest(node), ledger, holder).get(number, []),
    }
    return render(request, "entry.html", context)
