"""Crash points: an armed point kills the process with SIGKILL, only there; a misspelt one refuses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from supplymesh.node import crashpoints

SCRIPT = (
    "from supplymesh.node import crashpoints\n"
    "crashpoints.reached('erp.applied', 'demands')\n"
    "print('passed demands', flush=True)\n"
    "crashpoints.reached('erp.applied', 'deposit')\n"
    "print('passed deposit', flush=True)\n"
)


def run_armed(value: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, crashpoints.ENV_VAR: value}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_armed_point_and_kind_kill_the_process_with_sigkill_there_and_only_there() -> None:
    done = run_armed("erp.applied:deposit")
    assert done.returncode == -signal.SIGKILL
    assert done.stdout == "passed demands\n"
    assert "crash point erp.applied reached (deposit)" in done.stderr


def test_a_point_armed_without_a_kind_fires_at_its_first_reach() -> None:
    done = run_armed("erp.applied")
    assert done.returncode == -signal.SIGKILL and done.stdout == ""


def test_another_point_or_kind_lets_the_process_run() -> None:
    for value in ("erp.applied:accept", "pdu.block.saved", ""):
        done = run_armed(value)
        assert done.returncode == 0 and done.stdout == "passed demands\npassed deposit\n", value


def test_an_unknown_point_refuses_the_start_and_names_the_known_ones() -> None:
    done = run_armed("pdu.block.savd")
    assert done.returncode == 1
    assert "unknown crash point" in done.stderr and "pdu.block.saved" in done.stderr


def test_reaching_a_point_that_is_not_listed_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown crash point"):
        crashpoints.reached("no.such.point")
