"""A lean voice-session server for the benchmarks, run in its own process.

The opening handshake (and, when the client offers it, permessage-deflate
negotiation) is done by ``websockets``' sans-I/O :class:`ServerProtocol`. After
that the server frames and parses WebSocket frames itself: outgoing frames are
pre-encoded, incoming data frames are counted by their headers without being
unmasked, so that the server stays far cheaper than the clients it measures.
Compressed connections send through ``websockets``' own encoder instead.

What a connection does depends on its path (the query string carries sizes):

``/push?n=N``
    ``N`` ``response_audio`` frames as fast as TCP takes them, then
    ``session_ended`` and a close.
``/sink?n=N``
    counts client frames; after ``N`` sends ``bench_count`` with the number of
    messages and payload bytes received.
``/live?frames=F``
    a real-time session: on the client's first frame, ``bench_start`` with the
    start time ``t0``, then ``F`` ``response_audio`` frames, frame ``i`` due at
    ``t0 + (i + 1) * 20 ms``; client frames are counted. Then ``bench_stats``
    (frames received, the server's own send lateness), ``session_ended`` and a
    close.
``/idle``
    nothing until the client closes.

Every ``response_audio`` frame carries the send time in ``data.sent`` (seconds
of ``time.monotonic()``, which is one clock for every process of the machine).

Run ``python -m bench._server``: it prints ``PORT <n>`` and serves until its
standard input closes. :class:`ServerProcess` does that from the parent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

from websockets.extensions.permessage_deflate import enable_server_permessage_deflate
from websockets.http11 import Request
from websockets.server import ServerProtocol

from ._common import (
    AUDIO_B64_FRAMES,
    CLIP_FRAMES,
    FRAME_SECONDS,
    ChildProcess,
    percentile,
)

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
BATCH = 64
"""Frames written per ``transport.write`` when pushing as fast as possible."""

_AUDIO_HEADS = [
    (
        '{"type":"response_audio","data":{"turn_id":"turn-1","audio":"' + audio + '",'
        '"is_final":false,"sent":'
    ).encode()
    for audio in AUDIO_B64_FRAMES
]
_AUDIO_TAIL = b"}}"


def audio_payload(sent: float, index: int = 0) -> bytes:
    """The ``response_audio`` frame for clip frame ``index``, stamped ``sent``."""
    return _AUDIO_HEADS[index % CLIP_FRAMES] + f"{sent:.6f}".encode() + _AUDIO_TAIL


def frame_header(opcode: int, length: int) -> bytes:
    """An unmasked, final frame's header (servers never mask)."""
    first = 0x80 | opcode
    if length < 126:
        return bytes((first, length))
    if length < 1 << 16:
        return bytes((first, 126)) + length.to_bytes(2, "big")
    return bytes((first, 127)) + length.to_bytes(8, "big")


