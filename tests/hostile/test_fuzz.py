"""Schemathesis against every exported OpenAPI document, on a seeded network of six nodes.

For each role's document (``docs/openapi/<role>.json``): every operation gets a few
schema-valid and a few schema-violating requests, with valid credentials (ERP token,
or the RFC 9421 signature of the member entitled to the peer route); then the state
machine follows the document's links (create → read → act) on every node of the role.
No answer may be a 5xx or differ from the document (status, media type, body schema,
headers), and no refused request may change the node's database. The examples are
few and fixed (derandomized) so the run is the same every time; ``scripts/fuzz`` runs
the same checks with many more, random examples.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DatabaseFactory
from tests.hostile.fuzz_net import FuzzNetwork
from tests.hostile.fuzz_run import Tally, fuzz_links, fuzz_operations, load_schema

pytestmark = [pytest.mark.db]
NODES_OF = {
    "oem": ("oem-a", "oem-b"),
    "supplier": ("supplier-a", "supplier-b"),
    "pdu": ("pdu",),
    "auditor": ("auditor",),
}
EXAMPLES = 3
"""Positive and as many negative requests per operation."""
SCENARIOS = 6
"""Linked sequences per node, of at most :data:`STEPS` calls."""
STEPS = 6


@pytest.mark.parametrize("role", NODES_OF)
def test_every_operation_answers_as_documented_and_no_refused_request_writes(
    role: str, tmp_path: Path, database_url_factory: DatabaseFactory
) -> None:
    net = FuzzNetwork(tmp_path / "state", database_url_factory)
    tally = Tally()
    try:
        fuzz_operations(net, NODES_OF[role][0], EXAMPLES, tally=tally)
        for node_id in NODES_OF[role]:
            fuzz_links(net, node_id, SCENARIOS, steps=STEPS, tally=tally)
    finally:
        net.close()
    assert not tally.failures, "\n\n".join(tally.failures)
    documented = {result.ok().label for result in load_schema(role).get_all_operations()}
    assert tally.operations == documented  # every operation was reached
    assert tally.scenarios >= len(NODES_OF[role]) and tally.refused > 0
