"""The problem+json body in the OpenAPI documents, and one documented response per status.

:mod:`supplymesh.web.problems` renders every error as an RFC 9457 problem: ``type``,
``title``, ``status``, ``detail``, the request path as ``instance``, and extension
members (``errors`` for a validation failure, ``peer`` for a peer that failed…).
:class:`Problem` is that body as an OpenAPI schema; :data:`PROBLEM_RESPONSES` describes,
per status, when a node answers it, with an example body.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from supplymesh.errors import PROBLEM_BASE

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_SCHEMA = "Problem"
PROBLEM_SCHEMA_REF = f"#/components/schemas/{PROBLEM_SCHEMA}"


class InvalidField(BaseModel):
    """One failed check of a request's fields."""

    loc: list[str | int] = Field(description="Where: `body`, `query`, `path` or `header`, then the field")
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem detail, as every node answers an error."""

    model_config = ConfigDict(extra="allow")  # extension members

    type: str = Field(
        description="Problem type URI (`https://supplymesh.dev/problems/<slug>`, or `about:blank`)"
    )
    title: str = Field(description="Short summary of the problem type")
    status: int = Field(ge=400, le=599, description="The HTTP status code")
    detail: str = Field(description="What went wrong with this request")
    instance: str | None = Field(default=None, description="The request path")
    errors: list[InvalidField] | None = Field(
        default=None, description="For 400 malformed JSON and 422 invalid requests: each failed check"
    )


def problem_schemas() -> dict[str, Any]:
    """``components.schemas`` entries of :class:`Problem` and what it refers to."""
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    defs: dict[str, Any] = schema.pop("$defs", {})
    return {**defs, PROBLEM_SCHEMA: schema}


def _example(status: int, slug: str, title: str, detail: str, **extra: object) -> dict[str, Any]:
    type_uri = "about:blank" if slug == "about:blank" else PROBLEM_BASE + slug
    body = {"type": type_uri, "title": title, "status": status, "detail": detail}
    return {**body, "instance": "/v1/demands", **extra}


_INVALID = [{"loc": ["body", "quantity"], "msg": "Input should be greater than 0", "type": "greater_than"}]
_MALFORMED = [{"loc": ["body", 12], "msg": "JSON decode error", "type": "json_invalid"}]

PROBLEM_RESPONSES: dict[int, tuple[str, str, dict[str, Any]]] = {
    400: (
        "BadRequest",
        "Malformed request: the body is not valid JSON, or input read past its end.",
        _example(
            400, "malformed-json", "Malformed JSON", "the request body is not valid JSON", errors=_MALFORMED
        ),
    ),
    401: (
        "Unauthenticated",
        "No credentials, or unknown ones: an ERP call without a known bearer token (with "
        "`WWW-Authenticate`), a peer call without a valid, fresh RFC 9421 signature by a member.",
        _example(401, "unauthenticated", "Authentication required", "unknown bearer token"),
    ),
    403: (
        "Forbidden",
        "Known caller, not allowed: an ERP client without the scope this route needs, or a "
        "member that may not make this call.",
        _example(403, "forbidden", "Forbidden", "ERP client 'erp-main' lacks the 'audit' scope"),
    ),
    404: (
        "NotFound",
        "No such resource here (an unknown id, ledger or channel).",
        _example(404, "not-found", "Not found", "no demand 'd-unknown'"),
    ),
    408: (
        "RequestTimeout",
        "The body did not arrive whole in time (`SUPPLYMESH_BODY_TIMEOUT_SECONDS`, 60 s by default); "
        "the connection is closed.",
        _example(408, "request-timeout", "Request timeout", "the request body did not arrive within 60 s"),
    ),
    409: (
        "Conflict",
        "The state does not allow this now, or a request with the same Idempotency-Key is still running.",
        _example(409, "conflict", "Conflict", "a request with this Idempotency-Key is still running"),
    ),
    413: (
        "PayloadTooLarge",
        "The body is over the node's limit (`SUPPLYMESH_MAX_BODY_BYTES`, 16 MiB by default).",
        _example(413, "payload-too-large", "Payload too large", "the request body is over 16777216 bytes"),
    ),
    415: (
        "UnsupportedMediaType",
        "The body is not sent as `application/json`.",
        _example(
            415, "unsupported-media-type", "Unsupported media type", "send the body as application/json"
        ),
    ),
    422: (
        "Unprocessable",
        "Well-formed but invalid: a field or parameter fails its rule, or an Idempotency-Key "
        "is reused with a different request.",
        _example(
            422,
            "validation",
            "Invalid request",
            "body.quantity: Input should be greater than 0",
            errors=_INVALID,
        ),
    ),
    500: (
        "InternalError",
        "The node failed to handle the request (details in its log, never in the answer).",
        _example(500, "internal", "Internal error", "the node failed to handle this request; see its log"),
    ),
    502: (
        "PeerError",
        "Another node this request needs (the PDU, a channel partner) failed or answered wrongly.",
        _example(502, "peer-error", "Peer error", "pdu failed: HTTP 500", peer="pdu"),
    ),
    503: (
        "Unavailable",
        "Unavailable for the moment; retry later. `database-unavailable`: this node's own "
        "database refuses writes or cannot be reached (a full disk, a dropped connection, a "
        "database server restarting); nothing of the request was stored, the node recovers by "
        "itself, and the answer carries `Retry-After`. `peer-unavailable`: another node this "
        "request needs did not answer in time.",
        _example(
            503,
            "database-unavailable",
            "Database unavailable",
            "this node's database is unavailable (disk full); retry later",
            reason="disk full",
        ),
    ),
}

MORE_EXAMPLES: dict[int, dict[str, dict[str, Any]]] = {
    503: {
        "peer-unavailable": _example(
            503, "peer-unavailable", "Peer unavailable", "pdu did not answer: ConnectError", peer="pdu"
        ),
    },
}
"""Further examples of a status whose problem has more than one type."""


def problem_responses() -> dict[str, Any]:
    """``components.responses``: one problem response per status of :data:`PROBLEM_RESPONSES`."""
    return {
        name: {"description": description, "content": {PROBLEM_MEDIA_TYPE: _media(status, example)}}
        for status, (name, description, example) in PROBLEM_RESPONSES.items()
    }


def _media(status: int, example: dict[str, Any]) -> dict[str, Any]:
    """The problem+json media of ``status``: one example, or each type's when it has several."""
    media: dict[str, Any] = {"schema": {"$ref": PROBLEM_SCHEMA_REF}}
    more = MORE_EXAMPLES.get(status)
    if not more:
        return {**media, "example": example}
    slug = str(example["type"]).removeprefix(PROBLEM_BASE)
    named = {slug: example, **more}
    return {
        **media,
        "examples": {name: {"summary": value["title"], "value": value} for name, value in named.items()},
    }


def problem_ref(status: int) -> dict[str, str]:
    """A reference to the documented problem response for ``status``."""
    return {"$ref": f"#/components/responses/{PROBLEM_RESPONSES[status][0]}"}
