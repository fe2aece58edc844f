"""A node whose own database fails: a full disk (SQLite), dropped and cut connections (PostgreSQL).

While it cannot write, the node answers 503 problem+json ``database-unavailable`` with
``Retry-After``, never a 500; reads that do not need a write still answer; ``/health``
says ``degraded``. Every write it acknowledged before, during or after the fault is kept
exactly once, and nothing it refused is half there. Once the database is back, the very
same process writes again and its outbox worker, left running throughout, delivers what
waited: no restart.

The faults are real: a tmpfs mounted for the node's SQLite file and filled to the last
byte; ``pg_terminate_backend`` on the node's PostgreSQL connections; a TCP proxy between
the node and PostgreSQL that is cut and restored (:mod:`tests.system.pgproxy`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import sqlite3
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy import exc as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from supplymesh.cli.scenarios import DEMAND_A, PROFILE_A, PROFILE_B
from supplymesh.config import channel_ledger
from supplymesh.errors import DatabaseUnavailable
from supplymesh.storage.faults import fault_reason
from tests.conftest import PG_URL, DatabaseFactory
from tests.harness import Harness
from tests.system.pgproxy import TcpProxy

pytestmark = pytest.mark.anyio
LEDGER = channel_ledger("oem-a", "supplier-a")
NODE = "supplier-a"
PROBLEM = "application/problem+json"
DISK_BYTES = 6 * 1024 * 1024
WAIT_SECONDS = 120.0
OEM_MESSAGE = {"kind": "message", "body": {"text": "from oem-a"}}


# --- a small filesystem of our own, filled to the last byte -----------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of ``DISK_BYTES`` mounted for the test (needs root), unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, f"mounting a small tmpfs needs root: {done.stderr.decode()}"
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(mount: Path) -> Path:
    """Fill ``mount`` until the filesystem refuses another byte; return the filler file."""
    filler = mount / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for size in (1 << 20, 1 << 12, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
        with pytest.raises(OSError, match="No space left") as refused:
            os.write(fd, b"\0")
        assert refused.value.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


@pytest.fixture
async def disk_harness(
    tmp_path: Path, small_disk: Path, database_url_factory: DatabaseFactory
) -> AsyncIterator[Harness]:
    """A network whose supplier-a keeps its SQLite database on the small disk."""

    def url(name: str) -> str:
        return f"sqlite:///{small_disk / 'node.db'}" if name == NODE else database_url_factory(name)

    net = Harness(tmp_path / "state", url)
    for node_id in (NODE, "oem-a", "oem-b", "pdu"):
        net.app(node_id)
    yield net
    await net.close()


# --- what an ERP client does: write channel messages, honour 503 + Retry-After ---------------


class Writer:
    """Writes numbered channel messages as supplier-a's ERP, each with its own Idempotency-Key."""

    def __init__(self, harness: Harness) -> None:
        self.client = harness.erp(NODE)
        self.acknowledged: list[str] = []
        self.refused: list[dict[str, Any]] = []
        self.count = 0

    async def send(self, text_: str) -> httpx.Response:
        """One attempt; a 2xx is recorded as acknowledged, a 503 must be the documented problem."""
        body = {"kind": "message", "body": {"text": text_}}
        answer = await self.client.post(
            f"/v1/channels/{LEDGER}/entries", json=body, headers={"Idempotency-Key": text_[:6]}
        )
        if answer.is_success:
            self.acknowledged.append(text_)
        else:
            self.refused.append(database_unavailable(answer))
        return answer

    def next_text(self) -> str:
        self.count += 1
        return f"m-{self.count:04d}-" + "x" * 1500  # large enough to fill pages quickly

    async def until_refused(self, limit: int = 400) -> str:
        """Write new messages until the node refuses one; return the refused message."""
        for _ in range(limit):
            message = self.next_text()
            if not (await self.send(message)).is_success:
                return message
        raise AssertionError(f"{limit} writes acknowledged on a full disk")

    async def until_acknowledged(self, message: str) -> None:
        """Retry ``message`` (same key) until acknowledged; every refusal must be a 503 problem."""
        deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
        while not (await self.send(message)).is_success:
            assert asyncio.get_running_loop().time() < deadline, self.refused[-1]
            await asyncio.sleep(0.2)


