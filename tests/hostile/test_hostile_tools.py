"""The tool runtime against a misbehaving agent: a flood of tool calls, tools that
overstay their time-out, and tools that never return at all."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostile_tools_support import HostileToolServer, Peer, errors_of, traced_peak

import vatel
from vatel._session_run import DEFAULT_MAX_PENDING_TOOL_CALLS, run_async, run_sync

pytestmark = pytest.mark.anyio

FLAVOURS = ["sync", "async"]
BUSY = "too many tool calls in flight"


def big_arguments(count: int = 20, size: int = 5000) -> list[dict[str, Any]]:
    return [{"name": f"a{i}", "value": "x" * size, "dataType": "string"} for i in range(count)]


async def run_session(flavour: str, url: str, tools: vatel.ToolRouter, **run_options: int) -> None:
    """One whole session over ``conn.run`` (or the run loop with ``run_options``)."""
    if flavour == "sync":

        def session() -> None:
            with vatel.connect(url) as conn:
                if run_options:
                    run_sync(conn, tools, None, **run_options)
                else:
                    conn.run(tools=tools)

        # The sync API blocks: run it off this test's event loop, as an app would.
        await asyncio.to_thread(session)
    else:
        async with vatel.connect_async(url) as conn:
            if run_options:
                await run_async(conn, tools, None, **run_options)
            else:
                await conn.run(tools=tools)


@pytest.fixture
def quiet_frames() -> Iterator[None]:
    """No per-frame DEBUG records: captured, each would keep its 100 kB frame alive
    and the test would measure the log capture instead of the SDK."""
    loggers = [logging.getLogger(name) for name in ("websockets", "vatel.websocket")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.INFO)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.usefixtures("quiet_frames")
async def test_a_flood_of_tool_calls_is_bounded_and_the_rest_refused(flavour: str) -> None:
    """500 calls with big arguments at tools that block: at most the bound are held;
    every call over it is answered at once with an error, and counted."""
    calls, limit = 500, DEFAULT_MAX_PENDING_TOOL_CALLS
    release = threading.Event()
    tools = vatel.ToolRouter()

    @tools.tool
    def block(**kwargs: Any) -> str:
        release.wait(30)
        return f"done with {len(kwargs)}"

    arguments = big_arguments()

    async def flood(peer: Peer) -> None:
        await peer.start()
        for i in range(calls):
            await peer.tool_call(f"c{i}", "block", arguments)
        refused = await peer.wait_outputs(calls - limit)  # while every admitted tool blocks
        release.set()
        await peer.wait_outputs(calls)
        assert len(errors_of(refused)) == calls - limit
        await peer.end()

    with HostileToolServer(flood) as server, traced_peak() as memory:
        await run_session(flavour, server.url, tools)
    assert not server.errors
    outputs = {o["toolCallId"]: o["output"] for o in server.outputs}
    assert len(server.outputs) == len(outputs) == calls, "each call answered exactly once"
    answered = {i for i in range(calls) if outputs[f"c{i}"] == "done with 20"}
    assert answered == set(range(limit)), "the first calls up to the bound ran"
    refused = [json.loads(outputs[f"c{i}"])["error"] for i in range(limit, calls)]
    assert all(BUSY in text for text in refused)
    assert tools.stats.rejected == calls - limit and tools.stats.started == limit
    # Unbounded, the 500 calls' arguments alone are some 60 MiB of Python objects.
    assert memory.growth_mib < 20, f"{memory.growth_mib:.1f} MiB held for the flood"


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("flavour", "kind", "where"),
    [
        ("sync", "sync", "router"),
        ("sync", "async", "tool"),
        ("async", "sync", "tool"),
        ("async", "async", "router"),
    ],
)
async def test_a_tool_that_overstays_its_timeout_answers_timed_out(
    flavour: str, kind: str, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    release = threading.Event()
    cancelled = threading.Event()
    tools = vatel.ToolRouter(timeout=0.2 if where == "router" else None)
    per_tool: dict[str, Any] = {"timeout": 0.2} if where == "tool" else {}

    if kind == "sync":

        @tools.tool("slow", **per_tool)
        def slow_sync(q: str) -> str:
            release.wait(30)
            return "too late"

    else:

        @tools.tool("slow", **per_tool)
        async def slow_async(q: str) -> str:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return "too late"

    async def one_call(peer: Peer) -> None:
        await peer.start()
        await peer.tool_call("c1", "slow", [{"name": "q", "value": "status", "dataType": "string"}])
        await peer.wait_outputs(1)
        await peer.end()

    try:
        with (
            caplog.at_level(logging.WARNING, logger="vatel"),
            traced_peak() as memory,
            HostileToolServer(one_call) as server,
        ):
            await run_session(flavour, server.url, tools)
    finally:
        release.set()
    assert not server.errors
    assert [json.loads(o["output"]) for o in server.outputs] == [
        {"error": "Tool 'slow' timed out."}
    ]
    assert any(
        "timed out" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records
    )
    assert tools.stats.timed_out == 1
    if kind == "async":
        assert cancelled.is_set(), "the overdue coroutine was cancelled"
    assert memory.growth_mib < 10


@pytest.mark.timeout(30)
@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_timed_out_tool_still_running_keeps_its_place(flavour: str) -> None:
    """The bound counts handlers that really run: one that overstayed its time-out
    and is still going keeps the session's only place until it returns."""
    release = threading.Event()
    tools = vatel.ToolRouter(timeout=0.2)

    @tools.tool
    def stuck() -> str:
        release.wait(30)
        return "finally"

    async def script(peer: Peer) -> None:
        await peer.start()
        await peer.tool_call("c1", "stuck", [])
        await peer.wait_outputs(1)  # timed out, handler still running
        await peer.tool_call("c2", "stuck", [])
        await peer.wait_outputs(2)  # refused: the place is taken
        release.set()
        for attempt in range(200):  # the handler's thread frees the place when it ends
            await peer.tool_call(f"c{3 + attempt}", "stuck", [])
            (latest,) = (await peer.wait_outputs(3 + attempt))[-1:]
            if BUSY not in latest["output"]:
                break
            await asyncio.sleep(0.02)
        await peer.end()

    with HostileToolServer(script) as server, traced_peak() as memory:
        await run_session(flavour, server.url, tools, max_pending_tool_calls=1)
    assert not server.errors
    first, second, *later = [o["output"] for o in server.outputs]
    assert json.loads(first) == {"error": "Tool 'stuck' timed out."}
    assert BUSY in json.loads(second)["error"]
    assert later[-1] == "finally", "a place came free once the stuck handler returned"
    assert all(BUSY in o for o in later[:-1])
    assert memory.growth_mib < 10


