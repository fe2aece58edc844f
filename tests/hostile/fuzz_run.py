"""Schemathesis over a node's exported OpenAPI document: per operation, and along its links.

Each generated request goes through :class:`~tests.hostile.fuzz_net.FuzzNetwork` and its
answer must pass :data:`CHECKS`: no 5xx, a status the document lists for the operation,
the documented media type, a body and headers that match the documented schema; and a
refused request (>= 400) must leave the node's database as it was. Both positive
(schema-valid) and negative (schema-violating) inputs are generated.

:func:`fuzz_operations` tries every operation of the document on its own;
:func:`fuzz_links` runs Schemathesis's state machine, which follows the document's
OpenAPI links (create → read → act: a demand, its split, its escrow, a deposit). Both
collect failures as text instead of stopping at the first, so one run reports them all.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.errors
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.transport import Response
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.hostile.fuzz_net import FuzzNetwork, changed_tables

DOCS = Path(__file__).resolve().parents[2] / "docs" / "openapi"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


@dataclass
class Tally:
    """What a fuzzing run did and found."""

    requests: int = 0
    refused: int = 0
    scenarios: int = 0
    operations: set[str] = field(default_factory=set)
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


def load_schema(role: str) -> Any:
    """The exported OpenAPI document of ``role`` as a Schemathesis schema."""
    return schemathesis.openapi.from_dict(json.loads((DOCS / f"{role}.json").read_text(encoding="utf-8")))


def _settings(examples: int, randomize: bool, **extra: Any) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=not randomize,  # the test command's run is the same every time
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report, do not minimise
        suppress_health_check=list(HealthCheck),
        verbosity=hypothesis.Verbosity.quiet,  # failures are collected with their curl line
        **extra,
    )


def exercise(net: FuzzNetwork, node_id: str, case: Case[Any], tally: Tally) -> Response:
    """Send ``case`` to ``node_id``; fail if a refused request changed the node's database."""
    before = net.fingerprint(node_id)
    url = net.harness.config.member(node_id).url
    answer = net.send(node_id, case.as_transport_kwargs(base_url=url))
    tally.requests += 1
    tally.operations.add(case.operation.label)
    tally.answers[(case.operation.label, answer.status_code)] += 1
    if answer.status_code >= 400:
        tally.refused += 1
        changed = changed_tables(before, net.fingerprint(node_id))
        assert not changed, (
            f"{node_id} refused {case.operation.label} with {answer.status_code} but changed {changed}:"
            f" {answer.text[:300]}"
        )
    return Response.from_any(answer)


def _record(tally: Tally, label: str, exc: BaseException) -> None:
    tally.failures.append(f"{label}: {type(exc).__name__}: {str(exc)[:1500]}")


def fuzz_operations(
    net: FuzzNetwork, node_id: str, examples: int, *, randomize: bool = False, tally: Tally | None = None
) -> Tally:
    """Up to ``examples`` positive and as many negative requests per operation of the node's document."""
    tally = tally or Tally()
    schema = load_schema(net.role(node_id))
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in MODES:

            @_settings(examples, randomize)
            @hypothesis.given(case=operation.as_strategy(mode))
            def run(case: Case[Any]) -> None:
                response = exercise(net, node_id, case, tally)
                case.validate_response(response, checks=CHECKS)

            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                pass  # nothing to negate (an operation without parameters or body)
            except (Exception, BaseExceptionGroup) as exc:  # recorded; the next operation still runs
                _record(tally, f"{node_id} {operation.label} [{mode.value}]", exc)
    return tally


def _machine(net: FuzzNetwork, node_id: str, tally: Tally) -> type[Any]:
    """Schemathesis's state machine for the node's document, sending through ``net``."""
    base: type[Any] = load_schema(net.role(node_id)).as_state_machine()

    class Machine(base):  # type: ignore[misc]
        def setup(self) -> None:
            tally.scenarios += 1

        def call(self, case: Case[Any], **kwargs: Any) -> Response:
            return exercise(net, node_id, case, tally)

        def after_call(self, response: Response, case: Case[Any]) -> None:
            super().after_call(response, case)
            if case.method.upper() in ("POST", "PUT") and response.status_code < 300:
                net.settle()  # decide what the write asked for (a split), so its links lead on

        def validate_response(self, response: Response, case: Case[Any], *args: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, recorder=self.recorder)

    return Machine


def fuzz_links(
    net: FuzzNetwork,
    node_id: str,
    scenarios: int,
    *,
    steps: int = 6,
    randomize: bool = False,
    tally: Tally | None = None,
) -> Tally:
    """Up to ``scenarios`` sequences of at most ``steps`` linked calls against ``node_id``."""
    tally = tally or Tally()
    machine = _machine(net, node_id, tally)
    try:
        machine.run(settings=_settings(scenarios, randomize, stateful_step_count=steps))
    except (Exception, BaseExceptionGroup) as exc:
        _record(tally, f"{node_id} stateful", exc)
    return tally
