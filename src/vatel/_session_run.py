"""Running a whole voice session: receiving events and answering tool calls.

The loops behind :meth:`vatel.Connection.run` and
:meth:`vatel.AsyncConnection.run`, kept apart from the connections so the tool
runtime (workers, time-outs, bounds) lives in one place.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ._events import Event, ToolCall
from ._exceptions import ConnectionClosedError

if TYPE_CHECKING:
    from ._async_connection import AsyncConnection
    from ._connection import Connection
    from ._tools import ToolRouter

__all__ = ["run_async", "run_sync"]

log = logging.getLogger("vatel")


def run_sync(
    conn: Connection,
    tools: ToolRouter | None,
    on_event: Callable[[Event], object] | None,
    *,
    max_tool_threads: int,
) -> None:
    """The loop behind :meth:`vatel.Connection.run`."""
    pool: ThreadPoolExecutor | None = None
    try:
        for event in conn:
            if on_event is not None:
                on_event(event)
            if tools is not None and type(event) is ToolCall:
                if pool is None:
                    pool = ThreadPoolExecutor(max_tool_threads, "vatel-tool")
                pool.submit(_answer_sync, conn, tools, event)
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def _answer_sync(conn: Connection, tools: ToolRouter, call: ToolCall) -> None:
    output = tools.call(call)
    try:
        conn.send_tool_call_output(call.tool_call_id, output)
    except ConnectionClosedError:
        log.info("Tool %r finished after the session closed.", call.tool_name)
    except Exception:
        log.exception("Could not send the output of tool %r.", call.tool_name)


async def run_async(
    conn: AsyncConnection,
    tools: ToolRouter | None,
    on_event: Callable[[Event], object] | None,
) -> None:
    """The loop behind :meth:`vatel.AsyncConnection.run`."""
    running: set[asyncio.Task[None]] = set()
    try:
        async for event in conn:
            if on_event is not None:
                result = on_event(event)
                if inspect.isawaitable(result):
                    await result
            if tools is not None and type(event) is ToolCall:
                task = asyncio.create_task(_answer_async(conn, tools, event))
                running.add(task)
                task.add_done_callback(running.discard)
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


async def _answer_async(conn: AsyncConnection, tools: ToolRouter, call: ToolCall) -> None:
    output = await tools.acall(call)
    try:
        await conn.send_tool_call_output(call.tool_call_id, output)
    except ConnectionClosedError:
        log.info("Tool %r finished after the session closed.", call.tool_name)
    except Exception:
        log.exception("Could not send the output of tool %r.", call.tool_name)
