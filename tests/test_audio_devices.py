"""Microphone and Speaker: the missing-extra message, and their logic on a fake device."""

from __future__ import annotations

import asyncio
import builtins
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from typing import Any

import pytest

from vatel import AudioFormatError
from vatel.audio import FRAME_BYTES, Microphone, Speaker, tone
from vatel.audio._buffers import CaptureQueue, PlaybackQueue

INSTALL = "pip install 'vatel[audio]'"


class FakeStream:
    """Stands in for sounddevice's raw streams; tests drive its callback by hand."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.callback = kwargs["callback"]
        self.started = self.aborted = self.closed = False
        self.running = threading.Event()  # set by start(), for tests to wait on
        self.latency = 0.005

    def start(self) -> None:
        self.started = True
        self.running.set()

    def abort(self, ignore_errors: bool = True) -> None:
        self.aborted = True

    def close(self, ignore_errors: bool = True) -> None:
        self.closed = True


@pytest.fixture
def fake_sounddevice(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[FakeStream]]:
    streams: list[FakeStream] = []

    def make(**kwargs: Any) -> FakeStream:
        stream = FakeStream(**kwargs)
        streams.append(stream)
        return stream

    module = types.ModuleType("sounddevice")
    module.RawInputStream = make  # type: ignore[attr-defined]
    module.RawOutputStream = make  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    yield streams


def pull(stream: FakeStream, frames: int) -> bytes:
    """Ask an output stream for ``frames`` samples, as the device thread would."""
    out = bytearray(2 * frames)
    stream.callback(out, frames, None, 0)
    return bytes(out)


class Player:
    """A device thread pulling 10 ms blocks from an output stream."""

    def __init__(self, stream: FakeStream) -> None:
        self.stream = stream
        self.played = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.played += pull(self.stream, 240)
            time.sleep(0.002)

    def __enter__(self) -> Player:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- the optional extra --------------------------------------------------------------


@pytest.mark.parametrize("device", [Microphone, Speaker])
def test_missing_sounddevice_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, device: type[Any]
) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # makes the import fail

    with pytest.raises(ImportError) as caught:
        device()

    assert INSTALL in str(caught.value)
    assert caught.value.name == "sounddevice"


def test_missing_portaudio_library_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def failing_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(builtins, "__import__", failing_import)

    with pytest.raises(ImportError, match="PortAudio") as caught:
        Speaker()
    assert INSTALL in str(caught.value)


def test_importing_vatel_audio_loads_no_optional_or_heavy_modules() -> None:
    code = (
        "import sys, vatel.audio; "
        "print(sorted(m for m in ('sounddevice', 'numpy', 'fractions') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# --- Speaker -------------------------------------------------------------------------


def test_speaker_plays_queued_audio_then_silence(fake_sounddevice: list[FakeStream]) -> None:
    speaker = Speaker()
    stream = fake_sounddevice[0]
    assert stream.started
    assert stream.kwargs["samplerate"] == 24_000
    assert stream.kwargs["channels"] == 1
    assert stream.kwargs["dtype"] == "int16"

    pcm = tone(440, 0.03)  # 1440 bytes
    speaker.play(pcm[:1000])
    speaker.play(pcm[1000:])
    assert speaker.buffered == pytest.approx(0.03)

    assert pull(stream, 480) == pcm[:960]
    assert pull(stream, 480) == pcm[960:] + bytes(480)
    assert pull(stream, 100) == bytes(200)
    assert speaker.buffered == 0


def test_flush_drops_what_has_not_been_played(fake_sounddevice: list[FakeStream]) -> None:
    speaker = Speaker()
    stream = fake_sounddevice[0]
    speaker.play(tone(440, 1.0))
    played = pull(stream, 4800)  # 0.2 s reached the device

    dropped = speaker.flush()

    assert dropped == pytest.approx(0.8)
    assert speaker.buffered == 0
    assert played != bytes(len(played))
    assert pull(stream, 480) == bytes(960)  # silence right after the interruption
    speaker.play(b"\x01\x00")
    assert pull(stream, 2) == b"\x01\x00\x00\x00"
    assert speaker.flush() == 0


def test_speaker_close_and_bad_input(fake_sounddevice: list[FakeStream]) -> None:
    with Speaker() as speaker:
        with pytest.raises(AudioFormatError):
            speaker.play(b"\x00\x00\x00")
        speaker.play(tone(440, 0.1))
    stream = fake_sounddevice[0]

    assert speaker.closed
    assert stream.aborted
    assert stream.closed
    assert speaker.buffered == 0
    with pytest.raises(RuntimeError, match="closed"):
        speaker.play(b"\x00\x00")
    speaker.close()  # idempotent


def test_drain_waits_until_everything_has_played(fake_sounddevice: list[FakeStream]) -> None:
    speaker = Speaker()
    pcm = tone(440, 0.1)
    speaker.play(pcm)
    assert speaker.drain(timeout=0.05) is False  # nothing is consuming yet

    with Player(fake_sounddevice[0]) as player:
        assert speaker.drain(timeout=5) is True  # False: it gave up at the timeout
        assert speaker.buffered == 0
    assert bytes(player.played[: len(pcm)]) == pcm


@pytest.mark.anyio
async def test_adrain_waits_without_blocking_the_loop(
    fake_sounddevice: list[FakeStream],
) -> None:
    speaker = Speaker()
    speaker.play(tone(440, 0.1))

    with Player(fake_sounddevice[0]):
        await asyncio.wait_for(speaker.adrain(), timeout=5)

    assert speaker.buffered == 0


# --- Microphone ----------------------------------------------------------------------


def feed(stream: FakeStream, pcm: bytes, block_frames: int) -> None:
    for start in range(0, len(pcm), 2 * block_frames):
        block = pcm[start : start + 2 * block_frames]
        stream.callback(block, len(block) // 2, None, 0)


def test_microphone_yields_20_ms_chunks(fake_sounddevice: list[FakeStream]) -> None:
    mic = Microphone()
    stream = fake_sounddevice[0]
    assert stream.kwargs["samplerate"] == 24_000
    assert stream.kwargs["blocksize"] == 480
    assert stream.kwargs["channels"] == 1
    assert not stream.started

    pcm = tone(440, 0.2)
    got: list[bytes] = []
    all_read = threading.Event()

    def capture() -> None:
        for chunk in mic:
            got.append(chunk)
            if len(got) == 10:
                all_read.set()

    reader = threading.Thread(target=capture)
    reader.start()
    assert stream.running.wait(5), "iterating did not start the stream"
    feed(stream, pcm + b"\x00" * 100, block_frames=333)  # the device's block size varies
    assert all_read.wait(5), "the reader did not get the audio while the microphone was open"
    mic.close()
    reader.join(timeout=5)

    assert not reader.is_alive()
    assert [len(c) for c in got] == [FRAME_BYTES] * 10
    assert b"".join(got) == pcm
    assert stream.aborted
    assert stream.closed


@pytest.mark.anyio
async def test_microphone_async_iteration(fake_sounddevice: list[FakeStream]) -> None:
    mic = Microphone(chunk_ms=10)
    stream = fake_sounddevice[0]
    pcm = tone(440, 0.1)

    def device() -> None:
        try:
            if stream.running.wait(5):  # audio flows once iterating has started the stream
                feed(stream, pcm, block_frames=240)
        finally:
            mic.close()

    thread = threading.Thread(target=device)
    thread.start()
    got = [chunk async for chunk in mic]
    thread.join()

    assert [len(c) for c in got] == [480] * 10
    assert b"".join(got) == pcm


def test_a_slow_reader_loses_the_oldest_audio(fake_sounddevice: list[FakeStream]) -> None:
    with Microphone(max_buffered_ms=100) as mic:  # room for five chunks
        stream = fake_sounddevice[0]
        assert stream.started
        pcm = tone(440, 0.2)
        feed(stream, pcm, block_frames=480)

    # What was captured before closing can still be read.
    got = list(mic)
    assert mic.dropped_chunks == 5
    assert b"".join(got) == pcm[-5 * FRAME_BYTES :]


def test_microphone_rejects_a_bad_chunk_size(fake_sounddevice: list[FakeStream]) -> None:
    with pytest.raises(ValueError, match="chunk_ms"):
        Microphone(chunk_ms=0)
    assert fake_sounddevice == []


# --- the queues behind them ----------------------------------------------------------


def test_capture_queue_keeps_the_newest_chunks_when_full() -> None:
    queue = CaptureQueue(chunk_bytes=4, max_chunks=2)
    queue.put(b"aaaabbbbcc")
    queue.put(b"ccdddd")
    queue.close()

    assert queue.dropped == 2
    assert [queue.get(), queue.get(), queue.get()] == [b"cccc", b"dddd", None]
    queue.put(b"eeee")  # ignored once closed
    assert queue.get() is None


def test_capture_queue_get_times_out() -> None:
    queue = CaptureQueue(chunk_bytes=4, max_chunks=2)
    queue.put(b"ab")
    with pytest.raises(TimeoutError):
        queue.get(timeout=0.02)


@pytest.mark.anyio
async def test_capture_queue_wakes_an_async_reader_from_another_thread() -> None:
    queue = CaptureQueue(chunk_bytes=2, max_chunks=10)
    reader = asyncio.ensure_future(queue.get_async())
    await asyncio.sleep(0)  # the reader runs up to its wait
    assert not reader.done()

    device = threading.Thread(target=queue.put, args=(b"xy",))
    device.start()
    chunk = await asyncio.wait_for(reader, timeout=5)

    assert chunk == b"xy"
    device.join()


def test_playback_queue_reads_across_writes_and_pads_with_silence() -> None:
    queue = PlaybackQueue()
    queue.write(b"ab")
    queue.write(b"")
    queue.write(b"cdef")
    assert queue.pending == 6

    assert queue.read(3) == b"abc"
    assert queue.read(2) == b"de"
    assert queue.read(4) == b"f\x00\x00\x00"
    assert queue.pending == 0
    assert queue.wait_empty(timeout=0) is True

    queue.write(b"gh")
    assert queue.clear() == 2
    assert queue.read(2) == b"\x00\x00"
