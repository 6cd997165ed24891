"""Getting session audio onto the wire: chunks, base64, and real-time pacing."""

from __future__ import annotations

import asyncio
import base64
import time
import tracemalloc
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
)
from typing import Any

import pytest

from _clock import FakeClock
from vatel import AudioFormatError
from vatel.audio import (
    FRAME_BYTES,
    apaced,
    chunks,
    decode_base64,
    duration_of,
    encode_base64,
    paced,
    silence,
    tone,
)

# --- chunks --------------------------------------------------------------------------


def test_one_second_is_fifty_20_ms_chunks() -> None:
    pcm = tone(440, 1.0)
    parts = list(chunks(pcm))
    assert [len(p) for p in parts] == [FRAME_BYTES] * 50 == [960] * 50
    assert b"".join(parts) == pcm


def test_last_chunk_may_be_shorter_but_holds_whole_samples() -> None:
    pcm = silence(0.105)  # 2520 samples
    sizes = [len(p) for p in chunks(pcm, ms=10)]
    assert sizes == [480] * 10 + [240]
    assert all(size % 2 == 0 for size in sizes)
    assert [len(p) for p in chunks(b"\x00\x00" * 7, ms=0.125)] == [6, 6, 2]


def test_chunking_empty_audio_yields_nothing() -> None:
    assert list(chunks(b"")) == []


def test_odd_length_or_bad_duration_is_rejected_before_iterating() -> None:
    with pytest.raises(AudioFormatError, match="even number of bytes"):
        chunks(b"\x00" * 961)
    with pytest.raises(ValueError, match="ms"):
        chunks(b"\x00\x00", ms=0)
    with pytest.raises(ValueError, match="ms"):
        chunks(b"\x00\x00", ms=float("nan"))


def test_chunks_accept_bytearray_and_return_bytes() -> None:
    parts = list(chunks(bytearray(2000)))  # type: ignore[arg-type]
    assert all(type(p) is bytes for p in parts)
    assert sum(map(len, parts)) == 2000


# --- base64 --------------------------------------------------------------------------


def test_base64_round_trip() -> None:
    pcm = tone(440, 0.02)
    text = encode_base64(pcm)
    assert isinstance(text, str)
    assert text == base64.b64encode(pcm).decode()
    assert decode_base64(text) == pcm
    assert decode_base64("") == b"" == base64.b64decode(encode_base64(b""))


@pytest.mark.parametrize(
    "bad",
    ["not base64!", "AAA", "AAAAA", "AA=A", "AA\nAA", "é"],
)
def test_invalid_base64_raises_audio_format_error(bad: str) -> None:
    with pytest.raises(AudioFormatError, match="Invalid base64"):
        decode_base64(bad)


def test_odd_decoded_length_is_rejected() -> None:
    with pytest.raises(AudioFormatError, match="3 bytes"):
        decode_base64(base64.b64encode(b"abc").decode())
    with pytest.raises(AudioFormatError):
        encode_base64(b"abc")


def test_error_message_does_not_echo_megabytes() -> None:
    huge = "A" * 3_000_000 + "*"
    with pytest.raises(AudioFormatError) as caught:
        decode_base64(huge)
    message = str(caught.value)
    assert len(message) < 300
    assert "3000001 characters" in message


# --- pacing --------------------------------------------------------------------------
#
# Every schedule runs on a fake clock: the pacer's sleeps return at once and move
# the fake time by what was asked, and a consumer's work moves it by hand. Each
# test then checks the time at which every chunk reached the consumer.

FLAVOURS = ("sync", "async")


def release_times(
    flavour: str,
    source: Iterable[bytes] | AsyncIterable[bytes],
    clock: FakeClock,
    *,
    work: Callable[[int], None] | None = None,
    **options: Any,
) -> tuple[list[bytes], list[float]]:
    """The chunks ``paced`` (sync) or ``apaced`` (async) released, and the fake
    time at which each reached the consumer; ``work(i)`` runs after chunk ``i``."""
    got: list[bytes] = []
    times: list[float] = []

    def take(chunk: bytes) -> None:
        times.append(clock.now)
        got.append(chunk)
        if work is not None:
            work(len(got) - 1)

    if flavour == "sync":
        assert isinstance(source, Iterable)
        for chunk in paced(source, clock=clock, sleep=clock.sleep, **options):
            take(chunk)
    else:

        async def consume() -> None:
            async for chunk in apaced(source, clock=clock, sleep=clock.asleep, **options):
                take(chunk)

        asyncio.run(consume())
    return got, times


