"""Live microphone capture and speaker playback, through the optional ``sounddevice``
package (``pip install 'vatel[audio]'``), imported only when a device is opened."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any

from typing_extensions import Buffer

from .._pcm import pcm16_bytes
from ._buffers import CaptureQueue, PlaybackQueue
from ._convert import byteswap
from ._format import CHANNELS, FRAME_MS, SAMPLE_RATE, SAMPLE_WIDTH, duration_of

__all__ = ["INSTALL_HINT", "Microphone", "Speaker"]

INSTALL_HINT = "pip install 'vatel[audio]'"


def _sounddevice() -> Any:
    """The ``sounddevice`` module, or an ImportError that says how to get it."""
    try:
        import sounddevice
    except ImportError as exc:
        raise ImportError(
            "Microphone and Speaker need the optional sounddevice package; "
            f"install it with: {INSTALL_HINT}",
            name="sounddevice",
        ) from exc
    except OSError as exc:  # sounddevice found, but not the PortAudio library
        raise ImportError(
            f"sounddevice could not load the PortAudio library ({exc}). Install PortAudio "
            "(for example the libportaudio2 package on Debian or Ubuntu), then retry; "
            f"the Python side is installed with: {INSTALL_HINT}",
            name="sounddevice",
        ) from exc
    return sounddevice


def _native(pcm: bytes) -> bytes:
    # PortAudio exchanges int16 samples in the machine's byte order.
    return byteswap(pcm, SAMPLE_WIDTH) if sys.byteorder == "big" else pcm


class Microphone:
    """Captures session audio from an input device: chunks of PCM16, 24 kHz, mono.

    Iterate with ``for`` or ``async for`` to receive ``chunk_ms`` chunks (20 ms,
    960 bytes, by default); once :meth:`close` is called, from any thread or task,
    iteration ends after the chunks already captured. Capture starts at the first
    iteration, on :meth:`start`, or on entering a ``with`` block. When the reader
    falls more than ``max_buffered_ms`` behind, the oldest chunks are dropped (see
    :attr:`dropped_chunks`).

    ``device`` is a sounddevice device index or name (default: the system's input).
    Needs the optional extra: ``pip install 'vatel[audio]'``.
    """

    def __init__(
        self,
        *,
        device: int | str | None = None,
        chunk_ms: int = FRAME_MS,
        max_buffered_ms: int = 1000,
    ) -> None:
        if isinstance(chunk_ms, bool) or not isinstance(chunk_ms, int) or chunk_ms < 1:
            raise ValueError(f"chunk_ms must be a positive integer, not {chunk_ms!r}.")
        sounddevice = _sounddevice()
        frames = SAMPLE_RATE * chunk_ms // 1000
        self._queue = CaptureQueue(frames * SAMPLE_WIDTH, max(1, max_buffered_ms // chunk_ms))
        self._status_errors = 0
        self._started = False
        self._closed = False
        self._stream = sounddevice.RawInputStream(
            samplerate=SAMPLE_RATE,
            blocksize=frames,
            device=device,
            channels=CHANNELS,
            dtype="int16",
            callback=self._on_audio,
        )

    def _on_audio(self, indata: Any, frames: int, time_info: Any, status: Any) -> None:
        if status:
            self._status_errors += 1
        self._queue.put(_native(bytes(indata)))

    @property
    def dropped_chunks(self) -> int:
        """Chunks discarded because the reader fell behind."""
        return self._queue.dropped

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._closed

    def start(self) -> None:
        """Start capturing (idempotent)."""
        if self._closed:
            raise RuntimeError("Microphone is closed")
        if not self._started:
            self._stream.start()
            self._started = True

    def close(self) -> None:
        """Stop capturing and end any iteration (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._queue.close()
        try:
            self._stream.abort(ignore_errors=True)
        finally:
            self._stream.close(ignore_errors=True)

    def __iter__(self) -> Iterator[bytes]:
        if not self._closed:
            self.start()
        while (chunk := self._queue.get()) is not None:
            yield chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if not self._closed:
            self.start()
        while (chunk := await self._queue.get_async()) is not None:
            yield chunk

    def __enter__(self) -> Microphone:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Speaker:
    """Plays session audio (PCM16, 24 kHz, mono) on an output device.

    :meth:`play` only queues audio and returns at once; a device thread plays it,
    with silence whenever the queue is empty. :meth:`flush` drops what has not been
    played yet (call it when the user interrupts the agent). :meth:`drain` waits
    for the queue to play out; :meth:`close` stops at once.

    ``device`` is a sounddevice device index or name (default: the system's
    output); ``latency`` is passed to sounddevice ("low", "high" or seconds).
    Needs the optional extra: ``pip install 'vatel[audio]'``.
    """

    def __init__(self, *, device: int | str | None = None, latency: float | str = "low") -> None:
        sounddevice = _sounddevice()
        self._queue = PlaybackQueue()
        self._closed = False
        self._stream = sounddevice.RawOutputStream(
            samplerate=SAMPLE_RATE,
            device=device,
            channels=CHANNELS,
            dtype="int16",
            latency=latency,
            callback=self._on_output,
        )
        try:
            self._stream.start()
        except BaseException:
            self._stream.close(ignore_errors=True)
            raise

    def _on_output(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        outdata[:] = _native(self._queue.read(frames * SAMPLE_WIDTH))

    @property
    def buffered(self) -> float:
        """Seconds of audio queued and not yet handed to the device."""
        return duration_of(self._queue.pending)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._closed

    def play(self, pcm: Buffer) -> None:
        """Queue PCM16 24 kHz mono audio (bytes or a buffer of 16-bit samples) for
        playback and return immediately."""
        if self._closed:
            raise RuntimeError("Speaker is closed")
        self._queue.write(pcm16_bytes(pcm))

    def flush(self) -> float:
        """Drop all queued audio not yet played; returns how many seconds were dropped."""
        return duration_of(self._queue.clear())

    def _output_latency(self) -> float:
        latency = getattr(self._stream, "latency", 0.0)
        return float(latency) if isinstance(latency, (int, float)) else 0.0

    def drain(self, timeout: float | None = None) -> bool:
        """Block until the queued audio has played; False if ``timeout`` seconds passed first."""
        if not self._queue.wait_empty(timeout):
            return False
        # The last block is still in the device's buffer when the queue empties.
        time.sleep(self._output_latency())
        return True

    async def adrain(self) -> None:
        """Wait, without blocking the event loop, until the queued audio has played."""
        import asyncio

        await self._queue.wait_empty_async()
        await asyncio.sleep(self._output_latency())

    def close(self) -> None:
        """Stop playback at once, dropping anything queued (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._queue.clear()
        try:
            self._stream.abort(ignore_errors=True)
        finally:
            self._stream.close(ignore_errors=True)

    def __enter__(self) -> Speaker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