def database_unavailable(answer: httpx.Response) -> dict[str, Any]:
    """Assert the documented 503 of an unavailable database and return its problem."""
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert int(answer.headers["retry-after"]) > 0
    problem: dict[str, Any] = answer.json()
    assert problem["type"] == "https://supplymesh.dev/problems/database-unavailable", problem
    assert problem["instance"] == f"/v1/channels/{LEDGER}/entries"
    return problem


def assert_documented(harness: Harness, problem: dict[str, Any]) -> None:
    """The operation's OpenAPI document names this 503, and the body matches its Problem schema."""
    spec = harness.app(NODE).openapi()
    response = spec["paths"]["/v1/channels/{ledger}/entries"]["post"]["responses"]["503"]
    documented = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    examples = documented["content"][PROBLEM]["examples"]
    assert examples["database-unavailable"]["value"]["type"] == problem["type"]
    schema = {"$ref": "#/components/schemas/Problem", "components": spec["components"]}
    jsonschema.Draft202012Validator(schema).validate(problem)


async def stored_messages(harness: Harness, node_id: str) -> list[str]:
    """The channel's message texts as ``node_id`` holds them, in ledger order."""
    answer = await harness.erp(node_id).get(f"/v1/channels/{LEDGER}/entries", params={"limit": 1000})
    assert answer.status_code == 200, answer.text
    return [e["body"]["text"] for e in answer.json() if e["kind"] == "message"]


async def health(harness: Harness) -> dict[str, Any]:
    answer = await harness.anonymous(NODE).get("/health")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


@contextlib.asynccontextmanager
async def outbox_running(harness: Harness, *others: str) -> AsyncIterator[asyncio.Task[None]]:
    """supplier-a's outbox worker (and those of ``others``), running by themselves as in node processes."""
    tasks = []
    for node_id in (NODE, *others):
        worker = harness.node(node_id).outbox
        assert worker is not None
        worker.poll = 0.1
        tasks.append(asyncio.create_task(worker.run_forever()))
    try:
        yield tasks[0]
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def holds(messages: list[str], acknowledged: list[str], extra: tuple[str, ...] = ()) -> bool:
    """``messages`` are the acknowledged ones in order, once each, plus each of ``extra`` once."""
    ours = [m for m in messages if m not in extra]
    return ours == acknowledged and sorted(m for m in messages if m in extra) == sorted(extra)


async def converged(
    harness: Harness, writer: Writer, task: asyncio.Task[None], extra: tuple[str, ...] = ()
) -> None:
    """Wait until the running worker delivered everything and the OEM's copy holds every message."""
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while not holds(await stored_messages(harness, "oem-a"), writer.acknowledged, extra):
        assert not task.done(), "the outbox worker stopped"
        assert asyncio.get_running_loop().time() < deadline, "the OEM's copy did not converge"
        await asyncio.sleep(0.2)
    assert holds(await stored_messages(harness, NODE), writer.acknowledged, extra)


# --- which errors are faults of the moment -----------------------------------------------------


def test_only_faults_of_the_moment_become_503_and_bugs_stay_500() -> None:
    full = sa.OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full"))
    locked = sqlite3.OperationalError("database is locked")
    missing = sa.OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: orders"))
    duplicate = sa.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed"))
    assert (fault_reason(full), fault_reason(locked)) == ("disk full", "database locked")
    assert fault_reason(sa.TimeoutError("QueuePool limit reached")) == "no database connection free"
    assert fault_reason(missing) is None and fault_reason(duplicate) is None
    assert fault_reason(ValueError("not a database error")) is None


# --- SQLite on a full filesystem -------------------------------------------------------------


