"""A misbehaving voice server of the tests' own, and one surface over the SDK's
sync and async connections.

:class:`ScriptedServer` speaks just enough WebSocket (RFC 6455) over asyncio
streams on 127.0.0.1 to send a scripted list of text frames, byte for byte, and to
record what the client sends back. It shares no code with the SDK or
``vatel.testing``. :class:`App` drives a real ``vatel.connect()`` or
``vatel.connect_async()`` client through one blocking interface, so a scenario is
written once and runs on both flavours.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import struct
import threading
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import vatel

T = TypeVar("T")

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA


def _header(opcode: int, length: int) -> bytes:
    first = 0x80 | opcode
    if length < 126:
        return struct.pack("!BB", first, length)
    if length < 1 << 16:
        return struct.pack("!BBH", first, 126, length)
    return struct.pack("!BBQ", first, 127, length)


class ScriptedServer:
    """Accepts connections; to each it sends ``script`` (text frames, as ``str``)
    and then records the client's text frames until the client closes."""

    def __init__(self, script: Sequence[str]) -> None:
        self.script = [frame.encode("utf-8") for frame in script]
        self.received: list[str] = []
        """Text frames the client sent, in order, over all connections."""
        self.sent_all = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scripted-server", daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/connection"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the scripted server did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            key = next(
                line.split(b":", 1)[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            for payload in self.script:
                writer.write(_header(OP_TEXT, len(payload)) + payload)
                await writer.drain()
            self.sent_all.set()
            await self._read_until_close(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _read_until_close(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            head = await reader.readexactly(2)
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await reader.readexactly(8))
            mask = await reader.readexactly(4)  # clients always mask
            body = bytearray(await reader.readexactly(length))
            for i in range(length):
                body[i] ^= mask[i % 4]
            if opcode == OP_TEXT:
                self.received.append(body.decode("utf-8"))
            elif opcode == OP_PING:
                writer.write(_header(OP_PONG, length) + bytes(body))
            elif opcode == OP_CLOSE:
                writer.write(_header(OP_CLOSE, len(body)) + bytes(body))
                await writer.drain()
                return


class App:
    """What an application sees from a real connection, sync or async, behind one
    blocking interface (the async flavour runs on a loop of its own)."""

    def __init__(self, flavour: str, url: str) -> None:
        self.flavour = flavour
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self.conn: Any
        if flavour == "sync":
            self.conn = vatel.connect(url, open_timeout=5, close_timeout=0.5)
        else:
            self._loop = asyncio.new_event_loop()
            self.conn = self._run(vatel.connect_async(url, open_timeout=5, close_timeout=0.5))

    def _run(self, awaitable: Awaitable[T]) -> T:
        assert self._loop is not None

        async def wrapped() -> T:
            return await awaitable

        return self._loop.run_until_complete(wrapped())

    def _call(self, name: str, *args: Any) -> Any:
        result = getattr(self.conn, name)(*args)
        return self._run(result) if self._loop is not None else result

    def recv(self, timeout: float = 5.0) -> vatel.Event:
        event: vatel.Event = self._call("recv", timeout)
        return event

    def events(self) -> list[vatel.Event]:
        """Every event the connection yields, until the session ends."""
        if self._loop is None:
            return list(self.conn)

        async def collect() -> list[vatel.Event]:
            return [event async for event in self.conn]

        return self._run(collect())

    def drain(self, each: Callable[[vatel.Event], object]) -> int:
        """Hands every event to ``each`` and keeps none; returns how many came."""
        count = 0
        if self._loop is None:
            for event in self.conn:
                each(event)
                count += 1
            return count

        async def consume() -> int:
            n = 0
            async for event in self.conn:
                each(event)
                n += 1
            return n

        return self._run(consume())

    def send_input_audio_bytes(self, pcm: bytes) -> None:
        self._call("send_input_audio_bytes", pcm)

    def send_tool_call_output(self, tool_call_id: str, output: Any) -> None:
        self._call("send_tool_call_output", tool_call_id, output)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._call("close")
        finally:
            if self._loop is not None:
                self._loop.close()


@contextmanager
def session(flavour: str, script: Sequence[str]) -> Iterator[tuple[App, ScriptedServer]]:
    """A scripted server and an app connected to it; both closed on exit."""
    with ScriptedServer(script) as server:
        app = App(flavour, server.url)
        try:
            yield app, server
        finally:
            app.close()


@contextmanager
def memory_bound(limit: int) -> Iterator[list[int]]:
    """Asserts that no more than ``limit`` bytes were allocated at the peak of the
    block (both the client and the scripted server run in this process). The
    yielded list receives the peak, for reporting."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    seen: list[int] = []
    try:
        yield seen
        _, peak = tracemalloc.get_traced_memory()
        seen.append(peak - base)
    finally:
        if started:
            tracemalloc.stop()
    assert seen[0] < limit, f"{seen[0] / 2**20:.1f} MiB at the peak, over {limit / 2**20:.1f} MiB"
