"""OpenAPI examples and facts of the auditor node's ERP routes.

The report examples are those of the specification's network after scenarios 1 and 2
(§5, §6): every ledger verifies, and one where a holder's copy does not.
"""

from __future__ import annotations

from fastapi import FastAPI

from supplymesh.web.openapi_doc import Example, OperationDoc, Operations, document_service

FINDING = {
    "ledger": "channel:oem-a:supplier-b",
    "seq": 7,
    "rule": "countersignature",
    "detail": "supplier-b's copy: the entry's countersignature by oem-a does not verify",
}

OPERATIONS: Operations = {
    ("POST", "/v1/audits"): OperationDoc(
        request={
            "full": Example(summary="Fetch and verify every entry of every copy", value={"mode": "full"}),
            "incremental": Example(
                summary="Prove each head consistent with the last verified copy; fetch only what is new",
                value={"mode": "incremental"},
            ),
        },
        responses={
            200: {
                "clean": Example(
                    summary="After scenarios 1 and 2: nothing found (abridged)",
                    value={"ok": True, "findings": []},
                ),
                "finding": Example(
                    summary="A holder's copy that does not verify (abridged)",
                    value={"ok": False, "findings": [FINDING]},
                ),
            }
        },
    ),
    ("GET", "/v1/audits/latest"): OperationDoc(problems=frozenset({404})),
    ("GET", "/v1/epcis"): OperationDoc(problems=frozenset({404}), calls_peers=True),
}

TAGS = {
    "audits": "Audits of every ledger from every holder: hash chains, signatures, countersignatures, "
    "quorum certificates, replica agreement, re-executed decisions, money. Running one needs the "
    "`audit` scope, reading reports `read`.",
    "epcis": "The network's traceability events as a GS1 EPCIS 2.0 document.",
}


def document_api(app: FastAPI) -> None:
    """Add the auditor's examples and facts to the node's OpenAPI document."""
    document_service(app, OPERATIONS, TAGS)
