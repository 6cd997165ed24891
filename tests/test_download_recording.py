"""Recordings on disk and in memory: the file mode ``open()`` would give, and
``recording_bytes`` that never holds more than ``max_bytes``, sync and async, against the
mock and against misbehaving servers of the test's own."""

from __future__ import annotations

import io
import os
import socket
import stat
import threading
import tracemalloc
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

import vatel
from _support import Api
from vatel import ResponseTooLargeError
from vatel.testing import MockServer

pytestmark = pytest.mark.anyio

MiB = 2**20


@pytest.fixture
def umask() -> Iterator[None]:
    """Restores the process umask the test changes."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield
    os.umask(previous)


async def call_with_recording(api: Api) -> str:
    for call in await api.collect(await api(lambda c: c.calls.list())):
        try:
            await api(lambda c, call_id=call.id: c.calls.download_recording(call_id, io.BytesIO()))
        except vatel.NotFoundError:
            continue
        return str(call.id)
    pytest.fail("the mock seeds calls with recordings")


# -- file mode -----------------------------------------------------------------------


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002], ids=["022", "077", "002"])
async def test_downloaded_file_gets_the_mode_open_would_give(
    api: Api, tmp_path: Path, umask: None, mask: int
) -> None:
    call_id = await call_with_recording(api)
    os.umask(mask)
    target = tmp_path / "recording.wav"
    await api(lambda c: c.calls.download_recording(call_id, target))
    with open(tmp_path / "by-open.wav", "wb"):
        pass
    expected = {0o022: 0o644, 0o077: 0o600, 0o002: 0o664}[mask]
    assert stat.S_IMODE(target.stat().st_mode) == expected
    assert stat.S_IMODE((tmp_path / "by-open.wav").stat().st_mode) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["by-open.wav", "recording.wav"]


async def test_overwritten_file_keeps_its_mode(api: Api, tmp_path: Path, umask: None) -> None:
    call_id = await call_with_recording(api)
    os.umask(0o022)
    target = tmp_path / "recording.wav"
    target.write_bytes(b"old")
    target.chmod(0o640)
    written = await api(lambda c: c.calls.download_recording(call_id, target))
    assert target.stat().st_size == written > 3
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


async def test_a_symbolic_link_stays_one(api: Api, tmp_path: Path) -> None:
    call_id = await call_with_recording(api)
    real = tmp_path / "real.wav"
    real.write_bytes(b"old")
    link = tmp_path / "link.wav"
    link.symlink_to(real)
    written = await api(lambda c: c.calls.download_recording(call_id, link))
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert real.stat().st_size == written > 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.wav", "real.wav"]


@pytest.mark.timeout(20)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
async def test_a_fifo_is_written_in_place_not_replaced(api: Api, tmp_path: Path) -> None:
    call_id = await call_with_recording(api)
    expected = await api(lambda c: c.calls.recording_bytes(call_id))
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    # Opening a FIFO waits for its reader, which is already there.
    written = await api(lambda c: c.calls.download_recording(call_id, fifo))
    reader.join(timeout=10)
    assert received == [expected] and written == len(expected)
    assert stat.S_ISFIFO(fifo.stat().st_mode), "the FIFO is still a FIFO"


# -- in memory -----------------------------------------------------------------------


async def test_recording_bytes_equal_the_downloaded_file(api: Api, tmp_path: Path) -> None:
    call_id = await call_with_recording(api)
    target = tmp_path / "recording.wav"
    await api(lambda c: c.calls.download_recording(call_id, target))
    data = await api(lambda c: c.calls.recording_bytes(call_id))
    assert isinstance(data, bytes)
    assert data == target.read_bytes()
    with wave.open(io.BytesIO(data)) as wav:
        assert wav.getnframes() > 0


async def test_recording_over_max_bytes_is_refused(api: Api) -> None:
    call_id = await call_with_recording(api)
    size = len(await api(lambda c: c.calls.recording_bytes(call_id)))
    assert await api(lambda c: c.calls.recording_bytes(call_id, max_bytes=size)) is not None
    with pytest.raises(ResponseTooLargeError) as info:
        await api(lambda c: c.calls.recording_bytes(call_id, max_bytes=size - 1))
    assert isinstance(info.value, vatel.APIError)
    assert (info.value.limit, info.value.size) == (size - 1, size)
    assert f"{size - 1:,}" in str(info.value)


@pytest.mark.parametrize("max_bytes", [-1, 1.5, True, "100"])
async def test_bad_max_bytes_fails_before_any_request(
    api: Api, server: MockServer, max_bytes: object
) -> None:
    server.clear_requests()
    with pytest.raises(ValueError, match="max_bytes"):
        await api(lambda c: c.calls.recording_bytes("x", max_bytes=max_bytes))
    assert server.requests == []


async def test_missing_recording_is_not_found(api: Api) -> None:
    with pytest.raises(vatel.NotFoundError):
        await api(lambda c: c.calls.recording_bytes("00000000-0000-4000-8000-000000000000"))


# -- misbehaving servers ---------------------------------------------------------------


class EndlessRecordingServer:
    """Answers every request with a body that never ends, on 127.0.0.1.

    ``announce`` sends a (huge) ``Content-Length``; without it the body is chunked.
    Each connection stops once its peer is gone, or after ``give_up`` bytes.
    """

    CHUNK = b"\0" * (64 * 1024)

    def __init__(self, announce: int | None, give_up: int = 64 * MiB) -> None:
        self.announce = announce
        self.give_up = give_up
        self.sent: list[int] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.base_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)

    def _accept(self) -> None:
        self._listener.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            worker = threading.Thread(target=self._answer, args=(conn,), daemon=True)
            worker.start()
            self._threads.append(worker)

    def _answer(self, conn: socket.socket) -> None:
        sent = 0
        with conn:
            conn.settimeout(5)
            try:
                request = b""
                while b"\r\n\r\n" not in request:
                    data = conn.recv(4096)
                    if not data:
                        return
                    request += data
                head = "HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\n"
                if self.announce is not None:
                    head += f"Content-Length: {self.announce}\r\n\r\n"
                else:
                    head += "Transfer-Encoding: chunked\r\n\r\n"
                conn.sendall(head.encode())
                piece = self.CHUNK
                if self.announce is None:
                    piece = b"%x\r\n" % len(self.CHUNK) + self.CHUNK + b"\r\n"
                while sent < self.give_up and not self._stop.is_set():
                    conn.sendall(piece)
                    sent += len(self.CHUNK)
            except OSError:
                pass  # The client hung up: what a refusing client does.
            finally:
                self.sent.append(sent)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> type:
    """The SDK's sync or async client class."""
    return vatel.Client if request.param == "sync" else vatel.AsyncClient


