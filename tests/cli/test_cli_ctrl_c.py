"""Ctrl-C in the commands that run a session: it cancels the session's coroutine,
so the session closes on the way out, on every Python version."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from vatel._cli._running import on_next_ctrl_c, run

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")


def ctrl_c_after(seconds: float) -> None:
    asyncio.get_running_loop().call_later(seconds, os.kill, os.getpid(), signal.SIGINT)


def test_ctrl_c_cancels_the_coroutine_then_raises_keyboard_interrupt() -> None:
    steps: list[str] = []

    async def session() -> str:
        ctrl_c_after(0.05)
        try:
            await asyncio.sleep(10)
        finally:
            steps.append("cleanup started")
            await asyncio.sleep(0.01)  # cleanup may still await: it is a cancellation
            steps.append("cleanup finished")
        return "never"

    with pytest.raises(KeyboardInterrupt):
        run(session())
    assert steps == ["cleanup started", "cleanup finished"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_coroutine_that_finishes_returns_its_value() -> None:
    async def session() -> int:
        await asyncio.sleep(0)
        return 42

    assert run(session()) == 42
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_cancellation_that_is_not_ctrl_c_stays_a_cancellation() -> None:
    async def session() -> None:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        await asyncio.sleep(1)

    with pytest.raises(asyncio.CancelledError):
        run(session())


def test_first_ctrl_c_can_stop_listening_and_the_second_quits() -> None:
    steps: list[str] = []

    async def session() -> None:
        on_next_ctrl_c(lambda: steps.append("stopped listening"))
        ctrl_c_after(0.05)
        await asyncio.sleep(0.2)
        steps.append("agent finished")
        ctrl_c_after(0.05)
        try:
            await asyncio.sleep(10)
        finally:
            steps.append("closed")

    with pytest.raises(KeyboardInterrupt):
        run(session())
    assert steps == ["stopped listening", "agent finished", "closed"]
