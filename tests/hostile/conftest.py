"""The hostile-input tests use the service tests' in-process network fixtures."""

from __future__ import annotations

from tests.service.conftest import anyio_backend, harness

__all__ = ["anyio_backend", "harness"]