async def _recording_bytes(kind: type, base_url: str, max_bytes: int) -> tuple[Exception, int]:
    """The error ``recording_bytes`` raised, and the peak of memory allocated meanwhile."""
    api = Api(kind(api_key="hostile-test-key", base_url=base_url, max_retries=0))
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        with pytest.raises(ResponseTooLargeError) as info:
            await api(lambda c: c.calls.recording_bytes("call-1", max_bytes=max_bytes))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await api.close()
    return info.value, peak


@pytest.mark.timeout(20)
async def test_announced_huge_recording_is_refused_before_its_body(kind: type) -> None:
    server = EndlessRecordingServer(announce=2**40)
    try:
        error, peak = await _recording_bytes(kind, server.base_url, max_bytes=8 * MiB)
    finally:
        server.close()
    assert (error.limit, error.size) == (8 * MiB, 2**40)  # type: ignore[attr-defined]
    assert peak < 2 * MiB, f"{peak / MiB:.1f} MiB held for a refused body"
    assert len(server.sent) == 1 and server.sent[0] < 64 * MiB, "the client hung up"


@pytest.mark.timeout(20)
async def test_unannounced_endless_recording_stops_at_max_bytes(kind: type) -> None:
    server = EndlessRecordingServer(announce=None)
    try:
        error, peak = await _recording_bytes(kind, server.base_url, max_bytes=2 * MiB)
    finally:
        server.close()
    assert (error.limit, error.size) == (2 * MiB, None)  # type: ignore[attr-defined]
    assert peak < 2 * MiB + 3 * MiB, f"{peak / MiB:.1f} MiB held for a 2 MiB limit"
    assert len(server.sent) == 1 and server.sent[0] < 64 * MiB, "the client hung up"
