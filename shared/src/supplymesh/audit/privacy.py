"""Checks that read channel payloads: sealing, commitments, and nothing private on the network.

The auditor is a reader of every channel key (:mod:`supplymesh.audit.payloads`), given
to the pipeline as :class:`supplymesh.audit.pull.Reader`. Payloads are judged on each
channel's reference; a copy that holds other or further entries than the reference has
those entries' payload problems reported against its holder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from supplymesh.audit.copies import Copy
from supplymesh.audit.payloads import private_strings
from supplymesh.audit.pull import Pull, finding
from supplymesh.audit.semantics import UNINTERPRETABLE, judged, malformed
from supplymesh.config import NETWORK_LEDGER
from supplymesh.core.actions import ACTION_FIELDS, ESCROW_DEPOSITED
from supplymesh.core.commitment import opens
from supplymesh.core.contracts.channel import VIEW_KINDS
from supplymesh.core.contracts.network import DECISION_KINDS, DEMAND_FAILED, PROPOSAL_WITHDRAWN
from supplymesh.core.entry import Entry, SealedEntry
from supplymesh.core.verify import Finding

ALLOWED_DECISION_BODY = frozenset({"decision", "base", "inputs", "result"})


def check_channel_payloads(pull: Pull) -> list[Finding]:
    """Private channel bodies are sealed under the current key, and the auditor can open them."""
    findings = []
    for ledger in pull.channels():
        reference = pull.reference(ledger)
        opened = pull.opened(ledger)
        if reference is None or opened is None:
            continue
        findings += [finding(ledger, seq, rule, detail) for seq, rule, detail in opened.problems]
        for copy in pull.of(ledger):
            findings += _own_payload_problems(pull, copy, reference.hashes())
    return findings


def _own_payload_problems(pull: Pull, copy: Copy, reference: list[str]) -> list[Finding]:
    """Payload problems of the entries where ``copy`` differs from, or goes beyond, the reference."""
    hashes = copy.leaf_hashes()
    agree = next((i for i, (a, b) in enumerate(zip(hashes, reference, strict=False)) if a != b), None)
    first_own = min(len(hashes), len(reference)) if agree is None else agree
    if first_own >= copy.size:
        return []
    opened = pull.opened_copy(copy)
    problems = opened.problems if opened is not None else []
    return [finding(copy.ledger, seq, rule, d, copy.holder) for seq, rule, d in problems if seq > first_own]


def check_commitments(pull: Pull) -> list[Finding]:
    """Every payment-reference opening on a channel opens the commitment on the network ledger."""
    committed: dict[str, tuple[int, str]] = {}
    for sealed in pull.network():
        if sealed.entry.kind == ESCROW_DEPOSITED:
            body = _mapping(_mapping(sealed.entry.body.get("action")).get("body"))
            reference = body.get("payment_reference_commitment")
            committed[str(body.get("escrow"))] = (sealed.entry.seq, str(reference))
    findings = []
    for ledger in pull.channels():
        opened = pull.opened(ledger)
        for seq, body in sorted(opened.bodies.items()) if opened else []:
            if body.get("event") != "deposit" or "commitment" not in body:
                continue
            network = committed.get(str(body.get("escrow")))
            if network is None:
                continue  # the deposit never reached the network ledger
            value, salt = body.get("payment_reference"), body.get("salt")
            if not (
                isinstance(value, str)
                and isinstance(salt, str)
                and opens(network[1], value=value, salt_text=salt)
            ):
                detail = f"this payment reference does not open the commitment at network seq {network[0]}"
                findings.append(finding(ledger, seq, "commitment", detail))
    return findings


def _visible_names(pull: Pull, network: list[SealedEntry]) -> frozenset[str]:
    """Names the network ledger shows by design: member ids, products, channel ledger names."""
    names = {m.id for m in pull.config.members} | set(pull.channels())
    for sealed in network:
        product = _mapping(_mapping(sealed.entry.body.get("action")).get("body")).get("product")
        if isinstance(product, str):
            names.add(product)
    return frozenset(names)


def check_no_private_fields(pull: Pull) -> list[Finding]:
    """Only network-visible data on the network ledger (SPEC §2).

    Structurally (known kinds, only the visible fields of actions and decisions, only
    attestation kinds copied from channels) and, with a reader, by value: no distinctive
    string of any private channel body appears anywhere in a network entry.
    """
    findings = []
    judging = judged(pull)
    if pull.reader is not None:
        exclude = _visible_names(pull, pull.network())
        secrets: set[str] = set()
        for ledger in pull.channels():
            opened = pull.opened(ledger)
            if opened is not None:
                secrets |= private_strings(opened.bodies.values(), exclude=exclude)
        quoted = {value: json.dumps(value, ensure_ascii=False).encode() for value in secrets}
        for sealed in judging:
            leaked = sorted(v for v, q in quoted.items() if q in sealed.leaf)
            if leaked:
                detail = f"{len(leaked)} value(s) of private channel entries appear in this entry"
                findings.append(finding(NETWORK_LEDGER, sealed.entry.seq, "private_value", detail))
    for sealed in judging:
        try:
            findings += _structure(sealed.entry)
        except UNINTERPRETABLE as exc:
            findings.append(malformed(NETWORK_LEDGER, sealed.entry.seq, "no_private_fields", exc))
    return findings


def _structure(entry: Entry) -> list[Finding]:
    """Fields of one network entry outside the network-visible list."""
    body = entry.body

    def found(detail: str) -> Finding:
        return finding(NETWORK_LEDGER, entry.seq, "private_field", detail)

    if entry.kind in DECISION_KINDS:
        findings = []
        if set(body) - ALLOWED_DECISION_BODY:
            findings.append(found(f"unexpected fields {sorted(set(body) - ALLOWED_DECISION_BODY)}"))
        attestations = _mapping(body.get("inputs")).get("attestations", [])
        for item in attestations if isinstance(attestations, list) else [attestations]:
            kind = _mapping(_mapping(item).get("entry")).get("kind")
            if kind not in VIEW_KINDS:
                findings.append(found(f"a channel entry of kind {kind!r} was copied onto the network ledger"))
        return findings
    if "action" in body:
        action = _mapping(body.get("action"))
        fields = action.get("body", {})
        if not isinstance(fields, Mapping):
            return [found("the action body is not an object")]
        extra = set(fields) - ACTION_FIELDS.get(str(action.get("kind")), frozenset())
        return [found(f"fields {sorted(extra)}")] if extra else []
    if entry.kind not in ("network.genesis", DEMAND_FAILED, PROPOSAL_WITHDRAWN):
        return [found(f"unknown entry kind {entry.kind!r}")]
    return []


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
