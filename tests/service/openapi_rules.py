"""The project's rules for its OpenAPI documents, beyond what the OpenAPI linter checks.

Every operation of the API (``/v1/`` and ``/peer/v1/``) has an operationId, a summary, a
tag and at least one 4xx answer documented as problem+json with the Problem schema; every
ERP request body has examples; node-to-node routes are in the ``peer`` tag, ERP routes not.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

METHODS = ("get", "put", "post", "delete", "patch")
PROBLEM_REF = "#/components/schemas/Problem"

Operation = tuple[str, str, dict[str, Any]]


def operations(spec: dict[str, Any]) -> Iterator[Operation]:
    """``(path, method, operation)`` of every operation."""
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def erp_operations(spec: dict[str, Any]) -> list[Operation]:
    """The operations under ``/v1/``."""
    return [op for op in operations(spec) if op[0].startswith("/v1/")]


def peer_operations(spec: dict[str, Any]) -> list[Operation]:
    """The operations under ``/peer/v1/``."""
    return [op for op in operations(spec) if op[0].startswith("/peer/v1/")]


def lint(spec: dict[str, Any]) -> list[str]:
    """Each broken rule, as ``METHOD path: what``."""
    found: list[str] = []
    tags = {t["name"]: t.get("description", "") for t in spec.get("tags", [])}
    for path, method, operation in [*erp_operations(spec), *peer_operations(spec)]:
        where = f"{method.upper()} {path}"
        found += [f"{where}: {rule}" for rule in _broken(spec, path, operation, tags)]
    return found


def _broken(spec: dict[str, Any], path: str, operation: dict[str, Any], tags: dict[str, str]) -> list[str]:
    broken = []
    if not operation.get("operationId"):
        broken.append("no operationId")
    if not operation.get("summary"):
        broken.append("no summary")
    if not operation.get("tags"):
        broken.append("no tag")
    broken += [f"tag {t!r} is not described" for t in operation.get("tags", []) if not tags.get(t)]
    if not any(_is_problem(spec, s, r) for s, r in operation.get("responses", {}).items()):
        broken.append("no 4xx problem+json response with the Problem schema")
    peer = path.startswith("/peer/v1/")
    if peer and operation.get("tags") != ["peer"]:
        broken.append("a node-to-node route outside the peer tag")
    if not peer and "peer" in operation.get("tags", []):
        broken.append("an ERP route in the peer tag")
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if not peer and body is not None and not body.get("examples"):
        broken.append("no request example")
    return broken


def _is_problem(spec: dict[str, Any], status: str, response: dict[str, Any]) -> bool:
    if not status.startswith("4"):
        return False
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    media = response.get("content", {}).get("application/problem+json", {})
    return bool(media.get("schema", {}).get("$ref") == PROBLEM_REF)
