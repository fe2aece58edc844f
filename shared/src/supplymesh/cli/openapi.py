"""Export the OpenAPI document of every service, for partners' ERP teams.

Each role's node is run as ``python -m supplymesh_<role> --openapi`` against a
throw-away network in a temporary directory (the documents do not depend on keys, URLs
or data; the library never imports a service) and its document written as
``<out>/<role>.json``. ``check`` compares instead of writing, so CI fails on a stale
export.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from supplymesh.cli.netgen import CONFIG_FILE, build_network, default_seats
from supplymesh.config import Role

ROLES = (Role.OEM, Role.SUPPLIER, Role.PDU, Role.AUDITOR)


def documents() -> dict[str, str]:
    """``{role: OpenAPI JSON text}`` for every role."""
    result: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        config = build_network(state, default_seats(), base_port=18900)
        for role in ROLES:
            member = config.by_role(role)[0]
            printed = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    f"supplymesh_{role}",
                    "--node-id",
                    member.id,
                    "--node-dir",
                    str(state / member.id),
                    "--network-config",
                    str(state / CONFIG_FILE),
                    "--openapi",
                ],
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            )
            spec: dict[str, Any] = json.loads(printed.stdout)
            result[str(role)] = json.dumps(spec, indent=2, sort_keys=True) + "\n"
    return result


def export(out: Path, *, check: bool) -> list[str]:
    """Write (or, with ``check``, compare) the documents; return the stale file names."""
    stale = []
    out.mkdir(parents=True, exist_ok=True)
    for role, text in documents().items():
        path = out / f"{role}.json"
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.write_text(text, encoding="utf-8")
    return stale
