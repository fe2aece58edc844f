"""A stop signal to `up` or `demo` is taken once; later ones cannot kill the process."""

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


def wait_for_signal() -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        time.sleep(0.01)
    raise AssertionError("no signal arrived")


def stop_then_signal_again(signum: int) -> bool:
    """Inside :func:`stop_signals`: signal ``signum``, then twice more while stopping."""
    with stop_signals():
        try:
            os.kill(os.getpid(), signum)
            wait_for_signal()
        except KeyboardInterrupt:
            os.kill(os.getpid(), signal.SIGTERM)  # a second one while stopping: ignored
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            raise
    return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_is_taken_once_and_later_signals_are_ignored(restored: None, signum: int) -> None:
    with pytest.raises(SystemExit) as ended:
        stop_then_signal_again(signum)
    assert ended.value.code == 0
    os.kill(os.getpid(), signal.SIGTERM)  # and after the block, still ignored
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.05)


def test_without_a_signal_the_handlers_are_restored(restored: None) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with stop_signals():
        assert signal.getsignal(signal.SIGTERM) is not before[signal.SIGTERM]
    assert {s: signal.getsignal(s) for s in before} == before