async def test_a_full_disk_answers_503_keeps_every_acknowledged_write_and_recovers_without_restart(
    disk_harness: Harness, small_disk: Path
) -> None:
    harness = disk_harness
    writer = Writer(harness)
    async with outbox_running(harness, "oem-a") as task:
        for _ in range(3):
            assert (await writer.send(writer.next_text())).status_code == 201
        filler = fill(small_disk)
        refused = await writer.until_refused()
        assert writer.refused[0]["reason"] == "disk full"
        # Reads need no write: they still answer, and /health tells the operator.
        assert await stored_messages(harness, NODE) == writer.acknowledged
        assert_documented(harness, writer.refused[0])
        during = await health(harness)
        assert (during["status"], during["database"]["ok"], during["database"]["last_error"]) == (
            "degraded",
            False,
            "disk full",
        )
        for _ in range(3):  # refused again and again, never a 500, nothing half-written
            assert (await writer.send(refused)).status_code == 503
        assert await stored_messages(harness, NODE) == writer.acknowledged
        assert not task.done(), "the outbox worker died with the disk"
        queued = await harness.erp("oem-a").post(f"/v1/channels/{LEDGER}/entries", json=OEM_MESSAGE)
        assert queued.status_code == 202, queued.text  # supplier-a answered 503: queued, not failed

        filler.unlink()  # space again: the same process writes again by itself
        await writer.until_acknowledged(refused)
        for _ in range(3):
            assert (await writer.send(writer.next_text())).status_code == 201
        stored = await stored_messages(harness, NODE)  # the OEM's queued message may be there already
        assert holds(stored, writer.acknowledged, ("from oem-a",)) or holds(stored, writer.acknowledged)
        assert (await health(harness))["status"] == "ok"
        await converged(harness, writer, task, extra=("from oem-a",))
    assert len(writer.acknowledged) == len(set(writer.acknowledged)) >= 7


# --- PostgreSQL: connections terminated mid-flow, a server that goes away and comes back ------


def pg_node_url(url: str, *, app: str, port: int | None = None) -> str:
    """``url`` with an application name to find the node's connections by, through ``port`` if given."""
    parsed = make_url(url).update_query_dict({"application_name": app})
    if port is not None:
        parsed = parsed.set(host="127.0.0.1", port=port)
    return parsed.render_as_string(hide_password=False)


@pytest.fixture
async def pg_harness(
    tmp_path: Path, database_url_factory: DatabaseFactory
) -> AsyncIterator[tuple[Harness, str, TcpProxy]]:
    """supplier-a and the PDU on PostgreSQL through a proxy of the test's own, under an application name."""
    app = f"sm_fault_{uuid.uuid4().hex[:10]}"
    target = make_url(PG_URL)
    with TcpProxy((target.host or "127.0.0.1", target.port or 5432)) as proxy:

        def url(name: str) -> str:
            made = database_url_factory(name)
            return pg_node_url(made, app=app, port=proxy.port) if name in (NODE, "pdu") else made

        net = Harness(tmp_path / "state", url)
        for node_id in (NODE, "oem-a", "oem-b", "pdu"):
            net.app(node_id)
        yield net, app, proxy
        await net.close()


class Terminator:
    """Terminates the node's PostgreSQL connections (``pg_terminate_backend``) from the test."""

    def __init__(self, app: str) -> None:
        self.app = app
        self.admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self.killed = 0
        self.countdown = 0

    def __call__(self) -> int:
        """Terminate every connection of the node now; how many there were."""
        with self.admin.connect() as conn:
            found = conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :app"),
                {"app": self.app},
            ).all()
        self.killed += len(found)
        return len(found)

    def watch(self, engine: Engine) -> None:
        """Let :meth:`arm` terminate ``engine``'s connections from within its transactions."""
        event.listen(engine, "before_cursor_execute", self._step)
        event.listen(engine, "commit", self._step)

    def arm(self, at: int) -> None:
        """Terminate the node's connections just before its ``at``-th next statement or commit, once."""
        self.countdown = at

    def _step(self, *_args: Any) -> None:
        self.countdown -= 1
        if self.countdown == 0:
            self()


