"""Releasing audio chunks at real-time speed, for streaming files or buffers as if live."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Iterator
from contextlib import aclosing

from ._format import duration_of

__all__ = ["apaced", "paced"]


def _seconds_per_second(speed: float) -> float:
    """Wall-clock seconds per second of audio; 0.0 means never wait."""
    if isinstance(speed, bool) or not isinstance(speed, (int, float)):
        raise TypeError(f"speed must be a number, not {type(speed).__name__}.")
    if math.isnan(speed) or speed < 0:
        raise ValueError(f"speed must be >= 0 (0 or inf: as fast as possible), not {speed!r}.")
    if speed == 0 or math.isinf(speed):
        return 0.0
    return 1.0 / speed


def _fixed_duration(ms_per_chunk: float | None) -> float | None:
    if ms_per_chunk is None:
        return None
    if isinstance(ms_per_chunk, bool) or not isinstance(ms_per_chunk, (int, float)):
        raise TypeError(f"ms_per_chunk must be a number, not {type(ms_per_chunk).__name__}.")
    if not math.isfinite(ms_per_chunk) or ms_per_chunk < 0:
        raise ValueError(f"ms_per_chunk must be a finite number >= 0, not {ms_per_chunk!r}.")
    return ms_per_chunk / 1000


def paced(
    chunks: Iterable[bytes], *, ms_per_chunk: float | None = None, speed: float = 1.0
) -> Iterator[bytes]:
    """Yield ``chunks`` no faster than they would play.

    Chunk *n* is released once the audio before it has had time to play, counted
    from when the first chunk was released, so timing errors do not add up. A
    chunk's duration is ``ms_per_chunk``, or else its length as PCM16 24 kHz mono.
    ``speed`` 2.0 runs twice as fast; 0 or ``inf`` does not wait at all. A
    consumer that falls behind gets the late chunks at once.
    """
    factor = _seconds_per_second(speed)
    fixed = _fixed_duration(ms_per_chunk)
    return _paced(chunks, fixed, factor)


def _paced(chunks: Iterable[bytes], fixed: float | None, factor: float) -> Iterator[bytes]:
    start: float | None = None
    offset = 0.0  # seconds of audio released so far
    for chunk in chunks:
        if start is None:
            start = time.monotonic()
        elif factor:
            delay = start + offset * factor - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        yield chunk
        offset += fixed if fixed is not None else duration_of(len(chunk))


def apaced(
    chunks: Iterable[bytes] | AsyncIterable[bytes],
    *,
    ms_per_chunk: float | None = None,
    speed: float = 1.0,
) -> AsyncIterator[bytes]:
    """Async version of :func:`paced`: waits with ``asyncio.sleep``.

    ``chunks`` may be a sync or an async iterable.
    """
    factor = _seconds_per_second(speed)
    fixed = _fixed_duration(ms_per_chunk)
    return _apaced(chunks, fixed, factor)


async def _items(
    chunks: Iterable[bytes] | AsyncIterable[bytes],
) -> AsyncGenerator[bytes, None]:
    if isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            yield chunk
    else:
        for chunk in chunks:
            yield chunk


async def _apaced(
    chunks: Iterable[bytes] | AsyncIterable[bytes], fixed: float | None, factor: float
) -> AsyncIterator[bytes]:
    import asyncio  # here, so that importing vatel.audio stays cheap

    start: float | None = None
    offset = 0.0
    async with aclosing(_items(chunks)) as items:
        async for chunk in items:
            if start is None:
                start = time.monotonic()
            elif factor:
                delay = start + offset * factor - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            yield chunk
            offset += fixed if fixed is not None else duration_of(len(chunk))
