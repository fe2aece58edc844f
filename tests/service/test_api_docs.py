"""The partners' API docs: served offline, valid OpenAPI, and true to what every route answers."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate

from supplymesh.errors import PeerError
from supplymesh.node.erp_clients import CLIENTS_FILE, Scope, add_client
from tests.harness import Harness
from tests.service.openapi_rules import erp_operations, lint, operations, peer_operations
from tests.service.test_scenarios import setup_split

pytestmark = [pytest.mark.anyio, pytest.mark.db]
ROLE_NODES = ("oem-a", "supplier-a", "pdu", "auditor")
EXPORTED = Path(__file__).resolve().parents[2] / "docs" / "openapi"
SCOPES: tuple[Scope, ...] = ("read", "write", "audit")
PROBLEM = "application/problem+json"
LINKED = re.compile(r"""(?:src|href|spec-url)="([^"]+)"|url: '([^']+)'""")
UNKNOWN = "no-such-id"


def spec_of(harness: Harness, node_id: str) -> dict[str, Any]:
    spec: dict[str, Any] = harness.app(node_id).openapi()
    return spec


# --- the pages load everything from the node, without a token ------------------------------


@pytest.mark.parametrize("node_id", ROLE_NODES)
async def test_docs_and_redoc_load_every_asset_from_the_node_itself_without_a_token(
    harness: Harness, node_id: str
) -> None:
    client = harness.anonymous(node_id)
    for page in ("/docs", "/redoc"):
        html = await client.get(page)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        linked = [a or b for a, b in LINKED.findall(html.text)]
        assert linked, page
        assert all(url.startswith("/") and not url.startswith("//") for url in linked), linked
        for host in ("cdn.jsdelivr.net", "unpkg.com", "fonts.googleapis.com", "tiangolo.com", "swagger.io"):
            assert host not in html.text, (page, host)
        for url in linked:
            asset = await client.get(url)
            assert asset.status_code == 200 and len(asset.content) > 0, url
            assert b"cdn.redoc.ly" not in asset.content, url
    assert (await client.get("/openapi.json")).json()["openapi"].startswith("3.")


async def test_an_unknown_asset_is_a_404_and_assets_are_read_only(harness: Harness) -> None:
    client = harness.anonymous("oem-a")
    assert (await client.get("/docs/assets/nothing.js")).status_code == 404
    assert (await client.get("/docs/assets/../../pyproject.toml")).status_code == 404
    assert (await client.post("/docs/assets/redoc.standalone.js")).status_code == 405


# --- a real OpenAPI linter, then the project's own rules ------------------------------------


@pytest.mark.parametrize("role", ["oem", "supplier", "pdu", "auditor"])
def test_every_exported_document_passes_the_openapi_linter_and_the_project_rules(role: str) -> None:
    spec = json.loads((EXPORTED / f"{role}.json").read_text(encoding="utf-8"))
    validate(spec)
    assert lint(spec) == []


@pytest.mark.parametrize("node_id", ROLE_NODES)
async def test_every_served_document_passes_the_openapi_linter_and_the_project_rules(
    harness: Harness, node_id: str
) -> None:
    spec = spec_of(harness, node_id)
    validate(spec)
    assert lint(spec) == []


async def test_the_project_lint_names_each_broken_rule(harness: Harness) -> None:
    spec = copy.deepcopy(spec_of(harness, "oem-a"))
    demands = spec["paths"]["/v1/demands"]["post"]
    del demands["operationId"], demands["summary"]
    demands["tags"] = []
    del demands["requestBody"]["content"]["application/json"]["examples"]
    escrow = spec["paths"]["/v1/escrows/{escrow_id}"]["get"]
    escrow["responses"] = {"200": escrow["responses"]["200"], "404": {"description": "plain"}}
    spec["paths"]["/peer/v1/ledgers"]["get"]["tags"] = ["ledgers"]
    found = "\n".join(lint(spec))
    for rule in ("no operationId", "no summary", "no tag", "no request example", "no 4xx problem+json"):
        assert rule in found
    assert "POST /v1/demands" in found and "GET /v1/escrows/{escrow_id}" in found
    assert "GET /peer/v1/ledgers: a node-to-node route outside the peer tag" in found