@pytest.mark.pg
async def test_connections_terminated_mid_flow_lose_no_acknowledged_write_and_never_answer_500(
    pg_harness: tuple[Harness, str, TcpProxy],
) -> None:
    harness, app, _proxy = pg_harness
    writer = Writer(harness)
    terminate = Terminator(app)
    async with outbox_running(harness) as task:
        for _ in range(3):
            assert (await writer.send(writer.next_text())).status_code == 201
        assert terminate() >= 1  # the node's pooled connections, dropped between requests
        assert (await writer.send(writer.next_text())).status_code == 201  # pre-ping: a fresh one
        terminate.watch(harness.node(NODE).engine)
        for i in range(24):  # mid-flow: each write is acknowledged (2xx) or refused (503), then retried
            message = writer.next_text()
            terminate.arm(at=1 + i % 12)
            if not (await writer.send(message)).is_success:
                await writer.until_acknowledged(message)
        assert terminate.killed >= 24
        assert writer.refused, "no termination landed inside a transaction"
        assert await stored_messages(harness, NODE) == writer.acknowledged
        await converged(harness, writer, task)
    assert len(writer.acknowledged) == len(set(writer.acknowledged)) == 28


@pytest.mark.pg
async def test_a_database_server_that_goes_away_answers_503_and_is_used_again_when_back(
    pg_harness: tuple[Harness, str, TcpProxy],
) -> None:
    harness, _app, proxy = pg_harness
    writer = Writer(harness)
    async with outbox_running(harness) as task:
        for _ in range(3):
            assert (await writer.send(writer.next_text())).status_code == 201
        proxy.cut()  # as while the server restarts: open connections drop, new ones are refused
        refused = writer.next_text()
        for _ in range(3):
            assert (await writer.send(refused)).status_code == 503
        read = await harness.erp(NODE).get(f"/v1/channels/{LEDGER}/entries")
        assert read.status_code == 503 and read.headers["content-type"] == PROBLEM
        during = await health(harness)
        assert (during["status"], during["ledgers"], during["outbox"]["pending"]) == ("degraded", {}, None)
        assert not task.done(), "the outbox worker died with the server"

        proxy.restore()
        await writer.until_acknowledged(refused)
        assert (await writer.send(writer.next_text())).status_code == 201
        assert await stored_messages(harness, NODE) == writer.acknowledged
        assert (await health(harness))["status"] == "ok"
        await converged(harness, writer, task)
    assert writer.acknowledged[3] == refused and len(writer.acknowledged) == 5


class CutAtCommit:
    """Cuts the proxy just before the commit of the next transaction that appends to a ledger."""

    def __init__(self, engine: Engine, proxy: TcpProxy) -> None:
        self.proxy = proxy
        self.armed = False
        self.appending = False
        self.cuts = 0
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.appending = self.appending or (self.armed and statement.startswith("INSERT INTO ledger_entries"))

    def _commit(self, _conn: Any) -> None:
        if self.appending:
            self.armed = self.appending = False
            self.cuts += 1
            self.proxy.cut()


@pytest.mark.pg
async def test_a_network_append_cut_at_its_commit_leaves_no_half_state_and_the_demand_is_decided_later(
    pg_harness: tuple[Harness, str, TcpProxy],
) -> None:
    harness, _app, proxy = pg_harness
    for supplier, profile in (("supplier-a", PROFILE_A), ("supplier-b", PROFILE_B)):
        assert (await harness.erp(supplier).put("/v1/dms/profile", json=profile)).status_code == 200
    created = await harness.erp("oem-a").post("/v1/demands", json=DEMAND_A)
    assert created.status_code == 202, created.text  # queued at the OEM for the PDU
    replica = harness.app("pdu").state.replica
    before = replica.state.size
    cut = CutAtCommit(harness.node("pdu").engine, proxy)
    cut.armed = True
    oem = harness.node("oem-a").outbox
    assert oem is not None
    await oem.run_once()  # the OEM submits: the PDU appends the demand, its commit never reaches the server
    assert cut.cuts == 1
    assert oem.pending() == 1  # refused, kept for a retry
    with pytest.raises(DatabaseUnavailable):
        replica.state  # noqa: B018 - unknown until the database answers: never the half-applied fold

    proxy.restore()
    assert replica.state.size == before  # rebuilt from what the database holds: the demand is not there
    await harness.settle()  # the OEM's outbox submits again; the PDU appends and decides
    demand = (await harness.erp("oem-a").get(f"/v1/demands/{created.json()['id']}")).json()
    assert demand["status"] == "partially_allocated" and demand["allocations"], demand
    head = harness.node("pdu").store.head("network")
    assert head is not None and replica.state.size == head.size > before
