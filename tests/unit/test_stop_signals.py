"""A stop signal to `up` or `demo` only sets an event; handlers are put back, or ignored after a stop."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from supplymesh.cli.stop_signals import stop_signals


@pytest.fixture
def restored() -> Iterator[None]:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in before.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_sets_the_stop_and_later_ones_are_ignored(restored: None, signum: int) -> None:
    with stop_signals() as stop:
        assert not stop.is_set()
        os.kill(os.getpid(), signum)  # nothing is raised here, whatever code is running
        assert stop.wait(5)
        os.kill(os.getpid(), signal.SIGTERM)  # a second one: the stop stands, nothing else
        time.sleep(0.05)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    os.kill(os.getpid(), signal.SIGTERM)  # after the block: ignored until exit
    time.sleep(0.05)


def test_without_a_signal_the_handlers_are_put_back(restored: None) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with stop_signals() as stop:
        assert signal.getsignal(signal.SIGTERM) is not before[signal.SIGTERM]
    assert not stop.is_set()
    assert {s: signal.getsignal(s) for s in before} == before
