"""Reading WAV files into session audio, and writing session audio to WAV files."""

from __future__ import annotations

import io
import os
import struct
import sys
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO, Union

from ._convert import byteswap, convert
from ._format import SAMPLE_RATE, SAMPLE_WIDTH, check_pcm16
from ._riff import RawWav, check_params, parse

__all__ = ["WavInfo", "WavSource", "WavWriter", "read_wav", "wav_info", "write_wav"]

WavSource = Union[str, "os.PathLike[str]", BinaryIO]


@dataclass(frozen=True)
class WavInfo:
    """What a WAV file holds, as declared by its header."""

    sample_rate: int
    """Frames per second."""
    channels: int
    """Number of interleaved channels."""
    sample_width: int
    """Bytes per sample: 1 (unsigned 8-bit), 2, 3 or 4 (signed)."""
    frames: int
    """Number of frames (samples per channel)."""

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate


@contextmanager
def _readable(source: WavSource) -> Iterator[BinaryIO]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        raise TypeError("Expected a path or a binary file; wrap WAV bytes in io.BytesIO.")
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as file:
            yield file
    elif source.seekable():
        yield source
    else:
        # Buffered so that a failed parse can be diagnosed from the start.
        yield io.BytesIO(source.read())


def _load(source: WavSource, *, read_data: bool) -> RawWav:
    with _readable(source) as stream:
        start = stream.tell()
        try:
            with wave.open(stream, "rb") as reader:
                channels = reader.getnchannels()
                width = reader.getsampwidth()
                rate = reader.getframerate()
                frames = reader.getnframes()
                check_params(channels, rate, width, 8 * width)
                data = reader.readframes(frames) if read_data else b""
        except (wave.Error, EOFError, struct.error):
            stream.seek(start)
            return parse(stream, read_data=read_data)
    if sys.byteorder == "big":
        data = byteswap(data, width)  # `wave` hands out native-order samples
    if read_data:
        data = data[: len(data) - len(data) % (channels * width)]
        frames = len(data) // (channels * width)
    return RawWav(channels, rate, width, frames, data)


def wav_info(source: WavSource) -> WavInfo:
    """Sample rate, channels, sample width and length of a WAV file, from its header.

    ``source`` is a path or a binary file (read from its current position, not
    closed). Raises :class:`~vatel.AudioFormatError` for anything but a readable
    integer-PCM WAV file.
    """
    raw = _load(source, read_data=False)
    return WavInfo(raw.sample_rate, raw.channels, raw.sample_width, raw.frames)


def read_wav(source: WavSource) -> bytes:
    """Read a WAV file as session audio: PCM16, 24 kHz, mono.

    Accepts integer PCM at 8 bits (unsigned) or 16, 24 or 32 bits (signed), any
    sample rate from 1 to 1,000 kHz, and any number of channels (averaged into
    one). ``source`` is a path or a binary file (read from its current position,
    not closed). Raises :class:`~vatel.AudioFormatError` saying what the file
    holds when it is not such a file.
    """
    raw = _load(source, read_data=True)
    return convert(
        raw.data, sample_rate=raw.sample_rate, channels=raw.channels, sample_width=raw.sample_width
    )


def _open_wave(dest: WavSource, sample_rate: int) -> tuple[wave.Wave_write, BinaryIO | None]:
    if isinstance(dest, (bytes, bytearray, memoryview)):
        raise TypeError("Expected a path or a binary file to write to.")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 1:
        raise ValueError(f"sample_rate must be a positive integer, not {sample_rate!r}.")
    owned: BinaryIO | None = None
    if isinstance(dest, (str, os.PathLike)):
        # Closed by the caller, once the wave writer is done with it.
        owned = open(dest, "wb")  # noqa: SIM115
        dest = owned
    writer = wave.open(dest, "wb")  # noqa: SIM115
    writer.setnchannels(1)
    writer.setsampwidth(SAMPLE_WIDTH)
    writer.setframerate(sample_rate)
    return writer, owned


def _file_order(pcm: bytes) -> bytes:
    # `wave` expects native-order samples and swaps them to little-endian itself.
    return byteswap(pcm, SAMPLE_WIDTH) if sys.byteorder == "big" else bytes(pcm)


class WavWriter:
    """Writes PCM16 mono audio (24 kHz unless told otherwise) to a WAV file.

    ``dest`` is a path or a seekable binary file (left open). Use as a context
    manager, or call :meth:`close`: the header's length fields are written then.
    """

    def __init__(self, dest: WavSource, *, sample_rate: int = SAMPLE_RATE) -> None:
        self._writer, self._owned = _open_wave(dest, sample_rate)
        self._sample_rate = sample_rate
        self._frames = 0
        self._closed = False

    @property
    def sample_rate(self) -> int:
        """Frames per second written to the header."""
        return self._sample_rate

    @property
    def frames_written(self) -> int:
        """Samples written so far."""
        return self._frames

    @property
    def duration(self) -> float:
        """Seconds of audio written so far."""
        return self._frames / self._sample_rate

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._closed

    def write(self, pcm: bytes) -> None:
        """Append PCM16 mono little-endian audio; odd-length input raises AudioFormatError."""
        if self._closed:
            raise ValueError("write to a closed WavWriter")
        check_pcm16(pcm)
        self._writer.writeframesraw(_file_order(pcm))
        self._frames += len(pcm) // SAMPLE_WIDTH

    def close(self) -> None:
        """Finish the header and close the file if this writer opened it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._writer.close()
        finally:
            if self._owned is not None:
                self._owned.close()

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def write_wav(dest: WavSource, pcm: bytes, sample_rate: int = SAMPLE_RATE) -> None:
    """Write PCM16 mono audio at ``sample_rate`` Hz to a WAV file.

    ``dest`` is a path or a binary file (left open; it need not be seekable).
    """
    check_pcm16(pcm)
    writer, owned = _open_wave(dest, sample_rate)
    try:
        # Declaring the length up front means the header never has to be rewritten.
        writer.setnframes(len(pcm) // SAMPLE_WIDTH)
        writer.writeframesraw(_file_order(pcm))
        writer.close()
    finally:
        if owned is not None:
            owned.close()
