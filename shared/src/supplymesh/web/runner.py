"""Run one node process under uvicorn: ``python -m supplymesh_<role> [options]``.

Options override ``SUPPLYMESH_*`` environment variables (see
:class:`supplymesh.node.settings.NodeSettings`). The process exits with status 2 and a
one-line reason when the node cannot start (unknown member, wrong key, port taken).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from supplymesh.node.context import NodeStartupError
from supplymesh.node.keys import KeyFileError
from supplymesh.node.settings import NodeSettings


def parse_settings(argv: Sequence[str]) -> NodeSettings:
    """Settings from command-line options and the environment."""
    parser = argparse.ArgumentParser(description="Run a SupplyMesh node")
    parser.add_argument("--node-id")
    parser.add_argument("--node-dir")
    parser.add_argument("--network-config")
    parser.add_argument("--database-url")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--openapi", action="store_true", help="Print the OpenAPI document and exit")
    args = parser.parse_args(argv)
    given: dict[str, Any] = {k: v for k, v in vars(args).items() if v is not None and k != "openapi"}
    return NodeSettings(**given)


def run_node(create_app: Callable[[NodeSettings], FastAPI], argv: Sequence[str] | None = None) -> None:
    """Start the node and serve until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        settings = parse_settings(sys.argv[1:] if argv is None else argv)
        app = create_app(settings)
    except (ValidationError, NodeStartupError, KeyFileError) as exc:
        print(f"node cannot start: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    if "--openapi" in (sys.argv[1:] if argv is None else argv):
        print(json.dumps(app.openapi(), indent=2, sort_keys=True))
        return
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)