# -- a tool that never returns must not keep the process alive ------------------------

CHILD = textwrap.dedent(
    """
    import asyncio, resource, sys, threading
    import vatel

    url, flavour, kind = sys.argv[1:4]
    tools = vatel.ToolRouter(timeout=None)  # no limit: the worst case

    if kind == "sync":
        @tools.tool
        def hang() -> None:
            print("tool running", flush=True)
            threading.Event().wait()
    else:
        @tools.tool
        async def hang() -> None:
            print("tool running", flush=True)
            await asyncio.Event().wait()

    if flavour == "sync":
        with vatel.connect(url) as conn:
            conn.run(tools=tools)
    else:
        async def main() -> None:
            async with vatel.connect_async(url) as conn:
                await conn.run(tools=tools)
        asyncio.run(main())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"run returned, max RSS {rss} KiB", flush=True)
    """
)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("flavour", "kind"),
    [("sync", "sync"), ("sync", "async"), ("async", "sync"), ("async", "async")],
)
def test_the_process_exits_after_the_session_whatever_its_tools_do(flavour: str, kind: str) -> None:
    async def script(peer: Peer) -> None:
        await peer.start()
        await peer.tool_call("c1", "hang", [])
        await peer.signalled()  # the child's tool is running
        await peer.end()

    source = str(Path(vatel.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    with HostileToolServer(script) as server:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, server.url, flavour, kind],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "tool running"
            server.signal()
            code = child.wait(timeout=30)
            rest, errors = child.communicate()
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert code == 0, errors
    assert rest.startswith("run returned"), (rest, errors)
    max_rss_kib = int(rest.split("max RSS ")[1].split()[0])
    assert max_rss_kib < 300 * 1024
    assert not server.outputs, "the never-returning tool sent nothing"
