"""Running a whole voice session: receiving events and answering tool calls.

The loops behind :meth:`vatel.Connection.run` and
:meth:`vatel.AsyncConnection.run`, kept apart from the connections so the tool
runtime (workers, time-outs, bounds) lives in one place.

A session has at most ``max_pending_tool_calls`` tool calls in flight: counted
from receipt until the handler has really stopped (a timed-out sync handler
that keeps running keeps its place). A call over the bound is answered at once
with an error output, logged at WARNING and counted in ``tools.stats.rejected``;
so a server that sends calls faster than the tools answer them costs bounded
memory and threads.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import queue
import threading
from collections.abc import Callable

from ._async_connection import AsyncConnection
from ._connection import Connection
from ._constants import DEFAULT_MAX_PENDING_TOOL_CALLS
from ._events import Event, ToolCall
from ._exceptions import ConnectionClosedError, SessionEndedError
from ._report import SessionReport
from ._tools import ToolRouter, _current_lease, _InFlight, _Lease

__all__ = ["run_async", "run_sync"]

log = logging.getLogger("vatel")


def _checked_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    return value


def run_sync(
    conn: Connection,
    tools: ToolRouter | None,
    on_event: Callable[[Event], object] | None,
    *,
    max_tool_threads: int = 4,
    max_pending_tool_calls: int = DEFAULT_MAX_PENDING_TOOL_CALLS,
) -> SessionReport:
    """The loop behind :meth:`vatel.Connection.run`.

    Admitted calls wait in a queue for one of ``max_tool_threads`` daemon
    workers; when the session ends, calls not started yet are dropped and idle
    workers stop. Busy workers finish (or time out) their call unheard.
    """
    _checked_count(max_tool_threads, "max_tool_threads")
    in_flight = _InFlight(_checked_count(max_pending_tool_calls, "max_pending_tool_calls"))
    work: queue.SimpleQueue[tuple[ToolCall, _Lease] | None] = queue.SimpleQueue()
    ended = threading.Event()
    workers: list[threading.Thread] = []
    try:
        for event in conn:
            if on_event is not None:
                on_event(event)
            if tools is None or type(event) is not ToolCall:
                continue
            lease = in_flight.admit()
            if lease is None:
                _send_sync(conn, event, tools._refuse(event, in_flight.limit))
                continue
            work.put((event, lease))
            if len(workers) < max_tool_threads:
                worker = threading.Thread(
                    target=_work,
                    args=(conn, tools, work, ended),
                    name=f"vatel-tool-worker-{len(workers) + 1}",
                    daemon=True,  # a tool that never returns must not hold up exit
                )
                worker.start()
                workers.append(worker)
    finally:
        ended.set()
        for _ in workers:
            work.put(None)
    return _report(conn)


def _work(
    conn: Connection,
    tools: ToolRouter,
    work: queue.SimpleQueue[tuple[ToolCall, _Lease] | None],
    ended: threading.Event,
) -> None:
    while True:
        item = work.get()
        if item is None:
            return
        call, lease = item
        try:
            if ended.is_set():
                continue  # The session is over: the answer could not be delivered.
            token = _current_lease.set(lease)
            try:
                output = tools.call(call)
            finally:
                _current_lease.reset(token)
            _send_sync(conn, call, output)
        except Exception:
            log.exception("Tool %r could not be answered.", call.tool_name[:80])
        finally:
            lease.release()


def _send_sync(conn: Connection, call: ToolCall, output: str) -> None:
    try:
        conn.send_tool_call_output(call.tool_call_id, output)
    except (ConnectionClosedError, SessionEndedError):
        log.info("Tool %r finished after the session closed.", call.tool_name[:80])
    except Exception:
        log.exception("Could not send the output of tool %r.", call.tool_name[:80])


async def run_async(
    conn: AsyncConnection,
    tools: ToolRouter | None,
    on_event: Callable[[Event], object] | None,
    *,
    max_pending_tool_calls: int = DEFAULT_MAX_PENDING_TOOL_CALLS,
) -> SessionReport:
    """The loop behind :meth:`vatel.AsyncConnection.run`.

    Each admitted call runs in a task; tasks still running when the session
    ends are cancelled (sync handlers' threads are left to finish unheard).
    """
    in_flight = _InFlight(_checked_count(max_pending_tool_calls, "max_pending_tool_calls"))
    running: set[asyncio.Task[None]] = set()
    try:
        async for event in conn:
            if on_event is not None:
                result = on_event(event)
                if inspect.isawaitable(result):
                    await result
            if tools is None or type(event) is not ToolCall:
                continue
            lease = in_flight.admit()
            if lease is None:
                await _send_async(conn, event, tools._refuse(event, in_flight.limit))
                continue
            task = asyncio.create_task(_answer_async(conn, tools, event, lease))
            running.add(task)
            task.add_done_callback(running.discard)
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
    return _report(conn)


def _report(conn: Connection | AsyncConnection) -> SessionReport:
    return SessionReport(
        session_id=conn.session_id,
        transcript=conn.transcript,
        stats=conn.stats.copy(),
        close_code=conn.close_code,
        close_reason=conn.close_reason,
    )


async def _answer_async(
    conn: AsyncConnection, tools: ToolRouter, call: ToolCall, lease: _Lease
) -> None:
    _current_lease.set(lease)  # This task's own context: seen by the router's acall.
    try:
        output = await tools.acall(call)
        await _send_async(conn, call, output)
    except Exception:
        log.exception("Tool %r could not be answered.", call.tool_name[:80])
    finally:
        lease.release()


async def _send_async(conn: AsyncConnection, call: ToolCall, output: str) -> None:
    try:
        await conn.send_tool_call_output(call.tool_call_id, output)
    except (ConnectionClosedError, SessionEndedError):
        log.info("Tool %r finished after the session closed.", call.tool_name[:80])
    except Exception:
        log.exception("Could not send the output of tool %r.", call.tool_name[:80])
