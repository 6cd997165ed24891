"""The mock server's close from its own side (idle timeout), against clients that
lag behind: every client gets the close frame and code the server sent.

A server that closes its socket while client data is still unread answers with a
TCP reset, and the reset throws away whatever the server had not yet delivered,
its close frame included; the client then reports 1006. These clients provoke
exactly that: a small receive buffer, no reading for a while, and a frame sent
while the server's greeting is still queued for them.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import logging
import os
import socket
import struct
import threading
import tracemalloc
from collections.abc import Callable, Iterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as connect_sync

from vatel.testing import MockServer

SESSIONS = 60
SMALL_BUFFER = 4096
"""Bytes of kernel receive buffer per client, so the server's data backs up."""
LAG = 0.6
"""Seconds a client reads nothing: longer than the server's idle timeout."""
IDLE = 0.3
MIB = 1024 * 1024

# The client's DEBUG log has the handshake's request line, session token included.
_LOG = logging.getLogger("tests.hostile.websockets")
_LOG.setLevel(logging.INFO)


def rss() -> int:
    """This process's resident memory in bytes (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """Samples the resident memory every 20 ms from a thread; ``growth`` is the
    peak over the value at the start. (tracemalloc would slow these clients down
    enough to hide the race they are here to provoke.)"""

    def __enter__(self) -> PeakRss:
        self.start = self.peak = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())

    @property
    def growth(self) -> int:
        return self.peak - self.start


@pytest.fixture
def traced_peak() -> Iterator[Callable[[], int]]:
    """Python allocations traced for the test; the fixture gives the peak so far."""
    tracemalloc.start()
    try:
        yield lambda: tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture
def idle_server() -> Iterator[MockServer]:
    """A server that ends a session 0.3 s after the last activity; the first agent
    greets with about 240 kB of audio, sent as fast as the client takes it."""
    with MockServer(pace=0, idle_timeout=IDLE) as server:
        yield server


def small_socket(server: MockServer) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
    sock.connect((server.host, server.port))
    return sock


def url_for(server: MockServer) -> str:
    agent_id = server.agent_ids[0]
    return f"{server.ws_url}?token={server.issue_token(agent_id)}&agentId={agent_id}"


async def lagging_async_client(server: MockServer) -> int | None:
    sock = small_socket(server)
    sock.setblocking(False)
    async with connect(url_for(server), sock=sock, logger=_LOG, ping_interval=None) as ws:
        await asyncio.sleep(LAG)
        with contextlib.suppress(ConnectionClosed):
            await ws.ping()  # sent while the server's close frame is still queued for us
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.recv()
    return ws.close_code


def lagging_sync_client(server: MockServer, codes: list[int | None]) -> None:
    sock = small_socket(server)
    with connect_sync(url_for(server), sock=sock, logger=_LOG) as ws:
        threading.Event().wait(LAG)
        with contextlib.suppress(ConnectionClosed):
            ws.ping()
        with contextlib.suppress(ConnectionClosed):
            while True:
                ws.recv(timeout=10)
    codes.append(ws.close_code)


@pytest.mark.anyio
@pytest.mark.timeout(30)
async def test_60_lagging_async_clients_all_see_1000(idle_server: MockServer) -> None:
    with PeakRss() as memory:
        codes = await asyncio.wait_for(
            asyncio.gather(*(lagging_async_client(idle_server) for _ in range(SESSIONS))), 25
        )
    assert collections.Counter(codes) == {1000: SESSIONS}
    sessions = idle_server.sessions
    assert len(sessions) == SESSIONS
    for session in sessions:
        assert await session.wait_closed_async(5)
        assert session.close_code == 1000
    # Server and clients in this process: the greetings (60 x 240 kB) pass through
    # bounded buffers.
    assert memory.growth < 96 * MIB


@pytest.mark.timeout(30)
def test_lagging_sync_clients_all_see_1000(idle_server: MockServer) -> None:
    codes: list[int | None] = []
    threads = [
        threading.Thread(target=lagging_sync_client, args=(idle_server, codes)) for _ in range(20)
    ]
    with PeakRss() as memory:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(25)
    assert not any(t.is_alive() for t in threads)
    assert collections.Counter(codes) == {1000: 20}
    assert memory.growth < 96 * MIB


# A raw client, to see the order of events on the wire.

CLOSE_1000 = b"\x88\x02\x03\xe8"


def masked(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    size = len(payload)
    assert size < 126
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x80 | opcode, 0x80 | size) + mask + body


def raw_session(server: MockServer) -> socket.socket:
    sock = small_socket(server)
    key = base64.b64encode(os.urandom(16)).decode()
    agent_id = server.agent_ids[0]
    token = server.issue_token(agent_id)
    sock.sendall(
        (
            f"GET /v1/connection?token={token}&agentId={agent_id} HTTP/1.1\r\n"
            f"Host: {server.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    return sock


def read_until_close_frame(sock: socket.socket, limit: int) -> bytes:
    """Everything up to the server's close frame; raises on a reset or an early EOF."""
    data = bytearray()
    while not data.endswith(CLOSE_1000):
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"EOF after {len(data)} bytes, before the close frame")
        data += chunk
        assert len(data) < limit, "the server sent far more than its greeting"
    return bytes(data)


@pytest.mark.timeout(20)
def test_the_server_waits_for_the_clients_close_frame(
    idle_server: MockServer, traced_peak: Callable[[], int]
) -> None:
    with raw_session(idle_server) as sock:
        sock.settimeout(5)
        threading.Event().wait(LAG)  # the server idles out while we read nothing
        sock.sendall(masked(0x9, b"late"))  # a ping, behind the server's close frame
        # No reset: every byte the server sent arrives, its close frame last.
        data = read_until_close_frame(sock, limit=4 * MIB)
        assert b'"type":"session_ended"' in data
        # The connection stays open until the client answers the close...
        sock.settimeout(0.2)
        with pytest.raises(socket.timeout):
            sock.recv(1)
        sock.settimeout(5)
        sock.sendall(masked(0x8, b"\x03\xe8"))
        # ...and then the server closes it.
        assert sock.recv(1) == b""
    session = idle_server.sessions[0]
    assert session.wait_closed(5) and session.close_code == 1000
    assert traced_peak() < 32 * MIB


@pytest.mark.timeout(20)
def test_a_client_that_never_answers_the_close_is_let_go(
    idle_server: MockServer, monkeypatch: pytest.MonkeyPatch, traced_peak: Callable[[], int]
) -> None:
    from vatel.testing import _routes_voice

    monkeypatch.setattr(_routes_voice, "CLOSE_TIMEOUT", 0.5)
    with raw_session(idle_server) as sock:
        sock.settimeout(5)
        read_until_close_frame(sock, limit=4 * MIB)
        # Never answered: the server gives up after its close timeout and
        # closes the connection (EOF, or a reset for the unread ping below).
        sock.sendall(masked(0x9, b"ignored"))
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(65536) == b""
    session = idle_server.sessions[0]
    assert session.wait_closed(5)
    assert session.close_code == 1000  # what the server sent
    assert traced_peak() < 32 * MIB
