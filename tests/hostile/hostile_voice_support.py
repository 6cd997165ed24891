"""Misbehaving voice-session servers of the tests' own, on raw loopback sockets.

Nothing here uses the SDK or ``vatel.testing``: the opening handshake and the
frames are written by hand (RFC 6455), so a server can do what no well-behaved
library would — flood instead of answering a close, stop reading, echo the
token, redirect. Run as a script (``python hostile_voice_support.py``) it is a
polite server in a child process, which a test can freeze with SIGSTOP.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import inspect
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import vatel

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
AGENT_ID = "00000000-0000-4000-8000-000000000001"
STARTED = json.dumps({"type": "session_started", "data": {"id": "hostile-session"}})
ENDED = json.dumps({"type": "session_ended", "data": {}})
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


def session_url(port: int, token: str = "tok_hostile_0123456789abcdef") -> str:
    return f"ws://127.0.0.1:{port}/v1/connection?token={token}&agentId={AGENT_ID}"


# -- one connection, server side ------------------------------------------------------


class Peer:
    """The server end of one accepted connection."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.request_line = ""
        self.headers: dict[str, str] = {}
        self.sent_bytes = 0

    def read_request(self) -> None:
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the client left during the handshake")
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.request_line = lines[0]
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()

    def handshake(self, extra_headers: tuple[tuple[str, str], ...] = ()) -> None:
        """Read the request and accept it."""
        self.read_request()
        key = self.headers["sec-websocket-key"]
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        lines = [
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Accept: {accept}",
            *(f"{name}: {value}" for name, value in extra_headers),
        ]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    def answer(self, status: str, headers: tuple[tuple[str, str], ...], body: bytes) -> None:
        """Read the request and refuse it with an HTTP answer."""
        self.read_request()
        lines = [f"HTTP/1.1 {status}", *(f"{n}: {v}" for n, v in headers)]
        lines.append(f"Content-Length: {len(body)}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def send_frame(self, opcode: int, payload: bytes) -> None:
        self.sock.sendall(frame_bytes(opcode, payload))
        self.sent_bytes += len(payload)

    def send_text(self, text: str) -> None:
        self.send_frame(TEXT, text.encode())

    def send_close(self, code: int, reason: str = "") -> None:
        self.send_frame(CLOSE, struct.pack("!H", code) + reason.encode())

    def read_frame(self) -> tuple[int, bytes] | None:
        """The next client frame (unmasked), or ``None`` at the end of the stream."""
        while True:
            parsed = parse_frame(self.buffer)
            if parsed is not None:
                opcode, payload, used = parsed
                self.buffer = self.buffer[used:]
                return opcode, payload
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk

    def serve(self) -> list[tuple[int, bytes]]:
        """Answer pings and the client's close, like a polite server; the frames seen."""
        seen: list[tuple[int, bytes]] = []
        while (frame := self.read_frame()) is not None:
            seen.append(frame)
            opcode, payload = frame
            if opcode == PING:
                self.send_frame(PONG, payload)
            elif opcode == CLOSE:
                self.send_frame(CLOSE, payload[:2])
                break
        return seen


def frame_bytes(opcode: int, payload: bytes) -> bytes:
    """A server frame: final, unmasked."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return head + payload


def parse_frame(data: bytes) -> tuple[int, bytes, int] | None:
    """``(opcode, payload, bytes used)`` of the first whole masked frame in ``data``."""
    if len(data) < 2:
        return None
    opcode, size = data[0] & 0x0F, data[1] & 0x7F
    offset = 2
    if size == 126:
        if len(data) < 4:
            return None
        (size,) = struct.unpack("!H", data[2:4])
        offset = 4
    elif size == 127:
        if len(data) < 10:
            return None
        (size,) = struct.unpack("!Q", data[2:10])
        offset = 10
    if len(data) < offset + 4 + size:
        return None
    mask = data[offset : offset + 4]
    body = data[offset + 4 : offset + 4 + size]
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(body))
    return opcode, payload, offset + 4 + size


# -- servers -----------------------------------------------------------------------------


Behaviour = Callable[[Peer], None]


class HostileServer:
    """A server on 127.0.0.1 that runs ``behaviour`` on each connection, in a thread.

    ``rcvbuf`` shrinks the accepted sockets' receive buffer (set on the listener,
    so the TCP window is small from the start) to make a server that stops
    reading fill up quickly.
    """

    def __init__(self, behaviour: Behaviour, *, rcvbuf: int | None = None) -> None:
        self.behaviour = behaviour
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf is not None:
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port: int = self.listener.getsockname()[1]
        self.peers: list[Peer] = []
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)

    def url(self, token: str = "tok_hostile_0123456789abcdef") -> str:
        return session_url(self.port, token)

    def __enter__(self) -> HostileServer:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() below
        with contextlib.suppress(OSError):
            self.listener.close()
        for peer in self.peers:
            with contextlib.suppress(OSError):
                peer.sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                peer.sock.close()
        for thread in self._threads:
            thread.join(5)
        self._acceptor.join(5)

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            peer = Peer(sock)
            self.peers.append(peer)
            thread = threading.Thread(target=self._run, args=(peer,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _run(self, peer: Peer) -> None:
        try:
            self.behaviour(peer)
        except (OSError, ConnectionError):
            pass  # the client went away: expected for every hostile behaviour
        except BaseException as exc:  # surfaced by the test, not as a thread warning
            self.errors.append(exc)
        finally:
            # A server closes the TCP connection once the WebSocket is closed.
            with contextlib.suppress(OSError):
                peer.sock.close()


class RecordingProxy:
    """An HTTP proxy on 127.0.0.1 that records each request line and tunnels
    ``CONNECT`` requests to their target."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.server = HostileServer(self._tunnel)
        self.port = self.server.port
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RecordingProxy:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    def _tunnel(self, peer: Peer) -> None:
        peer.read_request()
        self.requests.append(peer.request_line)
        method, target, _ = peer.request_line.split(" ", 2)
        if method != "CONNECT":
            peer.sock.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host, _, port = target.rpartition(":")
        upstream = socket.create_connection((host, int(port)), timeout=5)
        upstream.settimeout(None)
        peer.sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if peer.buffer:
            upstream.sendall(peer.buffer)

        def pump(source: socket.socket, sink: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while chunk := source.recv(65536):
                    sink.sendall(chunk)
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

        back = threading.Thread(target=pump, args=(upstream, peer.sock), daemon=True)
        back.start()
        pump(peer.sock, upstream)
        back.join(5)
        upstream.close()


def polite(peer: Peer) -> None:
    """Accept, greet, and answer pings and the close."""
    peer.handshake()
    peer.send_text(STARTED)
    peer.serve()


# -- a polite server in a child process --------------------------------------------------


class ChildServer:
    """:func:`polite` in a child process, so the test can freeze it (SIGSTOP):
    its kernel still holds the connection open, but nothing answers any more."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())

    def url(self) -> str:
        return session_url(self.port)

    def __enter__(self) -> ChildServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.kill()  # SIGKILL ends a stopped process too
        self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def _serve_in_child() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    print(listener.getsockname()[1], flush=True)
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=_polite_quietly, args=(sock,), daemon=True).start()


def _polite_quietly(sock: socket.socket) -> None:
    with contextlib.suppress(OSError, ConnectionError):
        polite(Peer(sock))
    sock.close()


# -- the SDK, one way or the other --------------------------------------------------------


@dataclass
class Session:
    """A :class:`vatel.Connection` or :class:`vatel.AsyncConnection` behind one
    awaitable API; the blocking calls of the sync flavour run in worker threads."""

    conn: Any
    is_async: bool

    async def call(self, name: str, *args: Any) -> Any:
        method = getattr(self.conn, name)
        if self.is_async:
            return await method(*args)
        return await asyncio.to_thread(method, *args)

    async def recv(self, timeout: float = 5) -> vatel.Event:
        event: vatel.Event = await self.call("recv", timeout)
        return event

    async def send_audio(self, pcm: bytes) -> None:
        await self.call("send_input_audio_bytes", pcm)

    async def close(self) -> None:
        await self.call("close")

    async def events(self) -> list[vatel.Event]:
        """Every event until the iteration ends (the error it raises propagates)."""
        if self.is_async:
            return [event async for event in self.conn]
        return await asyncio.to_thread(list, self.conn)


async def open_session(flavour: str, url: str, **options: Any) -> Session:
    if flavour == "async":
        return Session(await vatel.connect_async(url, **options), True)
    return Session(await asyncio.to_thread(lambda: vatel.connect(url, **options)), False)


async def refused(flavour: str, url: str, **options: Any) -> BaseException:
    """The exception opening a session raises (the test fails if none)."""
    try:
        session = await open_session(flavour, url, **options)
    except BaseException as exc:
        return exc
    await session.close()
    raise AssertionError("the session opened")


def texts_of(obj: object) -> list[str]:
    """Everything a user could print of ``obj``: for an exception also its
    message, args, attributes and the exceptions chained to it, shown or not."""
    texts = [repr(obj), str(obj)]
    if isinstance(obj, BaseException):
        texts += [repr(arg) for arg in obj.args]
        texts += [repr(value) for value in vars(obj).values()]
        for chained in (obj.__cause__, obj.__context__):
            if chained is not None:
                texts += texts_of(chained)
    return texts


# -- memory -------------------------------------------------------------------------------


@dataclass
class Memory:
    peak_growth: int = 0
    samples: list[int] = field(default_factory=list)


@contextlib.contextmanager
def traced_memory() -> Iterator[Memory]:
    """The peak growth of Python allocations (every thread) inside the block."""
    memory = Memory()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline, _ = tracemalloc.get_traced_memory()
        yield memory
        _, peak = tracemalloc.get_traced_memory()
        memory.peak_growth = peak - baseline
    finally:
        tracemalloc.stop()


async def maybe_await(value: Awaitable[Any] | Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


if __name__ == "__main__":
    _serve_in_child()
