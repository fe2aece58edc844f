"""Run one node process under uvicorn: ``python -m supplymesh_<role> [options]``.

Options override ``SUPPLYMESH_*`` environment variables (see
:class:`supplymesh.node.settings.NodeSettings`). The process exits with status 2 and a
one-line reason when the node cannot start (unknown member, wrong key, port taken).

Logs go to stderr, one line each. ``SUPPLYMESH_LOG_LEVEL`` (or ``--log-level``) sets the
level, INFO by default: the access log has one line per ERP call
(:mod:`supplymesh.web.access_log`), while peer requests, peer polling and health checks
are DEBUG. uvicorn's own access log is off, and the HTTP client libraries (httpx,
httpcore) speak only at WARNING unless the level is DEBUG.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from supplymesh.node.context import NodeStartupError
from supplymesh.node.keys import KeyFileError
from supplymesh.node.settings import NodeSettings

LOG_LEVEL_ENV = "SUPPLYMESH_LOG_LEVEL"


def parse_settings(argv: Sequence[str]) -> NodeSettings:
    """Settings from command-line options and the environment."""
    parser = argparse.ArgumentParser(description="Run a SupplyMesh node")
    parser.add_argument("--node-id")
    parser.add_argument("--node-dir")
    parser.add_argument("--network-config")
    parser.add_argument("--database-url")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--log-level", help="DEBUG, INFO (default), WARNING or ERROR")
    parser.add_argument("--openapi", action="store_true", help="Print the OpenAPI document and exit")
    args = parser.parse_args(argv)
    given: dict[str, Any] = {
        k: v for k, v in vars(args).items() if v is not None and k not in ("openapi", "log_level")
    }
    return NodeSettings(**given)


def configure_logging(argv: Sequence[str]) -> None:
    """Log lines to stderr at ``--log-level`` or ``SUPPLYMESH_LOG_LEVEL`` (INFO by default)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--log-level")
    known, _ = parser.parse_known_args(argv)
    name = (known.log_level or os.environ.get(LOG_LEVEL_ENV) or "INFO").upper()
    level = logging.getLevelName(name)
    if not isinstance(level, int):
        print(f"unknown log level {name!r}; using INFO", file=sys.stderr)
        level = logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s", force=True)
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.DEBUG if level <= logging.DEBUG else logging.WARNING)


def run_node(create_app: Callable[[NodeSettings], FastAPI], argv: Sequence[str] | None = None) -> None:
    """Start the node and serve until interrupted."""
    args = sys.argv[1:] if argv is None else argv
    configure_logging(args)
    try:
        settings = parse_settings(args)
        app = create_app(settings)
    except (ValidationError, NodeStartupError, KeyFileError) as exc:
        print(f"node cannot start: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    if "--openapi" in args:
        print(json.dumps(app.openapi(), indent=2, sort_keys=True))
        return
    logging.getLogger("supplymesh.node").info(
        "%s (%s) starting on %s:%d, version %s",
        settings.node_id,
        app.state.node.role,
        settings.host,
        settings.port,
        app.version,
    )
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level="warning", access_log=False
    )
    NodeServer(config, on_exit=app.state.node.peers.stopping).run()


class NodeServer(uvicorn.Server):
    """uvicorn's server, telling the node the moment a stop signal arrives.

    uvicorn drains open connections before the application's shutdown runs, and the
    node's background tasks keep calling peers meanwhile; ``on_exit`` lets them know
    that peers going quiet now are most likely stopping too.
    """

    def __init__(self, config: uvicorn.Config, *, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Note the stop, then let uvicorn handle the signal as usual."""
        self._on_exit()
        super().handle_exit(sig, frame)
