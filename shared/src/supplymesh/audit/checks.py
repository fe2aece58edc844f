"""The audit as a named pipeline of checks over ledgers pulled from every holder.

Each check returns findings (ledger, seq, rule, detail); the report is ok exactly when
there are none. Input is plain data — what each holder served — so the pipeline does no
I/O and can be re-run on any saved pull. It is total: no content a holder can serve
makes it raise. Each check reports what it cannot interpret (``entry.malformed``), and
:func:`run_checks` turns any exception a check still raises into a finding
``audit.check_failed`` naming the check, and goes on with the next.

Integrity checks (:mod:`supplymesh.audit.integrity`) judge every copy as its holder
served it and name that holder. The semantic checks judge each ledger's **reference**
(:mod:`supplymesh.audit.pull`): the longest prefix of any copy that verifies (hash
chain, signatures, countersignatures; on the network ledger the PDU as author and the
quorum certificate of every decision), never merely the longest copy. A copy whose
further entries do not verify is reported against its holder, and honest holders are
compared with the reference, not with it.

A copy may be the part of a holder's ledger after a prefix an earlier audit verified
(incremental audits): then ``offset`` entries are known, by their leaves, and only the
served part is verified record by record, its chain continuing the prefix's last hash.
The semantic checks of the network ledger replay the whole reference's state but judge
only the entries after a :class:`Checkpoint`, whose earlier findings carry over: they
depend on nothing but the prefix's content, which the checkpoint's root pins.

Pipeline: check_tree_heads, check_hash_chain_and_signatures, check_countersignatures,
check_quorum_certs, check_replicas_agree (with consistency against every tree head seen
before), check_party_actions, check_reexecution (every decision re-executed from its
recorded inputs against the state at its base), check_fold_refusals, check_no_overbooking,
check_money_conserved, check_times, check_split_attestations_on_channel,
check_attested_supplier_dropped, check_channel_payloads, check_commitments,
check_no_private_fields, check_declared_quality_matches_dms.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from supplymesh.audit.copies import (
    Copy,
    CopyVerification,
    parse_item,
    record_of,
    verification,
    verify_copies,
)
from supplymesh.audit.dms_quality import DISAGREES, check_declared_quality_matches_dms, dms_record
from supplymesh.audit.integrity import (
    check_countersignatures,
    check_hash_chain_and_signatures,
    check_quorum_certs,
    check_replicas_agree,
    check_tree_heads,
)
from supplymesh.audit.privacy import (
    ALLOWED_DECISION_BODY,
    check_channel_payloads,
    check_commitments,
    check_no_private_fields,
)
from supplymesh.audit.pull import Checkpoint, Pull, Reader, Reference, SeenHead, finding
from supplymesh.audit.semantics import (
    INADMISSIBLE,
    MALFORMED,
    check_fold_refusals,
    check_money_conserved,
    check_no_overbooking,
    check_party_actions,
    check_reexecution,
)
from supplymesh.audit.steering import (
    DROPPED,
    NOT_MONOTONIC,
    NOT_ON_CHANNEL,
    OUT_OF_SKEW,
    check_attested_supplier_dropped,
    check_split_attestations_on_channel,
    check_times,
    untrusted_times,
)
from supplymesh.core.verify import Finding

__all__ = [
    "ALLOWED_DECISION_BODY",
    "CHECK_FAILED",
    "DISAGREES",
    "DROPPED",
    "INADMISSIBLE",
    "MALFORMED",
    "NOT_MONOTONIC",
    "NOT_ON_CHANNEL",
    "OUT_OF_SKEW",
    "PIPELINE",
    "SEMANTIC",
    "Check",
    "Checkpoint",
    "Copy",
    "CopyVerification",
    "Pull",
    "Reader",
    "Reference",
    "SeenHead",
    "check_attested_supplier_dropped",
    "check_channel_payloads",
    "check_commitments",
    "check_countersignatures",
    "check_declared_quality_matches_dms",
    "check_fold_refusals",
    "check_hash_chain_and_signatures",
    "check_money_conserved",
    "check_no_overbooking",
    "check_no_private_fields",
    "check_party_actions",
    "check_quorum_certs",
    "check_reexecution",
    "check_replicas_agree",
    "check_split_attestations_on_channel",
    "check_times",
    "check_tree_heads",
    "dms_record",
    "findings_json",
    "parse_item",
    "record_of",
    "run_checks",
    "run_pipeline",
    "untrusted_times",
    "verification",
    "verify_copies",
]

log = logging.getLogger("supplymesh.audit")
T = TypeVar("T")
CHECK_FAILED = "audit.check_failed"
Check = Callable[[Pull], list[Finding]]

PIPELINE: tuple[Check, ...] = (
    check_tree_heads,
    check_hash_chain_and_signatures,
    check_countersignatures,
    check_quorum_certs,
    check_replicas_agree,
    check_party_actions,
    check_reexecution,
    check_fold_refusals,
    check_no_overbooking,
    check_money_conserved,
    check_times,
    check_split_attestations_on_channel,
    check_attested_supplier_dropped,
    check_channel_payloads,
    check_commitments,
    check_no_private_fields,
    check_declared_quality_matches_dms,
)

SEMANTIC: frozenset[Check] = frozenset(
    {
        check_party_actions,
        check_reexecution,
        check_fold_refusals,
        check_no_overbooking,
        check_money_conserved,
        check_times,
        check_no_private_fields,
    }
)
"""Checks judged only after the checkpoint, whose findings the checkpoint carries: they
depend on the network reference's content alone."""