def every(step: float, count: int, first: int = 0) -> list[float]:
    """``count`` release times ``step`` seconds apart, from chunk ``first`` on."""
    return [(first + k) * step for k in range(count)]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_paced_releases_chunks_at_real_time_speed(flavour: str) -> None:
    parts = list(chunks(silence(0.2)))  # ten 20 ms chunks
    clock = FakeClock()

    got, times = release_times(flavour, parts, clock)

    assert got == parts
    # Chunk k goes out once the k chunks before it (k * 20 ms) could have played.
    assert times == pytest.approx(every(0.02, 10), abs=1e-9)
    assert clock.sleeps == pytest.approx([0.02] * 9, abs=1e-9)


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("speed", [0, 0.0, float("inf")])
def test_speed_zero_or_infinite_does_not_wait(flavour: str, speed: float) -> None:
    parts = list(chunks(silence(1.0)))
    clock = FakeClock()

    got, times = release_times(flavour, parts, clock, speed=speed)

    assert got == parts
    assert clock.sleeps == []
    assert times == [0.0] * 50


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize(("speed", "step"), [(2.0, 0.01), (0.5, 0.04), (4, 0.005)])
def test_speed_scales_the_schedule(flavour: str, speed: float, step: float) -> None:
    parts = list(chunks(silence(0.4)))  # 20 chunks of 20 ms

    _, times = release_times(flavour, parts, FakeClock(), speed=speed)

    assert times == pytest.approx(every(step, 20), abs=1e-9)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_ms_per_chunk_overrides_the_length(flavour: str) -> None:
    tiny = [b"\x00\x00"] * 6  # 1/24 ms each, by length

    _, times = release_times(flavour, tiny, FakeClock(), ms_per_chunk=40)

    assert times == pytest.approx(every(0.04, 6), abs=1e-9)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_duration_is_taken_from_each_chunk(flavour: str) -> None:
    parts = [silence(0.1), silence(0.01), silence(0.01), silence(0.05)]

    _, times = release_times(flavour, parts, FakeClock())

    assert times == pytest.approx([0.0, 0.1, 0.11, 0.12], abs=1e-9)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_slow_consumer_does_not_make_the_schedule_drift(flavour: str) -> None:
    parts = list(chunks(silence(0.5)))  # 25 chunks
    clock = FakeClock()

    # 12 ms of work after each chunk, shorter than a chunk.
    _, times = release_times(flavour, parts, clock, work=lambda i: clock.advance(0.012))

    # On schedule: the pacer waits only the 8 ms the work left of each chunk.
    # Sleeping a fixed 20 ms after each chunk would release chunk k at k * 32 ms.
    assert times == pytest.approx(every(0.02, 25), abs=1e-9)
    assert clock.sleeps == pytest.approx([0.008] * 24, abs=1e-9)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_stalled_consumer_catches_up_instead_of_falling_behind(flavour: str) -> None:
    parts = list(chunks(silence(0.4)))  # 20 chunks
    clock = FakeClock()

    def hiccup(i: int) -> None:
        if i == 2:
            clock.advance(0.15)  # 150 ms lost after the third chunk

    _, times = release_times(flavour, parts, clock, work=hiccup)

    # At 190 ms the chunks due at 60..180 ms go out at once; the one due at 200 ms
    # is not sent early, and from there the schedule is the original one.
    assert times == pytest.approx(every(0.02, 3) + [0.19] * 7 + every(0.02, 10, 10), abs=1e-9)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_consumer_slower_than_real_time_is_never_made_to_wait(flavour: str) -> None:
    parts = list(chunks(silence(0.2)))
    clock = FakeClock()

    _, times = release_times(flavour, parts, clock, work=lambda i: clock.advance(0.03))

    assert clock.sleeps == []
    assert times == pytest.approx(every(0.03, 10), abs=1e-9)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_schedule_starts_when_the_first_chunk_arrives(flavour: str) -> None:
    clock = FakeClock()

    def late_source() -> Iterator[bytes]:
        clock.advance(5.0)  # opening the file, say
        yield from chunks(silence(0.06))

    _, times = release_times(flavour, late_source(), clock)

    assert times == pytest.approx([5.0, 5.02, 5.04], abs=1e-9)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_chunks_are_taken_one_at_a_time_from_an_endless_source(flavour: str) -> None:
    clock = FakeClock()
    pulled = 0
    ahead: set[int] = set()  # chunks taken beyond the ones released, at each release

    def endless() -> Iterator[bytes]:
        nonlocal pulled
        while True:
            pulled += 1
            yield bytes(960)  # a new 20 ms chunk each time, as from a file or socket

    def release(count: int) -> None:
        ahead.add(pulled - count)

    tracemalloc.start()
    try:
        if flavour == "sync":
            for count, _ in enumerate(paced(endless(), clock=clock, sleep=clock.sleep), 1):
                release(count)
                if count == 3000:
                    break
        else:

            async def consume() -> None:
                count = 0
                async for _ in apaced(endless(), clock=clock, sleep=clock.asleep):
                    count += 1
                    release(count)
                    if count == 3000:
                        break

            asyncio.run(consume())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert ahead == {0}, "the pacer read ahead of what it released"
    assert clock.now == pytest.approx(2999 * 0.02)
    # 3000 chunks are 2.9 MB; the pacer holds on to none of them.
    assert peak < 1024 * 1024


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_with_the_default_clock_no_wait_is_longer_than_a_chunk(flavour: str) -> None:
    """The real clock and sleep: each wait is what is left of one 5 ms chunk."""
    parts = list(chunks(silence(0.02), ms=1))  # 20 chunks, paced as 5 ms each
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    async def asleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(seconds)

    if flavour == "sync":
        got = list(paced(parts, ms_per_chunk=5, sleep=sleep))
    else:

        async def consume() -> list[bytes]:
            return [part async for part in apaced(parts, ms_per_chunk=5, sleep=asleep)]

        got = asyncio.run(consume())

    assert got == parts
    assert waits, "the real clock never asked for a wait"
    assert all(0 < wait <= 0.005 + 1e-6 for wait in waits)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"speed": -1}, ValueError),
        ({"speed": float("nan")}, ValueError),
        ({"speed": "fast"}, TypeError),
        ({"ms_per_chunk": -20}, ValueError),
        ({"ms_per_chunk": float("inf")}, ValueError),
        ({"clock": 0.0}, TypeError),
        ({"sleep": "soon"}, TypeError),
    ],
)
def test_bad_pacing_arguments_fail_at_the_call(
    kwargs: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        paced([], **kwargs)  # type: ignore[arg-type]
    with pytest.raises(error):
        apaced([], **kwargs)  # type: ignore[arg-type]


@pytest.mark.timeout(10)
@pytest.mark.anyio
async def test_apaced_waits_without_blocking_the_loop() -> None:
    """With the default asyncio sleep, the loop runs other work while a chunk waits."""
    parts = [b"\x00\x00"] * 2  # the second one waits 100 ms
    other_ran = asyncio.Event()

    async def other() -> None:
        await asyncio.sleep(0.001)  # due long before the second chunk
        other_ran.set()

    task = asyncio.ensure_future(other())
    ran_before: list[bool] = []
    async for _ in apaced(parts, ms_per_chunk=100):
        ran_before.append(other_ran.is_set())
    await task

    # The other task's 1 ms timer fired during the 100 ms wait. A blocking
    # sleep would release the second chunk before that timer's task could run.
    assert ran_before == [False, True]


@pytest.mark.anyio
async def test_apaced_accepts_async_iterables() -> None:
    async def source() -> AsyncIterator[bytes]:
        for part in chunks(silence(0.1)):
            yield part

    clock = FakeClock()
    got = [part async for part in apaced(source(), speed=2, clock=clock, sleep=clock.asleep)]

    assert len(got) == 5
    assert sum(map(len, got)) == 4800
    assert clock.sleeps == pytest.approx([0.01] * 4, abs=1e-9)


def test_duration_of_session_audio() -> None:
    assert duration_of(48_000) == 1.0
    assert duration_of(FRAME_BYTES) == 0.02
