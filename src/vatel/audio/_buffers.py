"""Thread-safe audio queues between a sound device's callback thread and its user.

They know nothing about devices, so their behaviour is testable without one.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # asyncio is imported lazily: it is slow to import and often unused here
    import asyncio

__all__ = ["CaptureQueue", "PlaybackQueue"]


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Notifier:
    """A lock, plus wake-ups for threads and event loops waiting on what it guards."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._condition = threading.Condition(self.lock)
        self._futures: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def notify(self) -> None:
        """Wake every waiter; call with ``lock`` held, from any thread."""
        self._condition.notify_all()
        for loop, future in self._futures:
            with suppress(RuntimeError):  # that loop is closed; nobody is left to wake
                loop.call_soon_threadsafe(_resolve, future)
        self._futures.clear()

    def wait(self, ready: Callable[[], bool], timeout: float | None) -> bool:
        """Block until ``ready()`` (checked under the lock); False on timeout."""
        with self.lock:
            return self._condition.wait_for(ready, timeout)

    async def wait_async(self, ready: Callable[[], bool]) -> None:
        """Wait without blocking the event loop until ``ready()``."""
        import asyncio

        loop = asyncio.get_running_loop()
        while True:
            with self.lock:
                if ready():
                    return
                entry = (loop, loop.create_future())
                self._futures.append(entry)
            try:
                await entry[1]
            finally:
                with self.lock:
                    if entry in self._futures:
                        self._futures.remove(entry)


class CaptureQueue:
    """Regroups captured audio into chunks of ``chunk_bytes`` for one reader.

    When the reader falls more than ``max_chunks`` behind, the oldest chunks are
    dropped (and counted in :attr:`dropped`), so live audio never lags further.
    """

    def __init__(self, chunk_bytes: int, max_chunks: int) -> None:
        self._chunk_bytes = chunk_bytes
        self._chunks: deque[bytes] = deque()
        self._max_chunks = max_chunks
        self._partial = bytearray()
        self._closed = False
        self._notifier = _Notifier()
        self.dropped = 0

    def put(self, data: bytes) -> None:
        """Add captured bytes (from any thread); ignored once closed."""
        with self._notifier.lock:
            if self._closed:
                return
            self._partial += data
            size = self._chunk_bytes
            added = False
            while len(self._partial) >= size:
                if len(self._chunks) >= self._max_chunks:
                    self._chunks.popleft()
                    self.dropped += 1
                self._chunks.append(bytes(self._partial[:size]))
                del self._partial[:size]
                added = True
            if added:
                self._notifier.notify()

    def close(self) -> None:
        """End the stream: readers get what is queued, then ``None``."""
        with self._notifier.lock:
            self._closed = True
            self._partial.clear()
            self._notifier.notify()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._closed

    def _ready(self) -> bool:
        return bool(self._chunks) or self._closed

    def _take(self) -> tuple[bool, bytes | None]:
        """``(True, chunk)`` or ``(True, None)`` at the end; ``(False, None)`` if another
        reader got there first."""
        with self._notifier.lock:
            if self._chunks:
                return True, self._chunks.popleft()
            return self._closed, None

    def get(self, timeout: float | None = None) -> bytes | None:
        """The next chunk, waiting for it; ``None`` once closed and empty.

        Raises :class:`TimeoutError` when nothing came within ``timeout`` seconds.
        """
        while True:
            if not self._notifier.wait(self._ready, timeout):
                raise TimeoutError(f"no audio captured within {timeout} s")
            done, chunk = self._take()
            if done:
                return chunk

    async def get_async(self) -> bytes | None:
        """The next chunk, awaiting it; ``None`` once closed and empty."""
        while True:
            await self._notifier.wait_async(self._ready)
            done, chunk = self._take()
            if done:
                return chunk


class PlaybackQueue:
    """Audio waiting to be played, read by the device in blocks of any size."""

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._offset = 0  # bytes of _chunks[0] already read
        self._pending = 0
        self._notifier = _Notifier()

    @property
    def pending(self) -> int:
        """Bytes queued and not yet read."""
        return self._pending

    def write(self, pcm: bytes) -> None:
        """Queue ``pcm`` after whatever is already queued."""
        if not pcm:
            return
        with self._notifier.lock:
            self._chunks.append(pcm)
            self._pending += len(pcm)

    def read(self, size: int) -> bytes:
        """Exactly ``size`` bytes: queued audio, then silence if the queue runs dry."""
        with self._notifier.lock:
            out = bytearray()
            while len(out) < size and self._chunks:
                head = self._chunks[0]
                piece = head[self._offset : self._offset + size - len(out)]
                out += piece
                self._offset += len(piece)
                if self._offset == len(head):
                    self._chunks.popleft()
                    self._offset = 0
            if out:
                self._pending -= len(out)
                if not self._pending:
                    self._notifier.notify()
        if len(out) < size:
            out += bytes(size - len(out))
        return bytes(out)

    def clear(self) -> int:
        """Drop everything queued; returns the number of bytes dropped."""
        with self._notifier.lock:
            dropped = self._pending
            self._chunks.clear()
            self._offset = 0
            self._pending = 0
            self._notifier.notify()
        return dropped

    def _empty(self) -> bool:
        return not self._pending

    def wait_empty(self, timeout: float | None = None) -> bool:
        """Block until everything queued has been read; False on timeout."""
        return self._notifier.wait(self._empty, timeout)

    async def wait_empty_async(self) -> None:
        """Wait, without blocking the event loop, until everything queued has been read."""
        await self._notifier.wait_async(self._empty)
