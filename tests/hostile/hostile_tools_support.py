"""A misbehaving agent for tool-runtime tests: a WebSocket server of our own on
127.0.0.1, in a thread with its own event loop, that sends ``tool_call`` frames
as a script says and records the ``tool_call_output`` frames it gets back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

WAIT = 20.0
"""Seconds a script waits for the client before it gives up (the test then fails)."""


class Peer:
    """One client connection, as the script sees it."""

    def __init__(self, ws: ServerConnection, server: HostileToolServer) -> None:
        self.ws = ws
        self.server = server
        self.outputs: list[dict[str, Any]] = []
        self._arrived = asyncio.Condition()

    async def send(self, type_: str, data: Any) -> None:
        await self.ws.send(json.dumps({"type": type_, "data": data}))

    async def start(self) -> None:
        await self.send("session_started", {"id": "hostile-session"})

    async def tool_call(self, call_id: str, name: str, arguments: list[dict[str, Any]]) -> None:
        await self.send(
            "tool_call", {"toolCallId": call_id, "toolName": name, "arguments": arguments}
        )

    async def end(self) -> None:
        await self.send("session_ended", {})

    async def wait_outputs(self, count: int) -> list[dict[str, Any]]:
        """The first ``count`` outputs, once they have all arrived."""

        async def enough() -> None:
            async with self._arrived:
                await self._arrived.wait_for(lambda: len(self.outputs) >= count)

        await asyncio.wait_for(enough(), WAIT)
        return self.outputs[:count]

    async def signalled(self) -> None:
        """Until the test calls :meth:`HostileToolServer.signal`."""
        await asyncio.wait_for(self.server._signal.wait(), WAIT)

    async def _read(self) -> None:
        async for message in self.ws:
            frame = json.loads(message)
            if frame.get("type") == "tool_call_output":
                async with self._arrived:
                    self.outputs.append(frame["data"])
                    self._arrived.notify_all()


Script = Callable[[Peer], Awaitable[None]]


class HostileToolServer:
    """Runs ``script`` for each connection; ``url`` to connect, ``peers`` after."""

    def __init__(self, script: Script) -> None:
        self._script = script
        self.peers: list[Peer] = []
        self.errors: list[BaseException] = []
        self._loop = asyncio.new_event_loop()
        self._signal = asyncio.Event()
        self._ready = threading.Event()
        self._stop: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=self._run, name="hostile-tool-server", daemon=True)
        self.url = ""

    async def _handle(self, ws: ServerConnection) -> None:
        peer = Peer(ws, self)
        self.peers.append(peer)
        reader = asyncio.create_task(peer._read())
        try:
            await self._script(peer)
            # Like the service, close once the script is done; the client's run()
            # returns when the close arrives rather than after its close_timeout.
            await ws.close()
            await reader  # until the client's close is read
        except BaseException as exc:
            self.errors.append(exc)
            raise
        finally:
            reader.cancel()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = self._loop.create_future()
        async with serve(self._handle, "127.0.0.1", 0, max_size=None) as server:
            port = server.sockets[0].getsockname()[1]
            self.url = f"ws://127.0.0.1:{port}/"
            self._ready.set()
            await self._stop

    def signal(self) -> None:
        """Wake scripts waiting in :meth:`Peer.signalled` (from any thread)."""
        self._loop.call_soon_threadsafe(self._signal.set)

    def __enter__(self) -> HostileToolServer:
        self._thread.start()
        if not self._ready.wait(WAIT):
            raise RuntimeError("the hostile server did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        stop = self._stop
        if stop is not None:
            self._loop.call_soon_threadsafe(lambda: stop.done() or stop.set_result(None))
        self._thread.join(WAIT)

    @property
    def outputs(self) -> list[dict[str, Any]]:
        return [o for peer in self.peers for o in peer.outputs]


def errors_of(outputs: list[dict[str, Any]]) -> list[str]:
    """The ``error`` texts of the outputs that are error objects."""
    found = []
    for output in outputs:
        with contextlib.suppress(ValueError):
            value = json.loads(output["output"])
            if isinstance(value, dict) and "error" in value:
                found.append(value["error"])
    return found


class MemoryPeak:
    """Peak growth of traced Python memory inside a ``with traced_peak()`` block."""

    growth_mib = 0.0


@contextlib.contextmanager
def traced_peak() -> Iterator[MemoryPeak]:
    """Measure the peak of traced memory above its level at the start (all threads)."""
    peak = MemoryPeak()
    started_here = not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    try:
        yield peak
    finally:
        _, top = tracemalloc.get_traced_memory()
        peak.growth_mib = (top - base) / 2**20
        if started_here:
            tracemalloc.stop()
