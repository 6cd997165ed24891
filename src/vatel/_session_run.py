"""Running a whole voice session: receiving events, answering tool calls, and
streaming input audio alongside.

The loops behind :meth:`vatel.Connection.run` and
:meth:`vatel.AsyncConnection.run`, kept apart from the connections so the tool
runtime (workers, time-outs, bounds, cancellation) lives in one place. The
input audio is sent by :mod:`vatel._duplex`; the per-session bookkeeping of tool
calls (duplicates, counters) is :class:`vatel._call_ledger.CallLedger`.

A session has at most ``max_pending_tool_calls`` tool calls in flight: counted
from receipt until the handler has really stopped (a timed-out sync handler
that keeps running keeps its place). A call over the bound is answered at once
with an error output, logged at WARNING and counted in ``tools.stats.rejected``;
so a server that sends calls faster than the tools answer them costs bounded
memory and threads.

An :class:`vatel.Interruption` cancels the calls in flight whose tool was
registered with ``cancel_on_interruption=True``: the agent is answered at once
with an error output saying so (it asked for the call, and an agent left
without an answer waits for one), async handlers are cancelled and sync ones
see :attr:`vatel.ToolContext.cancelled`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ._async_connection import AsyncConnection
from ._call_ledger import CallLedger
from ._connection import Connection
from ._constants import DEFAULT_MAX_PENDING_TOOL_CALLS
from ._duplex import Activity, AsyncSender, SyncSender, check_options
from ._events import Event, Interruption, ResponseAudio, ToolCall
from ._exceptions import ConnectionClosedError, SessionEndedError
from ._report import SessionReport
from ._tools import ToolContext, ToolRouter, _current_context, _current_lease, _InFlight, _Lease

__all__ = ["DEFAULT_MAX_PENDING_TOOL_CALLS", "run_async", "run_sync"]

log = logging.getLogger("vatel")

# The report's duration is read through this, so tests can give it a clock.
_clock: Callable[[], float] = time.monotonic

_Work = tuple[ToolCall, _Lease, ToolContext]


def _checked_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    return value


def _audio_bytes(event: ResponseAudio) -> int:
    """The PCM bytes in a chunk of the agent's audio, from its base64 length alone."""
    text = event.audio
    return max(len(text) * 3 // 4 - (text[-2:].count("=") if text else 0), 0)


class _Tally:
    """What run() itself saw go by, for the report."""

    def __init__(self) -> None:
        self.started = _clock()
        self.audio_received = 0


S = TypeVar("S", SyncSender, AsyncSender)


def _sender(
    make: type[S], conn: Any, audio: Any, pace: Any, linger: Any, ledger: CallLedger
) -> tuple[S | None, Activity | None]:
    """The sender of ``run(audio=...)`` (none without audio), and what tells it
    the session is still busy when it lingers."""
    if audio is None:
        if linger is not None:
            raise ValueError("linger applies to the input audio: give audio= too.")
        return None, None
    speed = check_options(audio, pace, linger)
    activity = None
    if linger is not None:
        # Busy while a call awaits its answer (not while a timed-out handler
        # runs on unheard: that one may never return).
        activity = Activity(busy=lambda: ledger.busy)
    return make(conn, audio, speed=speed, linger=linger, activity=activity), activity


def run_sync(
    conn: Connection,
    tools: ToolRouter | None,
    on_event: Callable[[Event], object] | None,
    *,
    audio: Any = None,
    pace: float | None = 1.0,
    linger: float | None = None,
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
    ledger = CallLedger(conn.stats)
    sender, activity = _sender(SyncSender, conn, audio, pace, linger, ledger)
    work: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
    ended = threading.Event()
    workers: list[threading.Thread] = []
    tally = _Tally()
    failure: BaseException | None = None
    receive_error: Exception | None = None
    try:
        if sender is not None:
            sender.start()
        for event in conn:
            kind = type(event)
            if activity is not None:
                activity.heard()
            if kind is ResponseAudio:
                tally.audio_received += _audio_bytes(event)  # type: ignore[arg-type]
            if on_event is not None:
                on_event(event)
            if kind is Interruption:
                ledger.interrupt()
                continue
            if kind is not ToolCall:
                continue
            call: ToolCall = event  # type: ignore[assignment]
            if tools is None:
                ledger.received()
                continue
            run, again = ledger.admit(call)
            if not run:
                if again is not None:
                    _send_sync(conn, call, again)
                continue
            lease = in_flight.admit()
            if lease is None:
                output = tools._refuse(call, in_flight.limit)
                ledger.rejected(call, output, sent=_send_sync(conn, call, output))
                continue
            work.put((call, lease, ledger.begin(call)))
            if len(workers) < max_tool_threads:
                worker = threading.Thread(
                    target=_work,
                    args=(conn, tools, work, ended, ledger),
                    name=f"vatel-tool-worker-{len(workers) + 1}",
                    daemon=True,  # a tool that never returns must not hold up exit
                )
                worker.start()
                workers.append(worker)
    except Exception as exc:
        receive_error = exc
    finally:
        ended.set()
        for _ in workers:
            work.put(None)
        if sender is not None:
            failure = sender.stop()
    if failure is not None:
        raise failure  # the session was closed with 1011 for it
    if receive_error is not None:
        raise receive_error
    return _report(conn, tally, sender.bytes_sent if sender is not None else 0)


def _work(
    conn: Connection,
    tools: ToolRouter,
    work: queue.SimpleQueue[_Work | None],
    ended: threading.Event,
    ledger: CallLedger,
) -> None:
    while True:
        item = work.get()
        if item is None:
            return
        call, lease, context = item
        output: str | None = None
        sent = False
        try:
            if ended.is_set():
                continue  # The session is over: the answer could not be delivered.
            lease_token = _current_lease.set(lease)
            context_token = _current_context.set(context)
            try:
                output = tools.call(call)
            finally:
                _current_context.reset(context_token)
                _current_lease.reset(lease_token)
            sent = _send_sync(conn, call, output)
        except Exception:
            log.exception("Tool %r could not be answered.", call.tool_name[:80])
        finally:
            ledger.settle(context, output, sent=sent)
            lease.release()


def _send_sync(conn: Connection, call: ToolCall, output: str) -> bool:
    try:
        conn.send_tool_call_output(call.tool_call_id, output)
        return True
    except (ConnectionClosedError, SessionEndedError):
        log.info("Tool %r finished after the session closed.", call.tool_name[:80])
    except Exception:
        log.exception("Could not send the output of tool %r.", call.tool_name[:80])
    return False


async def run_async(
    conn: AsyncConnection,
    tools: ToolRouter | None,
    on_event: Callable[[Event], object] | None,
    *,
    audio: Any = None,
    pace: float | None = 1.0,
    linger: float | None = None,
    max_pending_tool_calls: int = DEFAULT_MAX_PENDING_TOOL_CALLS,
) -> SessionReport:
    """The loop behind :meth:`vatel.AsyncConnection.run`.

    Each admitted call runs in a task; tasks still running when the session
    ends are cancelled (sync handlers' threads are left to finish unheard).
    """
    in_flight = _InFlight(_checked_count(max_pending_tool_calls, "max_pending_tool_calls"))
    ledger = CallLedger(conn.stats)
    sender, activity = _sender(AsyncSender, conn, audio, pace, linger, ledger)
    running: set[asyncio.Task[None]] = set()
    tally = _Tally()
    failure: BaseException | None = None
    receive_error: Exception | None = None
    try:
        if sender is not None:
            sender.start()
        async for event in conn:
            kind = type(event)
            if activity is not None:
                activity.heard()
            if kind is ResponseAudio:
                tally.audio_received += _audio_bytes(event)  # type: ignore[arg-type]
            if on_event is not None:
                result = on_event(event)
                if inspect.isawaitable(result):
                    await result
            if kind is Interruption:
                ledger.interrupt()
                continue
            if kind is not ToolCall:
                continue
            call: ToolCall = event  # type: ignore[assignment]
            if tools is None:
                ledger.received()
                continue
            run, again = ledger.admit(call)
            if not run:
                if again is not None:
                    await _send_async(conn, call, again)
                continue
            lease = in_flight.admit()
            if lease is None:
                output = tools._refuse(call, in_flight.limit)
                ledger.rejected(call, output, sent=await _send_async(conn, call, output))
                continue
            context = ledger.begin(call)
            task = asyncio.create_task(_answer_async(conn, tools, context, lease, ledger))
            running.add(task)
            task.add_done_callback(running.discard)
    except Exception as exc:
        receive_error = exc
    finally:
        if sender is not None:
            failure = await sender.stop()
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
    if failure is not None:
        raise failure  # the session was closed with 1011 for it
    if receive_error is not None:
        raise receive_error
    return _report(conn, tally, sender.bytes_sent if sender is not None else 0)


def _report(conn: Connection | AsyncConnection, tally: _Tally, audio_sent: int) -> SessionReport:
    return SessionReport(
        session_id=conn.session_id,
        transcript=conn.transcript,
        stats=conn.stats.copy(),
        close_code=conn.close_code,
        close_reason=conn.close_reason,
        duration=max(_clock() - tally.started, 0.0),
        audio_sent_bytes=audio_sent,
        audio_received_bytes=tally.audio_received,
    )


async def _answer_async(
    conn: AsyncConnection,
    tools: ToolRouter,
    context: ToolContext,
    lease: _Lease,
    ledger: CallLedger,
) -> None:
    # This task's own context: seen by the router's acall.
    _current_lease.set(lease)
    _current_context.set(context)
    call = context.call
    output: str | None = None
    sent = False
    try:
        output = await tools.acall(call)
        sent = await _send_async(conn, call, output)
    except Exception:
        log.exception("Tool %r could not be answered.", call.tool_name[:80])
    finally:
        ledger.settle(context, output, sent=sent)
        lease.release()


async def _send_async(conn: AsyncConnection, call: ToolCall, output: str) -> bool:
    try:
        await conn.send_tool_call_output(call.tool_call_id, output)
        return True
    except (ConnectionClosedError, SessionEndedError):
        log.info("Tool %r finished after the session closed.", call.tool_name[:80])
    except Exception:
        log.exception("Could not send the output of tool %r.", call.tool_name[:80])
    return False
