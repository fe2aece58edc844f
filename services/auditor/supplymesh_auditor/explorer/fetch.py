"""Reading ledgers from their holders through the auditor's read-only peer access.

Pages read live: a ledger page reads one holder's copy, the network's objects (demands,
escrows, decisions) the PDU's copy of the network ledger, or, when the PDU does not
answer, the first partner's copy that does. A ledger or holder that does not exist is a
404 page, a holder that does not answer a 502 page. What a page shows is what a holder
served: the audit, not the explorer, judges copies.
"""

from __future__ import annotations

from typing import Any

from supplymesh.audit.payloads import open_channel
from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.entry import Entry, EntryFormatError, SealedEntry, parse_signatures
from supplymesh.errors import PeerError
from supplymesh.node.context import Node
from supplymesh_auditor.explorer.views import NotShown

PAGE = 1000
Item = dict[str, Any]
"""An entry as served: ``{entry, hash, signatures, late_signatures}``."""


def holders(node: Node, ledger: str) -> list[str] | None:
    """Who holds ``ledger`` (None if the network has no such ledger)."""
    if ledger == NETWORK_LEDGER:
        return [node.config.pdu.id, *(m.id for m in node.config.partners())]
    channel = node.config.channel(ledger)
    return None if channel is None else [channel.supplier, channel.oem]


def ledgers(node: Node) -> list[str]:
    """Every ledger of the network: the network ledger, then each channel."""
    return [NETWORK_LEDGER, *sorted(c.id for c in node.config.all_channels())]


def default_holder(node: Node, ledger: str) -> str:
    """The holder a ledger is read from unless the reader names one."""
    found = holders(node, ledger)
    return found[0] if found else node.config.pdu.id


async def _pages(node: Node, holder: str, ledger: str) -> list[Item]:
    items: list[Item] = []
    while True:
        page = await node.peers.get_json(
            holder, f"/peer/v1/ledgers/{ledger}/entries", after=len(items), limit=PAGE
        )
        if not isinstance(page, list):
            raise ValueError("the answer is not a list of entries")
        items += page
        if len(page) < PAGE:
            return items


async def copy_of(node: Node, ledger: str, holder: str | None = None) -> tuple[str, list[Item]]:
    """``holder``'s copy of ``ledger`` (the default holder's if None): holder and entries.

    Raises:
        NotShown: no such ledger (404), ``holder`` does not hold it (404), or it did not
            serve it (502).
    """
    found = holders(node, ledger)
    if found is None:
        raise NotShown(404, f"There is no ledger {ledger!r} in this network.")
    holder = holder or found[0]
    if holder not in found:
        raise NotShown(404, f"{holder!r} does not hold {ledger}; its holders are {', '.join(found)}.")
    try:
        return holder, await _pages(node, holder, ledger)
    except (PeerError, ValueError) as exc:
        raise NotShown(
            502, f"{holder} did not serve its copy of {ledger}: {exc}", "Holder unreachable"
        ) from exc


async def network_copy(node: Node) -> list[Item]:
    """The PDU's copy of the network ledger, or the first partner's copy that is served.

    Raises:
        NotShown: 502 if no holder of the network ledger served its copy.
    """
    refusals: list[str] = []
    for holder in holders(node, NETWORK_LEDGER) or []:
        try:
            return (await copy_of(node, NETWORK_LEDGER, holder))[1]
        except NotShown as shown:
            refusals.append(shown.message)
    raise NotShown(502, " ".join(refusals) or "No holder serves the network ledger.", "Holders unreachable")


def seq_of(item: Item) -> int:
    """The seq a served entry claims (0 if it claims none that is a number)."""
    entry = item.get("entry")
    seq = entry.get("seq") if isinstance(entry, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else 0


def sealed(item: Item) -> SealedEntry | None:
    """The served entry with its signatures, None if it is not well formed."""
    try:
        return SealedEntry(Entry.from_json(item["entry"]), parse_signatures(item["signatures"]))
    except (EntryFormatError, KeyError, TypeError):
        return None


def decrypted(node: Node, ledger: str, items: list[Item]) -> dict[int, dict[str, Any]]:
    """Plaintext of the private entries of a channel copy, opened with the auditor's keys."""
    if node.config.channel(ledger) is None:
        return {}
    opened = open_channel(
        ledger,
        [sealed(item) for item in items],
        recipient=node.recipient,
        reader=node.id,
        expected_readers=frozenset(node.config.channel_readers(ledger)),
    )
    return opened.bodies


def holder_named(node: Node, detail: object) -> str | None:
    """The holder a finding's detail starts with (``supplier-a: …``), if it names one."""
    name = str(detail).split(": ", 1)[0] if ": " in str(detail) else None
    return name if name is not None and any(m.id == name for m in node.config.members) else None


def flagged(node: Node, report: dict[str, Any] | None, ledger: str, holder: str) -> dict[int, list[str]]:
    """Rules of the report's findings per seq of ``holder``'s copy of ``ledger``."""
    found: dict[int, list[str]] = {}
    for finding in (report or {}).get("findings", []):
        named = holder_named(node, finding.get("detail"))
        if finding.get("ledger") == ledger and finding.get("seq") and named in (None, holder):
            found.setdefault(int(finding["seq"]), []).append(str(finding.get("rule")))
    return found