def run_pipeline(pull: Pull, checks: Sequence[Check] = PIPELINE) -> list[Finding]:
    """Every check in order; the findings of all."""
    return run_checks(pull, checks)[0]


def run_checks(pull: Pull, checks: Sequence[Check] = PIPELINE) -> tuple[list[Finding], Checkpoint | None]:
    """Every check in order: the findings of all, and the checkpoint to build on next time.

    First every copy is verified (signatures on ``pull.workers`` processes); the checks
    then read what each verified.

    The semantic checks judge only network entries after a valid checkpoint; that
    checkpoint's findings are carried over (in seq order, before the new ones). A check
    that raises is reported as ``audit.check_failed`` and the others still run; then no
    checkpoint is kept, so the next audit judges everything again.
    """
    failed = False
    _guarded(lambda: verify_copies(pull.copies, pull.config, pull.workers), None)
    done, point = _guarded(pull.checked_up_to, 0), pull.checkpoint
    carried = [f for f in point.findings if f.seq is not None and f.seq <= done] if point and done else []
    findings: list[Finding] = []
    semantic: list[Finding] = list(carried)
    for check in checks:
        try:
            found = list(check(pull))
        except Exception as exc:  # defence in depth: every check is meant to be total
            log.exception("audit check %s failed", getattr(check, "__name__", check))
            failed = True
            name = getattr(check, "__name__", repr(check))
            detail = f"{name} raised {type(exc).__name__}; its verdict is missing"
            found = [finding("*", None, CHECK_FAILED, detail)]
        findings += found
        if check in SEMANTIC:
            semantic += found
    findings = [*carried, *findings]
    checkpoint = None if failed else _guarded(lambda: pull.next_checkpoint(semantic), None)
    return findings, checkpoint


def _guarded(step: Callable[[], T], fallback: T) -> T:
    """``step()``, or ``fallback`` if it raises (the checks that need it report why)."""
    try:
        return step()
    except Exception:  # the reference could not be chosen: every check that needs it says so
        log.exception("audit step failed")
        return fallback


def findings_json(findings: Iterable[Finding]) -> list[dict[str, object]]:
    """Wire form."""
    return [f.as_json() for f in findings]
