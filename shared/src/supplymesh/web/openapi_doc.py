"""Finish a node's OpenAPI document: every problem it can answer, examples, sections.

FastAPI documents a route's success answer and, for any input, a 422 with its own
validation schema. The nodes answer more, and always as problem+json
(:mod:`supplymesh.web.problems`). :func:`finish` rewrites the generated document in one
place, from facts about each operation:

* ``/v1/`` routes need an ERP bearer token, ``/peer/v1/`` routes an RFC 9421 signature:
  401 and 403;
* a path parameter names something that may not exist: 404;
* a parameter with a rule, a request body or an Idempotency-Key can fail validation: 422;
* a request body can be malformed (400), too slow (408), too large (413) or not JSON (415);
* an Idempotency-Key can meet a request still running: 409;
* an operation declared as calling another node: 502 and 503; any other status a
  service declares for an operation (a 404 with no path parameter, a 409 of state);
* every operation: 500;
* links from an answer to the operations it leads to (:mod:`supplymesh.web.openapi_links`).

Each is a reference to one problem response of :mod:`supplymesh.web.openapi_problem`.
Request and response examples, extra statuses and tag descriptions come from
:class:`OperationDoc` declarations: the library's own routes in
:mod:`supplymesh.web.openapi_examples`, each service's in its ``openapi_examples``
module, registered with :func:`document_service`. Tags are grouped into the ERP API and
the node-to-node API (``x-tagGroups``, shown as sections by ReDoc).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI

from supplymesh.web.openapi_examples import LIBRARY_OPERATIONS, LIBRARY_TAGS
from supplymesh.web.openapi_links import add_links
from supplymesh.web.openapi_ops import Example, OperationDoc, Operations
from supplymesh.web.openapi_problem import problem_ref, problem_responses, problem_schemas
from supplymesh.web.openapi_tags import PEER_SECURITY, finish_tags, mark_peer_operation

ERP_PREFIX = "/v1/"
PEER_PREFIX = "/peer/v1/"
IDEMPOTENCY_HEADER = "idempotency-key"
JSON = "application/json"
_PLAIN_SCHEMA_KEYS = {"type", "title", "description", "default"}
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")

__all__ = ["Example", "OperationDoc", "Operations", "document_service", "finish", "install_openapi_doc"]


_STATE_OPERATIONS = "openapi_operations"
_STATE_TAGS = "openapi_tags"


def document_service(app: FastAPI, operations: Operations, tags: Mapping[str, str]) -> None:
    """Register a service's operation docs and tag descriptions (before the document is served)."""
    getattr(app.state, _STATE_OPERATIONS).update(operations)
    getattr(app.state, _STATE_TAGS).update(tags)
    app.openapi_schema = None


def install_openapi_doc(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the finished document (computed once)."""
    setattr(app.state, _STATE_OPERATIONS, dict(LIBRARY_OPERATIONS))
    setattr(app.state, _STATE_TAGS, dict(LIBRARY_TAGS))
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            finish(schema, getattr(app.state, _STATE_OPERATIONS), getattr(app.state, _STATE_TAGS))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def finish(schema: dict[str, Any], operations: Operations, tags: Mapping[str, str]) -> None:
    """Rewrite ``schema`` in place (see the module docstring)."""
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {}).update(problem_schemas())
    components.setdefault("responses", {}).update(problem_responses())
    components.setdefault("securitySchemes", {}).update(PEER_SECURITY)
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            doc = operations.get((method.upper(), path), OperationDoc())
            _document_problems(path, operation, doc)
            _merge_examples(operation, doc)
            if path.startswith(PEER_PREFIX):
                mark_peer_operation(operation)
    _drop_unused_validation_schemas(schema)
    add_links(schema)
    finish_tags(schema, tags)


def problem_statuses(path: str, operation: Mapping[str, Any], doc: OperationDoc) -> set[int]:
    """Every problem status ``operation`` at ``path`` can answer."""
    statuses = {500, *doc.problems}
    if path.startswith((ERP_PREFIX, PEER_PREFIX)):
        statuses |= {401, 403, 503}  # 503: the node's own database, for the moment
    parameters: list[dict[str, Any]] = operation.get("parameters", [])
    if any(p["in"] == "path" for p in parameters):
        statuses.add(404)
    if any(_can_fail(p) for p in parameters):
        statuses.add(422)
    if "requestBody" in operation:
        statuses |= {400, 408, 413, 415, 422}
    if any(p["in"] == "header" and p["name"].lower() == IDEMPOTENCY_HEADER for p in parameters):
        statuses |= {409, 422}
    if doc.calls_peers:
        statuses |= {502, 503}
    return statuses


def _can_fail(parameter: Mapping[str, Any]) -> bool:
    """Whether a parameter's value can fail validation (required, typed or constrained)."""
    schema: Mapping[str, Any] = parameter.get("schema", {})
    return bool(parameter.get("required")) or not _plain_string(schema)


def _plain_string(schema: Mapping[str, Any]) -> bool:
    """A string (or null) schema without any rule: every value passes."""
    if "anyOf" in schema:
        return all(_plain_string(s) or s == {"type": "null"} for s in schema["anyOf"])
    return schema.get("type") == "string" and set(schema) <= _PLAIN_SCHEMA_KEYS


def _document_problems(path: str, operation: dict[str, Any], doc: OperationDoc) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if "HTTPValidationError" in str(responses.get("422")):
        del responses["422"]  # FastAPI's own body; replaced below where a 422 can happen
    for status in sorted(problem_statuses(path, operation, doc)):
        responses[str(status)] = problem_ref(status)


def _merge_examples(operation: dict[str, Any], doc: OperationDoc) -> None:
    if doc.request:
        content = operation["requestBody"]["content"][JSON]
        content["examples"] = _examples(doc.request)
    for status, examples in doc.responses.items():
        response = operation["responses"][str(status)]
        content = response.setdefault("content", {}).setdefault(JSON, {"schema": {}})
        content["examples"] = _examples(examples)


def _examples(examples: Mapping[str, Example]) -> dict[str, Any]:
    return {name: {"summary": e.summary, "value": e.value} for name, e in examples.items()}


def _drop_unused_validation_schemas(schema: dict[str, Any]) -> None:
    """Remove FastAPI's own 422 schemas: no response refers to them any more."""
    schemas: dict[str, Any] = schema["components"]["schemas"]
    for name in _FASTAPI_VALIDATION:
        schemas.pop(name, None)