def unmask(payload: bytes, mask: bytes) -> bytes:
    size = len(payload)
    key = int.from_bytes((mask * (size // 4 + 1))[:size], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(size, "big")


class BenchConnection(asyncio.Protocol):
    """One client connection."""

    def __init__(self) -> None:
        self.handshake = ServerProtocol(
            extensions=enable_server_permessage_deflate(None), max_size=2**20
        )
        self.transport: asyncio.Transport | None = None
        self.is_open = False
        self.deflate = False
        self.buffer = bytearray()
        self.messages = 0
        self.payload_bytes = 0
        self.closing = False
        self.closed = asyncio.get_running_loop().create_future()
        self.writable = asyncio.Event()
        self.writable.set()
        self.first_message = asyncio.Event()
        self.message_target = 0
        self.target_reached = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    # -- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=1 << 18)

    def connection_lost(self, exc: Exception | None) -> None:
        self.writable.set()
        if not self.closed.done():
            self.closed.set_result(None)
        if self.task is not None:
            self.task.cancel()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def data_received(self, data: bytes) -> None:
        if self.is_open:
            self.buffer += data
            self.parse()
            return
        self.handshake.receive_data(data)
        for event in self.handshake.events_received():
            if isinstance(event, Request):
                response = self.handshake.accept(event)
                self.handshake.send_response(response)
                self.flush_handshake()
                if response.status_code == 101:
                    self.is_open = True
                    self.deflate = bool(self.handshake.extensions)
                    self.task = asyncio.get_running_loop().create_task(self.serve(event.path))
                    self.task.add_done_callback(_report_failure)
        self.flush_handshake()

    def flush_handshake(self) -> None:
        assert self.transport is not None
        for chunk in self.handshake.data_to_send():
            if chunk:
                self.transport.write(chunk)

    # -- frames in ---------------------------------------------------------------------

    def parse(self) -> None:
        buf = self.buffer
        size = len(buf)
        pos = 0
        while size - pos >= 2:
            first, second = buf[pos], buf[pos + 1]
            length = second & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            if second & 0x80:
                head += 4
            end = pos + head + length
            if end > size:
                break
            opcode = first & 0x0F
            if opcode < OP_CLOSE:
                if first & 0x80:  # FIN: one more message
                    self.messages += 1
                    if self.messages == 1:
                        self.first_message.set()
                    if self.messages == self.message_target:
                        self.target_reached.set()
                self.payload_bytes += length
            else:
                mask = bytes(buf[pos + head - 4 : pos + head]) if second & 0x80 else b""
                payload = bytes(buf[pos + head : end])
                if mask:
                    payload = unmask(payload, mask)
                self.control(opcode, payload)
            pos = end
        del buf[:pos]

    def control(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None
        if opcode == OP_PING:
            self.transport.write(frame_header(OP_PONG, len(payload)) + payload)
        elif opcode == OP_CLOSE:
            if not self.closing:
                # The client closes first: echo its code, then end the TCP connection.
                self.closing = True
                self.transport.write(frame_header(OP_CLOSE, len(payload[:2])) + payload[:2])
            self.transport.close()

    # -- frames out --------------------------------------------------------------------

    def send_text(self, payload: bytes) -> None:
        assert self.transport is not None
        if self.closing or self.transport.is_closing():
            return
        if self.deflate:
            self.handshake.send_text(payload)
            self.transport.writelines(self.handshake.data_to_send())
        else:
            self.transport.write(frame_header(OP_TEXT, len(payload)) + payload)

    def send_json(self, message: object) -> None:
        self.send_text(json.dumps(message, separators=(",", ":")).encode())

    async def close(self, code: int = 1000) -> None:
        assert self.transport is not None
        if not self.closing and not self.transport.is_closing():
            self.closing = True
            self.transport.write(frame_header(OP_CLOSE, 2) + code.to_bytes(2, "big"))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.closed), 5)
        self.transport.close()

    # -- modes ---------------------------------------------------------------------------

    async def serve(self, target: str) -> None:
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/push":
            await self.push(int(query.get("n", "10000")))
        elif parts.path == "/sink":
            await self.sink(int(query.get("n", "10000")))
        elif parts.path == "/live":
            await self.live(int(query.get("frames", "500")))
        else:
            await self.closed

    async def push(self, count: int) -> None:
        assert self.transport is not None
        sent = 0
        while sent < count and not self.closed.done():
            batch = min(BATCH, count - sent)
            now = time.monotonic()
            payloads = [audio_payload(now, sent + i) for i in range(batch)]
            if self.deflate:
                for payload in payloads:
                    self.send_text(payload)
            else:
                self.transport.write(b"".join(frame_header(OP_TEXT, len(p)) + p for p in payloads))
            sent += batch
            if not self.writable.is_set():
                await self.writable.wait()
        self.send_json({"type": "session_ended", "data": {}})
        await self.close()

    async def sink(self, count: int) -> None:
        self.message_target = count
        if self.messages < count:
            done = asyncio.ensure_future(self.target_reached.wait())
            await asyncio.wait([done, self.closed], return_when=asyncio.FIRST_COMPLETED)
            done.cancel()
        self.send_json(
            {
                "type": "bench_count",
                "data": {"messages": self.messages, "bytes": self.payload_bytes},
            }
        )
        await self.closed

    async def live(self, frames: int) -> None:
        loop = asyncio.get_running_loop()
        self.message_target = frames
        started = asyncio.ensure_future(self.first_message.wait())
        await asyncio.wait([started, self.closed], return_when=asyncio.FIRST_COMPLETED)
        if self.closed.done():
            started.cancel()
            return
        t0 = time.monotonic()
        self.send_json({"type": "bench_start", "data": {"t0": t0}})
        lateness: list[float] = []
        finished = loop.create_future()

        def send(index: int) -> None:
            now = time.monotonic()
            lateness.append(now - (t0 + (index + 1) * FRAME_SECONDS))
            self.send_text(audio_payload(now, index))
            if index + 1 < frames:
                loop.call_at(t0 + (index + 2) * FRAME_SECONDS, send, index + 1)
            elif not finished.done():
                finished.set_result(None)

        loop.call_at(t0 + FRAME_SECONDS, send, 0)
        await asyncio.wait([finished, self.closed], return_when=asyncio.FIRST_COMPLETED)
        if self.messages < frames:
            done = asyncio.ensure_future(self.target_reached.wait())
            await asyncio.wait([done, self.closed], timeout=3.0)
            done.cancel()
        self.send_json(
            {
                "type": "bench_stats",
                "data": {
                    "received": self.messages,
                    "sent": len(lateness),
                    "server_lateness_p50": percentile(lateness, 50),
                    "server_lateness_p99": percentile(lateness, 99),
                    "server_lateness_max": max(lateness, default=math.nan),
                },
            }
        )
        self.send_json({"type": "session_ended", "data": {}})
        await self.close()


def _report_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        print(f"bench server: {task.exception()!r}", file=sys.stderr, flush=True)


async def _main() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(BenchConnection, "127.0.0.1", 0, backlog=2048)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    stop = loop.create_future()

    def wait_for_stdin() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(lambda: stop.done() or stop.set_result(None))

    threading.Thread(target=wait_for_stdin, daemon=True).start()
    async with server:
        await stop


class ServerProcess(ChildProcess):
    """The benchmark server in a child process, for ``with``."""

    module = "bench._server"

    def __init__(self) -> None:
        super().__init__()
        self.port = 0

    def __enter__(self) -> ServerProcess:
        line = self.start()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"benchmark server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"


if __name__ == "__main__":
    asyncio.run(_main())