async def test_erp_and_peer_routes_are_separate_described_sections(harness: Harness) -> None:
    spec = spec_of(harness, "supplier-a")
    groups = {g["name"]: g["tags"] for g in spec["x-tagGroups"]}
    assert groups["Node to node (internal)"] == ["peer"]
    assert "peer" not in groups["ERP API"] and {"dms", "orders", "ledgers"} <= set(groups["ERP API"])
    assert all(t["description"] for t in spec["tags"])
    for path, _method, operation in peer_operations(spec):
        assert operation["tags"] == ["peer"], path
        assert operation["description"].startswith("**Node to node — not for ERP systems.**")
        assert operation["security"] == [{"peerSignature": []}]
    assert all(op["tags"] != ["peer"] for _, _, op in erp_operations(spec))


@pytest.mark.parametrize("node_id", ROLE_NODES)
async def test_every_example_matches_its_schema(harness: Harness, node_id: str) -> None:
    spec = spec_of(harness, node_id)
    checked = 0
    for _path, _method, operation in operations(spec):
        bodies = [operation.get("requestBody", {}), *operation["responses"].values()]
        for body in bodies:
            for media in body.get("content", {}).values():
                for example in media.get("examples", {}).values():
                    validator = jsonschema.Draft202012Validator({**media["schema"], **_components(spec)})
                    validator.validate(example["value"])
                    checked += 1
    assert checked >= {"oem-a": 10, "supplier-a": 10, "pdu": 1, "auditor": 4}[node_id]


def test_the_problem_example_of_each_status_matches_the_problem_schema() -> None:
    from supplymesh.web.openapi_problem import PROBLEM_RESPONSES, problem_schemas

    validator = jsonschema.Draft202012Validator(
        {"$ref": "#/components/schemas/Problem", "components": {"schemas": problem_schemas()}}
    )
    for status, (_name, _description, example) in PROBLEM_RESPONSES.items():
        validator.validate(example)
        assert example["status"] == status
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"type": "about:blank", "title": "no status", "detail": "x"})


def _components(spec: dict[str, Any]) -> dict[str, Any]:
    return {"components": spec["components"]}


# --- every ERP route driven into its failures: each answer is documented ---------------------


@pytest.fixture
def scoped_tokens(harness: Harness) -> dict[str, dict[Scope, str]]:
    """For each node, a token holding only ``read``, only ``write``, only ``audit``."""
    return {
        node_id: {
            scope: add_client(harness.state_dir / node_id / CLIENTS_FILE, f"only-{scope}", (scope,))
            for scope in SCOPES
        }
        for node_id in ROLE_NODES
    }


async def test_every_erp_route_of_every_role_answers_only_documented_problems(
    harness: Harness, scoped_tokens: dict[str, dict[Scope, str]]
) -> None:
    undocumented: list[str] = []
    seen: dict[str, set[int]] = {}
    for node_id in ROLE_NODES:
        spec = spec_of(harness, node_id)
        problem = jsonschema.Draft202012Validator(
            {"$ref": "#/components/schemas/Problem", **_components(spec)}
        )
        for path, method, operation in erp_operations(spec):
            key = f"{node_id} {method.upper()} {path}"
            answers = await _drive(harness, node_id, scoped_tokens[node_id], path, method, operation)
            documented = {int(status) for status in operation["responses"]}
            for case, response in answers:
                seen.setdefault(key, set()).add(response.status_code)
                undocumented += _check(key, case, response, documented, problem)
    assert undocumented == [], "\n".join(undocumented)
    assert all({401, 403} <= statuses for statuses in seen.values()), seen
    assert {404} <= seen["oem-a GET /v1/demands/{demand_id}"] and {404} <= seen["supplier-a GET /v1/capacity"]
    assert {400, 413, 422} <= seen["oem-a POST /v1/demands"]
    assert len(seen) >= 35


def _check(
    key: str,
    case: str,
    response: httpx.Response,
    documented: set[int],
    problem: jsonschema.Draft202012Validator,
) -> list[str]:
    status = response.status_code
    if status not in documented:
        return [f"{key} ({case}): {status} is not documented ({sorted(documented)}): {response.text[:200]}"]
    if status >= 400:
        if response.headers.get("content-type") != PROBLEM:
            return [f"{key} ({case}): {status} is {response.headers.get('content-type')}, not {PROBLEM}"]
        errors = [e.message for e in problem.iter_errors(response.json())]
        return [f"{key} ({case}): {status} body does not match Problem: {errors}"] if errors else []
    return []


