"""The parts of ``websockets`` the SDK uses beneath its documented API
(``vatel._ws_internals``), checked by name and by behaviour against the
installed release, which must lie in the range they were checked on."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import connect as connect_async
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as connect_sync
from websockets.sync.server import ServerConnection, serve

from vatel import _async_connection, _connection
from vatel._ws_internals import TESTED_RANGE, discard_unread, queue_depth

pytestmark = pytest.mark.timeout(20)

QUEUED = 4
"""``max_queue`` of the clients below: the assembler pauses past this many frames."""
FLOOD = 200
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def release(version: str) -> tuple[int, int]:
    major, minor = re.match(r"(\d+)\.(\d+)", version).groups()  # type: ignore[union-attr]
    return int(major), int(minor)


def test_installed_release_is_one_the_internals_were_checked_on() -> None:
    low, high = TESTED_RANGE
    assert low <= release(websockets.__version__) < high, (
        f"websockets {websockets.__version__} is outside {low}..{high}: re-check "
        "vatel/_ws_internals.py against it, then widen TESTED_RANGE and pyproject.toml"
    )


def test_pyproject_pins_the_tested_range() -> None:
    if not PYPROJECT.exists():
        pytest.skip("pyproject.toml not found beside the tests (installed package)")
    pin = re.search(r'"websockets>=([\d.]+),<([\d.]+)"', PYPROJECT.read_text())
    assert pin, "pyproject.toml must pin websockets to a lower and an upper bound"
    low, high = TESTED_RANGE
    assert (release(pin[1]), release(pin[2] + ".0")) == (low, high)


@pytest.mark.parametrize(
    ("module", "hooks"),
    [
        (_connection, ("process_event", "send_data")),
        (_async_connection, ("process_event", "drain")),
    ],
    ids=["sync", "async"],
)
def test_overridden_hooks_exist_in_websockets(module: Any, hooks: tuple[str, ...]) -> None:
    # An override of a method websockets no longer calls would silently do nothing.
    ours = module._connection_class()
    base = next(c for c in ours.__mro__ if c.__module__.startswith("websockets."))
    for name in hooks:
        assert callable(getattr(base, name, None)), f"{base.__qualname__}.{name} is gone"


@pytest.fixture
def flooding_server() -> Iterator[tuple[str, threading.Event]]:
    """Sends FLOOD numbered frames at once, then, when ``closing`` is set, a
    close frame: a server that floods instead of answering."""
    closing = threading.Event()

    def handler(ws: ServerConnection) -> None:
        for i in range(FLOOD):
            ws.send(f"frame {i}")
        closing.wait(10)
        ws.close(4000, "done")

    with serve(handler, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        host, port = server.socket.getsockname()
        yield f"ws://{host}:{port}", closing
        closing.set()
        server.shutdown()
    thread.join(5)


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.005)


def test_sync_discard_unread_lets_the_close_through(
    flooding_server: tuple[str, threading.Event],
) -> None:
    url, closing = flooding_server
    with connect_sync(
        url, max_queue=QUEUED, create_connection=_connection._connection_class()
    ) as ws:
        assembler = ws.recv_messages
        for name in ("high", "low", "paused", "mutex", "resume"):
            assert hasattr(assembler, name), f"the assembler has no {name!r}"
        wait_for(lambda: assembler.paused, "the reader paused behind unread frames")
        closing.set()
        discard_unread(ws)
        wait_for(lambda: ws.protocol.close_rcvd is not None, "the server's close arrived")
        got = []
        with pytest.raises(ConnectionClosed):
            while True:
                got.append(ws.recv(timeout=5))
    # What was queued before is delivered, in order; what came after is dropped.
    assert got == [f"frame {i}" for i in range(len(got))]
    assert 0 < len(got) < FLOOD
    assert ws.protocol.close_rcvd.code == 4000


def test_async_discard_unread_lets_the_close_through(
    flooding_server: tuple[str, threading.Event],
) -> None:
    url, closing = flooding_server

    async def main() -> tuple[list[str], int]:
        async with connect_async(
            url, max_queue=QUEUED, create_connection=_async_connection._connection_class()
        ) as ws:
            assembler = ws.recv_messages
            for name in ("high", "low", "paused", "resume"):
                assert hasattr(assembler, name), f"the assembler has no {name!r}"
            while not assembler.paused:
                await asyncio.sleep(0.005)
            closing.set()
            discard_unread(ws)
            await asyncio.wait_for(ws.wait_closed(), 10)
            got = []
            with pytest.raises(ConnectionClosed):
                while True:
                    got.append(await asyncio.wait_for(ws.recv(), 5))
            return got, ws.protocol.close_rcvd.code

    got, code = asyncio.run(asyncio.wait_for(main(), 15))
    assert got == [f"frame {i}" for i in range(len(got))]
    assert 0 < len(got) < FLOOD
    assert code == 4000


@pytest.fixture
def queueing_server() -> Iterator[str]:
    """Sends QUEUED numbered frames at once, then waits for the client to close."""

    def handler(ws: ServerConnection) -> None:
        for i in range(QUEUED):
            ws.send(f"frame {i}")
        with contextlib.suppress(ConnectionClosed):
            for _ in ws:
                pass

    with serve(handler, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        host, port = server.socket.getsockname()
        yield f"ws://{host}:{port}"
        server.shutdown()
    thread.join(5)


def test_sync_queue_depth_counts_frames_read_and_not_received(queueing_server: str) -> None:
    with connect_sync(
        queueing_server, max_queue=16, create_connection=_connection._connection_class()
    ) as ws:
        depth = queue_depth(ws)
        wait_for(lambda: depth() == QUEUED, "every frame was read from the socket")
        assert ws.recv(timeout=5) == "frame 0"
        assert depth() == QUEUED - 1


def test_async_queue_depth_counts_frames_read_and_not_received(queueing_server: str) -> None:
    async def main() -> tuple[int, str, int]:
        async with connect_async(
            queueing_server, max_queue=16, create_connection=_async_connection._connection_class()
        ) as ws:
            depth = queue_depth(ws)
            for _ in range(2000):
                if depth() == QUEUED:
                    break
                await asyncio.sleep(0.005)
            before = depth()
            first = await asyncio.wait_for(ws.recv(), 5)
            return before, first, depth()

    before, first, after = asyncio.run(asyncio.wait_for(main(), 15))
    assert (before, first, after) == (QUEUED, "frame 0", QUEUED - 1)


def test_queue_depth_of_an_unknown_layout_is_zero() -> None:
    class Elsewhere:
        recv_messages = object()

    assert queue_depth(Elsewhere())() == 0
    assert queue_depth(object())() == 0
