"""Running a command's coroutine so that Ctrl-C cancels it cleanly.

Python 3.11+ turns the first Ctrl-C during ``asyncio.run`` into a cancellation
of the main task. Python 3.10 raises ``KeyboardInterrupt`` wherever the event
loop happens to be, possibly inside a connection's frame parser, which leaves
the connection broken and the program waiting on it. Handling SIGINT in the
loop gives every version the cancellation, so sessions close on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

_interrupt: ContextVar[Callable[[], None] | None] = ContextVar("_interrupt", default=None)


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``; Ctrl-C cancels ``main``, then raises ``KeyboardInterrupt``."""
    interrupted: list[bool] = []
    try:
        return asyncio.run(_cancel_on_ctrl_c(main, interrupted))
    except asyncio.CancelledError:
        if interrupted:
            raise KeyboardInterrupt from None
        raise


def on_next_ctrl_c(callback: Callable[[], None]) -> None:
    """Call ``callback`` on the next Ctrl-C instead of cancelling; later ones cancel again."""
    loop = asyncio.get_running_loop()
    interrupt = _interrupt.get()

    def once() -> None:
        if interrupt is not None:
            _handle_sigint(loop, interrupt)
        else:
            loop.remove_signal_handler(signal.SIGINT)
        callback()

    _handle_sigint(loop, once)


async def _cancel_on_ctrl_c(main: Coroutine[Any, Any, T], interrupted: list[bool]) -> T:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None

    def interrupt() -> None:
        interrupted.append(True)
        task.cancel()

    token = _interrupt.set(interrupt)
    installed = _handle_sigint(loop, interrupt)
    try:
        return await main
    finally:
        _interrupt.reset(token)
        if installed:
            loop.remove_signal_handler(signal.SIGINT)


def _handle_sigint(loop: asyncio.AbstractEventLoop, handler: Callable[[], None]) -> bool:
    # Not available everywhere (Windows, or outside the main thread): Ctrl-C then
    # keeps Python's own behaviour.
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGINT, handler)
        return True
    return False