async def _drive(
    harness: Harness,
    node_id: str,
    tokens: dict[Scope, str],
    path: str,
    method: str,
    operation: dict[str, Any],
) -> list[tuple[str, httpx.Response]]:
    """No token, each single scope, an unknown id, bad parameters, bad bodies: every answer."""
    url = re.sub(r"\{[^}]+\}", UNKNOWN, path)
    has_body = "requestBody" in operation
    invalid: Any = [] if has_body else None
    quiet = {"timeout": 0} if _query(operation, "timeout") else {}
    answers = [
        ("no token", await harness.anonymous(node_id).request(method, url, params=quiet, json=invalid))
    ]
    for scope, token in tokens.items():
        client = harness.erp(node_id, token=token)
        answers.append((f"only {scope}", await client.request(method, url, params=quiet, json=invalid)))
    erp = harness.erp(node_id)
    if "{" in path:
        required = {
            p["name"]: 1 for p in operation.get("parameters", []) if p["in"] == "query" and p.get("required")
        }
        answers.append(
            ("unknown id", await erp.request(method, url, params=required, json=_example(operation)))
        )
    for name in _integer_queries(operation):
        answers.append((f"{name}=x", await erp.request(method, url, params={**quiet, name: "x"})))
    if has_body:
        limit: int = harness.app(node_id).state.node.settings.max_body_bytes
        json_type = {"content-type": "application/json"}
        answers += [
            ("malformed JSON", await erp.request(method, url, content=b'{"a":', headers=json_type)),
            ("wrong JSON type", await erp.request(method, url, json=[])),
            ("no content type", await erp.request(method, url, content=b"[]")),
            ("too large", await erp.request(method, url, content=b"x" * (limit + 1), headers=json_type)),
        ]
    return answers


def _example(operation: dict[str, Any]) -> Any:
    media = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    examples = list(media.get("examples", {}).values())
    return examples[0]["value"] if examples else None


def _query(operation: dict[str, Any], name: str) -> bool:
    return any(p["in"] == "query" and p["name"] == name for p in operation.get("parameters", []))


def _integer_queries(operation: dict[str, Any]) -> list[str]:
    found = []
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        types = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
        if parameter["in"] == "query" and types & {"integer", "number"}:
            found.append(parameter["name"])
    return found


# --- the node-to-node routes: unsigned, self-signed and malformed calls are documented -------


async def test_every_peer_route_of_every_role_answers_only_documented_problems(harness: Harness) -> None:
    undocumented: list[str] = []
    for node_id in ROLE_NODES:
        spec = spec_of(harness, node_id)
        problem = jsonschema.Draft202012Validator(
            {"$ref": "#/components/schemas/Problem", **_components(spec)}
        )
        other = harness.peer("pdu" if node_id == "auditor" else "auditor")
        for path, method, operation in peer_operations(spec):
            key = f"{node_id} {method.upper()} {path}"
            url = re.sub(r"\{[^}]+\}", UNKNOWN, path)
            documented = {int(status) for status in operation["responses"]}
            answers = [
                ("unsigned", await harness.anonymous(node_id).request(method, url)),
                ("signed by itself", await harness.peer(node_id).request(node_id, method, url)),
            ]
            if "requestBody" in operation:
                try:
                    answers.append(("malformed", await other.request(node_id, method, url, json=[])))
                except PeerError as exc:
                    undocumented.append(f"{key} (malformed): a server error {exc}")
            assert answers[0][1].status_code == 401 and answers[1][1].status_code == 403, key
            for case, response in answers:
                undocumented += _check(key, case, response, documented, problem)
    assert undocumented == [], "\n".join(undocumented)


async def test_a_route_whose_peer_does_not_answer_answers_a_documented_problem(harness: Harness) -> None:
    demand = await setup_split(harness)
    escrow = demand["allocations"][0]["escrow_id"]
    harness.down("pdu")
    spec = spec_of(harness, "oem-a")
    problem = jsonschema.Draft202012Validator({"$ref": "#/components/schemas/Problem", **_components(spec)})
    deposit = {"amount": 487500, "currency": "EUR", "payment_reference": "PAY-1"}
    answers = [
        (
            "POST",
            "/v1/escrows/{escrow_id}/deposit",
            await harness.erp("oem-a").post(f"/v1/escrows/{escrow}/deposit", json=deposit),
        ),
        ("GET", "/v1/offers", await harness.erp("oem-a").get("/v1/offers")),
    ]
    statuses = []
    for method, path, response in answers:
        documented = {int(s) for s in spec["paths"][path][method.lower()]["responses"]}
        assert _check(f"{method} {path}", "pdu down", response, documented, problem) == []
        statuses.append(response.status_code)
    assert statuses[0] in (502, 503), answers[0][2].text
