"""The node's uvicorn server tells the node when a stop signal arrives, then stops as uvicorn does."""

from __future__ import annotations

import signal

import uvicorn
from fastapi import FastAPI

from supplymesh.web.runner import NodeServer


def test_a_stop_signal_is_told_to_the_node_before_uvicorn_handles_it() -> None:
    told: list[bool] = []
    server = NodeServer(uvicorn.Config(FastAPI()), on_exit=lambda: told.append(True))
    assert not server.should_exit
    server.handle_exit(signal.SIGTERM, None)
    assert told == [True] and server.should_exit and not server.force_exit
    server.handle_exit(signal.SIGINT, None)
    assert told == [True, True] and server.force_exit
