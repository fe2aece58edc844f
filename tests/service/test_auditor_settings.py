"""The auditor's schedule comes from its settings (``SUPPLYMESH_AUDIT_*``), like every other setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from supplymesh.node.settings import NodeSettings
from supplymesh_auditor import schedule
from supplymesh_auditor.main import create_app
from tests.conftest import DatabaseFactory
from tests.harness import Harness

pytestmark = [pytest.mark.anyio, pytest.mark.db]


async def schedule_of(settings: NodeSettings) -> list[tuple[object, ...]]:
    """(interval, full_every) of every scheduled-audit job of an auditor app with ``settings``."""
    app = create_app(settings)
    try:
        jobs = [
            job for job in app.state.node.background if getattr(job, "func", None) is schedule.run_forever
        ]
        return [tuple(job.args[1:]) for job in jobs]
    finally:
        await app.state.node.aclose()


async def test_the_audit_schedule_follows_the_settings(
    tmp_path: Path, database_url_factory: DatabaseFactory
) -> None:
    base = Harness(tmp_path / "state", database_url_factory).settings("auditor")
    assert await schedule_of(base) == [(300.0, 12)]
    tuned = base.model_copy(update={"audit_interval_seconds": 60.0, "audit_full_every": 3})
    assert await schedule_of(tuned) == [(60.0, 3)]
    assert await schedule_of(base.model_copy(update={"audit_interval_seconds": 0.0})) == []


async def test_the_audit_schedule_reads_the_environment(
    tmp_path: Path, database_url_factory: DatabaseFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPLYMESH_AUDIT_INTERVAL_SECONDS", "0")
    settings = Harness(tmp_path / "state", database_url_factory).settings("auditor")
    assert settings.audit_interval_seconds == 0
    assert await schedule_of(settings) == []
