"""The tool runtime of ``run()``: calls cancelled by an interruption, repeated
``tool_call_id``s answered once, and the session's tool counters, against
scripted servers of the test's own, on both APIs."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

import vatel
from _flavours import ENDED, STARTED, Flavour, ScriptedServer, Session, message, peak_memory
from vatel._tools import ToolContext, current_tool_call

CANCELLED = {"error": "Tool 'lookup' was cancelled: the user interrupted."}


def run(session: Session, **options: Any) -> vatel.SessionReport:
    report: vatel.SessionReport = session._flavour._step(session.conn.run(**options))
    return report


def tool_call(call_id: str, name: str) -> str:
    return message("tool_call", toolCallId=call_id, toolName=name, arguments=[])


async def next_output(ws: ServerConnection, server: ScriptedServer) -> tuple[str, str]:
    """The next ``tool_call_output`` the client sends: ``(id, output)``."""
    while True:
        frame = await ws.recv()
        server.received.append(frame)
        sent = json.loads(frame)
        if sent["type"] == "tool_call_output":
            return sent["data"]["toolCallId"], sent["data"]["output"]


def outputs_of(server: ScriptedServer) -> list[tuple[str, str]]:
    return [
        (m["data"]["toolCallId"], m["data"]["output"])
        for m in server.received_messages()
        if m["type"] == "tool_call_output"
    ]


# -- cancellation ----------------------------------------------------------------------


@pytest.mark.timeout(20)
@pytest.mark.parametrize("handler", ["async", "sync"])
def test_an_interruption_cancels_the_tools_that_allow_it(flavour: Flavour, handler: str) -> None:
    started = {"lookup": threading.Event(), "steady": threading.Event()}
    interrupted = threading.Event()
    stopped = threading.Event()
    saw: list[object] = []
    tools = vatel.ToolRouter()

    if handler == "async":

        @tools.tool(cancel_on_interruption=True)
        async def lookup() -> str:
            started["lookup"].set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                saw.append("CancelledError")
                raise
            finally:
                stopped.set()
            return "too late"

    else:

        @tools.tool(cancel_on_interruption=True)
        def lookup() -> str:
            context = current_tool_call()  # no special parameter needed
            started["lookup"].set()
            saw.append(context.wait_cancelled(10))
            saw.append(context.call.tool_call_id)
            stopped.set()
            return "too late"

    @tools.tool()
    def steady() -> str:
        started["steady"].set()
        interrupted.wait(10)
        return "steady result"

    async def script(ws: ServerConnection, server: ScriptedServer) -> None:
        await ws.send(STARTED)
        await ws.send(tool_call("tc-cancel", "lookup"))
        await ws.send(tool_call("tc-keep", "steady"))
        for event in started.values():
            assert await asyncio.to_thread(event.wait, 5)
        await ws.send(message("interruption"))
        interrupted.set()
        answers = dict([await next_output(ws, server), await next_output(ws, server)])
        assert json.loads(answers["tc-cancel"]) == CANCELLED
        assert answers["tc-keep"] == "steady result", "a tool without the flag runs on"
        await ws.send(ENDED)
        await ws.close()

    with ScriptedServer(script) as server:
        report = run(flavour.connect(server.url()), tools=tools)
    assert stopped.wait(5), "the handler stopped"
    assert saw == (["CancelledError"] if handler == "async" else [True, "tc-cancel"])
    assert len(outputs_of(server)) == 2, "the cancelled call is answered once"
    stats = report.stats
    assert (stats.tool_calls, stats.tool_calls_answered, stats.tool_calls_cancelled) == (2, 1, 1)
    assert tools.stats.cancelled == 1 and tools.stats.started == 2


@pytest.mark.timeout(20)
def test_a_call_interrupted_before_it_started_never_runs(flavour: Flavour) -> None:
    release = threading.Event()
    ran: list[str] = []
    tools = vatel.ToolRouter()

    @tools.tool()
    def blocker() -> str:
        release.wait(10)
        return "unblocked"

    @tools.tool(cancel_on_interruption=True)
    def lookup() -> str:
        ran.append("lookup")
        return "ran"

    async def script(ws: ServerConnection, server: ScriptedServer) -> None:
        await ws.send(STARTED)
        await ws.send(tool_call("tc-block", "blocker"))
        await ws.send(tool_call("tc-queued", "lookup"))  # waits for the only worker
        await ws.send(message("interruption"))
        await ws.send(message("speech_started", emulated=False))  # seen after the interruption
        answers = dict([await next_output(ws, server), await next_output(ws, server)])
        assert json.loads(answers["tc-queued"]) == CANCELLED
        assert answers["tc-block"] == "unblocked"
        await ws.send(ENDED)
        await ws.close()

    def on_event(event: vatel.Event) -> None:
        if isinstance(event, vatel.SpeechStarted):
            release.set()

    options: dict[str, Any] = {"max_tool_threads": 1} if not flavour.is_async else {}
    with ScriptedServer(script) as server:
        session = flavour.connect(server.url())
        if flavour.is_async:
            # One task per call: hold the queued call back until the interruption by
            # making its router wait for the blocker's release first.
            report = run(session, tools=_after(release, tools), on_event=on_event)
        else:
            report = run(session, tools=tools, on_event=on_event, **options)
    assert ran == []
    assert report.stats.tool_calls_cancelled == 1


def _after(gate: threading.Event, inner: vatel.ToolRouter) -> vatel.ToolRouter:
    """A router that holds each call to ``lookup`` until ``gate`` opens."""

    class Gated(vatel.ToolRouter):
        async def acall(self, call: vatel.ToolCall) -> str:
            if call.tool_name == "lookup":
                await asyncio.to_thread(gate.wait, 10)
            return await inner.acall(call)

    return Gated()


def test_current_tool_call_outside_a_handler_says_so() -> None:
    with pytest.raises(RuntimeError, match="inside a tool handler"):
        current_tool_call()


def test_the_router_answers_a_cancelled_call_itself() -> None:
    tools = vatel.ToolRouter()
    seen: list[ToolContext] = []

    @tools.tool(cancel_on_interruption=True, timeout=None)
    def lookup() -> str:
        context = current_tool_call()
        seen.append(context)
        context.wait_cancelled(10)
        return "late"

    call = vatel.ToolCall("tc-9", "lookup")
    context = ToolContext(call)
    threading.Timer(0.05, context._interrupt).start()
    from vatel._tools import _current_context

    token = _current_context.set(context)
    try:
        output = tools.call(call)
    finally:
        _current_context.reset(token)
    assert json.loads(output) == CANCELLED
    assert seen == [context] and context.cancelled
    assert "cancelled=True" in repr(context)
    with pytest.raises(TypeError, match="cancel_on_interruption"):
        tools.add("other", lambda: 1, cancel_on_interruption="yes")  # type: ignore[arg-type]


# -- duplicate ids -----------------------------------------------------------------------


@pytest.mark.timeout(20)
def test_a_repeated_tool_call_id_is_run_once(
    flavour: Flavour, caplog: pytest.LogCaptureFixture
) -> None:
    started = threading.Event()
    release = threading.Event()
    runs: list[str] = []
    tools = vatel.ToolRouter()

    @tools.tool()
    def once() -> dict[str, int]:
        runs.append("once")
        started.set()
        release.wait(10)
        return {"answer": 42}

    async def script(ws: ServerConnection, server: ScriptedServer) -> None:
        await ws.send(STARTED)
        await ws.send(tool_call("tc-1", "once"))
        assert await asyncio.to_thread(started.wait, 5)
        await ws.send(tool_call("tc-1", "once"))  # while the first still runs
        await ws.send(message("speech_started", emulated=False))  # lets the tool finish
        first = await next_output(ws, server)
        await ws.send(tool_call("tc-1", "once"))  # after it was answered
        again = await next_output(ws, server)
        assert first == again == ("tc-1", '{"answer": 42}')
        await ws.send(ENDED)
        await ws.close()

    def on_event(event: vatel.Event) -> None:
        if isinstance(event, vatel.SpeechStarted):
            release.set()

    with caplog.at_level(logging.INFO, logger="vatel"), ScriptedServer(script) as server:
        report = run(flavour.connect(server.url()), tools=tools, on_event=on_event)
    assert runs == ["once"]
    assert outputs_of(server) == [("tc-1", '{"answer": 42}')] * 2
    stats = report.stats
    assert (stats.tool_calls, stats.tool_calls_duplicate, stats.tool_calls_answered) == (3, 2, 1)
    notes = [r.getMessage() for r in caplog.records if "already received" in r.getMessage()]
    assert len(notes) == 2 and all(
        r.levelno == logging.INFO for r in caplog.records if "already received" in r.getMessage()
    )
    assert "still to come" in notes[0] and "sent again" in notes[1]


@pytest.fixture
def quiet_frames() -> Iterator[None]:
    """No per-frame DEBUG records: the log capture would keep every frame alive
    and the test would measure it instead of the SDK."""
    loggers = [logging.getLogger(name) for name in ("websockets", "vatel.websocket")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.INFO)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@pytest.mark.timeout(60)
@pytest.mark.usefixtures("quiet_frames")
def test_the_memory_of_seen_ids_is_bounded(flavour: Flavour) -> None:
    calls = 1100
    long_id = "x" * 8000  # ids and outputs the server makes as big as it likes
    runs: list[int] = []
    tools = vatel.ToolRouter(timeout=None)

    @tools.tool()
    def echo() -> str:
        runs.append(1)
        return "y" * 8000

    def call_id(n: int) -> str:
        return f"{n}-{long_id}"

    async def script(ws: ServerConnection, server: ScriptedServer) -> None:
        await ws.send(STARTED)
        for n in range(calls):
            await ws.send(tool_call(call_id(n), "echo"))
            got, _ = await next_output(ws, server)
            assert got == call_id(n)
            server.received.clear()
        # The oldest id has been let go: the bound is the last 1024 ids.
        await ws.send(tool_call(call_id(0), "echo"))
        await next_output(ws, server)
        # The newest is still known; its output is kept (within the budget).
        await ws.send(tool_call(call_id(calls - 1), "echo"))
        got, output = await next_output(ws, server)
        assert (got, output) == (call_id(calls - 1), "y" * 8000)
        await ws.send(ENDED)
        await ws.close()

    with ScriptedServer(script) as server, peak_memory(6):
        session = flavour.connect(server.url())
        # The transcript keeps its own (bounded) record of these calls, up to
        # 1000 turns of 4000-character outputs; measured here is the runtime's.
        session.conn.transcript = vatel.Transcript(max_turns=1)
        report = run(session, tools=tools)
    assert len(runs) == calls + 1
    assert report.stats.tool_calls == calls + 2
    assert report.stats.tool_calls_duplicate == 1
