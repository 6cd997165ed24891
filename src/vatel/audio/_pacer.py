"""Releasing audio chunks at real-time speed, for streaming files or buffers as if live.

The schedule (when each chunk is due) is worked out by :class:`_Schedule`, which
reads no clock and never sleeps; :func:`paced` and :func:`apaced` only read the
clock and wait. Both take the clock and the sleep as arguments, so that a caller
can drive them with simulated time, or wait with another library's sleep.
"""

from __future__ import annotations

import math
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
)
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


def _check_callable(name: str, value: object) -> None:
    if not callable(value):
        raise TypeError(f"{name} must be callable, not {type(value).__name__}.")


class _Schedule:
    """When each chunk is due, given the time the caller reads: no clock, no sleep."""

    __slots__ = ("_factor", "_fixed", "_offset", "_start")

    def __init__(self, ms_per_chunk: float | None, speed: float) -> None:
        self._factor = _seconds_per_second(speed)
        self._fixed = _fixed_duration(ms_per_chunk)
        self._start: float | None = None
        self._offset = 0.0  # seconds of audio released so far

    @property
    def waits(self) -> bool:
        """False at speed 0 or ``inf``: then no chunk is ever held back."""
        return bool(self._factor)

    def delay(self, now: float) -> float:
        """Seconds to hold the next chunk back, ``now`` being the clock's reading.

        The first call starts the schedule: every later chunk is due a fixed
        time after that start, so a late wake-up or a slow consumer shifts no
        later chunk and errors never add up.
        """
        if self._start is None:
            self._start = now
            return 0.0
        return max(0.0, self._start + self._offset * self._factor - now)

    def released(self, chunk: bytes) -> None:
        """Count ``chunk``'s duration as played."""
        self._offset += self._fixed if self._fixed is not None else duration_of(len(chunk))


def paced(
    chunks: Iterable[bytes],
    *,
    ms_per_chunk: float | None = None,
    speed: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> Iterator[bytes]:
    """Yield ``chunks`` no faster than they would play.

    Chunk *n* is released once the audio before it has had time to play, counted
    from when the first chunk was released, so timing errors do not add up. A
    chunk's duration is ``ms_per_chunk``, or else its length as PCM16 24 kHz mono.
    ``speed`` 2.0 runs twice as fast; 0 or ``inf`` does not wait at all. A
    consumer that falls behind gets the chunks that are already due at once,
    and none before it is due. Chunks are taken from ``chunks`` one at a time,
    as they are released.

    ``clock`` (seconds, never going backwards) and ``sleep`` are what the pacer
    reads and waits with.
    """
    schedule = _Schedule(ms_per_chunk, speed)
    _check_callable("clock", clock)
    _check_callable("sleep", sleep)
    return _paced(chunks, schedule, clock, sleep)


def _paced(
    chunks: Iterable[bytes],
    schedule: _Schedule,
    clock: Callable[[], float],
    sleep: Callable[[float], object],
) -> Iterator[bytes]:
    for chunk in chunks:
        if schedule.waits:
            delay = schedule.delay(clock())
            if delay > 0:
                sleep(delay)
        yield chunk
        schedule.released(chunk)


def apaced(
    chunks: Iterable[bytes] | AsyncIterable[bytes],
    *,
    ms_per_chunk: float | None = None,
    speed: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[object]] | None = None,
) -> AsyncIterator[bytes]:
    """Async version of :func:`paced`: waits by awaiting ``sleep``.

    ``chunks`` may be a sync or an async iterable. ``sleep`` defaults to
    :func:`asyncio.sleep`.
    """
    schedule = _Schedule(ms_per_chunk, speed)
    _check_callable("clock", clock)
    if sleep is not None:
        _check_callable("sleep", sleep)
    return _apaced(chunks, schedule, clock, sleep)


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
    chunks: Iterable[bytes] | AsyncIterable[bytes],
    schedule: _Schedule,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[object]] | None,
) -> AsyncIterator[bytes]:
    if sleep is None:
        import asyncio  # here, so that importing vatel.audio stays cheap

        sleep = asyncio.sleep
    async with aclosing(_items(chunks)) as items:
        async for chunk in items:
            if schedule.waits:
                delay = schedule.delay(clock())
                if delay > 0:
                    await sleep(delay)
            yield chunk
            schedule.released(chunk)
