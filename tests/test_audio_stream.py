"""Getting session audio onto the wire: chunks, base64, and real-time pacing."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator

import pytest

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


def timed(items: object) -> tuple[list[bytes], float]:
    start = time.monotonic()
    got = list(items)  # type: ignore[call-overload]
    return got, time.monotonic() - start


def test_paced_releases_chunks_at_real_time_speed() -> None:
    parts = list(chunks(silence(0.2)))  # ten 20 ms chunks

    got, elapsed = timed(paced(parts))

    assert got == parts
    # The tenth chunk goes out once the first nine (180 ms) could have played.
    assert elapsed >= 0.18
    assert elapsed < 0.18 * 3


def test_speed_zero_or_infinite_does_not_wait() -> None:
    parts = list(chunks(silence(1.0)))
    for speed in (0, 0.0, float("inf")):
        got, elapsed = timed(paced(parts, speed=speed))
        assert got == parts
        assert elapsed < 0.1


def test_speed_scales_the_schedule() -> None:
    parts = list(chunks(silence(0.4)))  # 20 chunks, 380 ms before the last at 1x

    _, elapsed = timed(paced(parts, speed=2.0))

    assert 0.19 <= elapsed < 0.38


def test_ms_per_chunk_overrides_the_length() -> None:
    tiny = [b"\x00\x00"] * 6

    _, elapsed = timed(paced(tiny, ms_per_chunk=40))

    assert elapsed >= 0.2


def test_a_slow_consumer_does_not_make_the_schedule_drift() -> None:
    parts = list(chunks(silence(0.5)))  # 25 chunks
    start = time.monotonic()
    for _ in paced(parts):
        time.sleep(0.012)  # work done between chunks, shorter than a chunk
    elapsed = time.monotonic() - start

    # On schedule: 480 ms + the last 12 ms of work. Sleeping a fixed 20 ms after
    # each chunk instead would take 25 * 32 ms = 800 ms.
    assert elapsed >= 0.48
    assert elapsed < 0.7


def test_a_stalled_consumer_catches_up_instead_of_falling_behind() -> None:
    parts = list(chunks(silence(0.4)))  # 20 chunks
    start = time.monotonic()
    for i, _ in enumerate(paced(parts)):
        if i == 2:
            time.sleep(0.15)  # a hiccup; the chunks it delayed are then sent at once
    elapsed = time.monotonic() - start

    assert 0.38 <= elapsed < 0.38 + 0.12


def test_duration_is_taken_from_each_chunk() -> None:
    parts = [silence(0.1), silence(0.01), silence(0.01)]

    _, elapsed = timed(paced(parts))

    assert elapsed >= 0.11
    assert elapsed < 0.11 * 3


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"speed": -1}, ValueError),
        ({"speed": float("nan")}, ValueError),
        ({"speed": "fast"}, TypeError),
        ({"ms_per_chunk": -20}, ValueError),
        ({"ms_per_chunk": float("inf")}, ValueError),
    ],
)
def test_bad_pacing_arguments_fail_at_the_call(
    kwargs: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        paced([], **kwargs)  # type: ignore[arg-type]
    with pytest.raises(error):
        apaced([], **kwargs)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_apaced_paces_a_sync_iterable_without_blocking_the_loop() -> None:
    parts = list(chunks(silence(0.2)))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.ensure_future(ticker())
    start = time.monotonic()
    got = [part async for part in apaced(parts)]
    elapsed = time.monotonic() - start
    task.cancel()

    assert got == parts
    assert 0.18 <= elapsed < 0.18 * 3
    assert ticks >= 10  # the loop kept running while chunks waited


@pytest.mark.anyio
async def test_apaced_accepts_async_iterables() -> None:
    async def source() -> AsyncIterator[bytes]:
        for part in chunks(silence(0.1)):
            yield part

    start = time.monotonic()
    got = [part async for part in apaced(source(), speed=2)]
    elapsed = time.monotonic() - start

    assert len(got) == 5
    assert sum(map(len, got)) == 4800
    assert 0.04 <= elapsed < 0.04 * 5


@pytest.mark.anyio
async def test_apaced_with_speed_zero_does_not_wait() -> None:
    start = time.monotonic()
    got = [part async for part in apaced(chunks(silence(2.0)), speed=0)]
    assert len(got) == 100
    assert time.monotonic() - start < 0.2


def test_duration_of_session_audio() -> None:
    assert duration_of(48_000) == 1.0
    assert duration_of(FRAME_BYTES) == 0.02
