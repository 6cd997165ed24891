"""Reading WAV files into session audio, and writing session audio to WAV files."""

from __future__ import annotations

import array
import io
import os
import struct
import sys
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO, Literal, Union

from typing_extensions import Buffer

from .._exceptions import AudioFormatError
from .._pcm import pcm16_bytes
from ._convert import MAX_RATE, MIN_RATE, byteswap, convert, float_to_pcm16
from ._format import SAMPLE_RATE, SAMPLE_WIDTH
from ._g711 import alaw_to_pcm16, ulaw_to_pcm16
from ._riff import RawWav, check_params, parse

__all__ = [
    "WavEncoding",
    "WavInfo",
    "WavSource",
    "WavWriter",
    "read_wav",
    "wav_info",
    "write_wav",
]

WavSource = Union[str, "os.PathLike[str]", BinaryIO]

WavEncoding = Literal["pcm", "float", "ulaw", "alaw"]
"""How a WAV file's samples are stored: integer PCM, IEEE float, μ-law or A-law."""

_SUPPORTED = (
    "Supported: integer PCM (8-bit unsigned, or 16-, 24- or 32-bit signed), 32- or "
    "64-bit IEEE float, and 8-bit mu-law or A-law WAV files, with any number of "
    f"channels, at {MIN_RATE // 1000:,} to {MAX_RATE // 1000:,} kHz."
)
# Format tags the integer-PCM reader of _riff does not take, and what they hold.
_CODED_TAGS: dict[int, WavEncoding] = {0x0003: "float", 0x0006: "alaw", 0x0007: "ulaw"}
_CODED_NAMES = {"float": "IEEE float", "alaw": "A-law", "ulaw": "mu-law"}
_CODED_BITS = {"float": (32, 64), "alaw": (8,), "ulaw": (8,)}
_EXTENSIBLE = 0xFFFE


@dataclass(frozen=True)
class WavInfo:
    """What a WAV file holds, as declared by its header."""

    sample_rate: int
    """Frames per second."""
    channels: int
    """Number of interleaved channels."""
    sample_width: int
    """Bytes per sample: 1, 2, 3 or 4 for integer PCM (8-bit is unsigned), 4 or 8
    for float, 1 for μ-law and A-law."""
    frames: int
    """Number of frames (samples per channel)."""
    encoding: WavEncoding = "pcm"
    """How the samples are stored: ``"pcm"`` (integer), ``"float"``, ``"ulaw"`` or ``"alaw"``."""

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


def _coded_format(body: bytes) -> tuple[WavEncoding, int, int, int] | None:
    """``(encoding, channels, sample_rate, bits)`` of a float or G.711 fmt chunk.

    None for any other fmt chunk, left to :func:`._riff.parse` to accept or explain.
    """
    if len(body) < 16:
        return None
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
    if tag == _EXTENSIBLE and len(body) >= 26:
        tag = int.from_bytes(body[24:26], "little")  # the sub-format GUID's first field
    encoding = _CODED_TAGS.get(tag)
    if encoding is None:
        return None
    if bits not in _CODED_BITS[encoding]:
        raise AudioFormatError(
            f"Unsupported WAV sample size: {bits}-bit {_CODED_NAMES[encoding]}. {_SUPPORTED}"
        )
    if channels < 1:
        raise AudioFormatError(f"Malformed WAV file: it declares {channels} channels.")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioFormatError(f"Unsupported WAV sample rate: {rate} Hz. {_SUPPORTED}")
    return encoding, channels, rate, bits


def _parse_coded(stream: BinaryIO, *, read_data: bool) -> tuple[RawWav, WavEncoding] | None:
    """A float or G.711 WAV file from ``stream`` (at its start); None for any other."""
    head = stream.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    fmt = None
    while True:
        header = stream.read(8)
        if len(header) < 8:
            return None
        chunk_id = header[:4]
        size = int.from_bytes(header[4:], "little")
        if chunk_id == b"fmt ":
            fmt = _coded_format(stream.read(size))
            if fmt is None:
                return None
            stream.seek(size & 1, 1)
        elif chunk_id == b"data":
            if fmt is None:
                return None
            encoding, channels, rate, bits = fmt
            width = bits // 8
            frame = channels * width
            data = stream.read(size) if read_data else b""
            data = data[: len(data) - len(data) % frame]
            frames = len(data) // frame if read_data else size // frame
            return RawWav(channels, rate, width, frames, data), encoding
        else:
            stream.seek(size + (size & 1), 1)


def _load(source: WavSource, *, read_data: bool) -> tuple[RawWav, WavEncoding]:
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
            coded = _parse_coded(stream, read_data=read_data)
            if coded is not None:
                return coded
            stream.seek(start)
            return parse(stream, read_data=read_data), "pcm"
    if sys.byteorder == "big":
        data = byteswap(data, width)  # `wave` hands out native-order samples
    if read_data:
        data = data[: len(data) - len(data) % (channels * width)]
        frames = len(data) // (channels * width)
    return RawWav(channels, rate, width, frames, data), "pcm"


def _decoded(raw: RawWav, encoding: WavEncoding) -> bytes:
    """The interleaved samples of ``raw`` as PCM16."""
    if encoding == "ulaw":
        return ulaw_to_pcm16(raw.data)
    if encoding == "alaw":
        return alaw_to_pcm16(raw.data)
    samples = array.array("f" if raw.sample_width == 4 else "d")
    samples.frombytes(raw.data)
    if sys.byteorder == "big":
        samples.byteswap()  # WAV files are little-endian
    return float_to_pcm16(samples)


def wav_info(source: WavSource) -> WavInfo:
    """Sample rate, channels, sample width, encoding and length of a WAV file, from its header.

    ``source`` is a path or a binary file (read from its current position, not
    closed). Raises :class:`~vatel.AudioFormatError` for anything but a WAV file
    :func:`read_wav` can read.
    """
    raw, encoding = _load(source, read_data=False)
    return WavInfo(raw.sample_rate, raw.channels, raw.sample_width, raw.frames, encoding)


def read_wav(source: WavSource) -> bytes:
    """Read a WAV file as session audio: PCM16, 24 kHz, mono.

    Accepts integer PCM at 8 bits (unsigned) or 16, 24 or 32 bits (signed), IEEE
    float at 32 or 64 bits (clipped to [-1, 1] and scaled by 32767), and 8-bit
    μ-law or A-law, at any sample rate from 1 to 1,000 kHz and with any number of
    channels (averaged into one); WAVE_FORMAT_EXTENSIBLE headers too. ``source``
    is a path or a binary file (read from its current position, not closed).
    Raises :class:`~vatel.AudioFormatError` saying what the file holds when it is
    not such a file.
    """
    raw, encoding = _load(source, read_data=True)
    if encoding == "pcm":
        pcm, width = raw.data, raw.sample_width
    else:
        pcm, width = _decoded(raw, encoding), SAMPLE_WIDTH
    return convert(pcm, sample_rate=raw.sample_rate, channels=raw.channels, sample_width=width)


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
    return byteswap(pcm, SAMPLE_WIDTH) if sys.byteorder == "big" else pcm


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

    def write(self, pcm: Buffer) -> None:
        """Append PCM16 mono little-endian audio (bytes or a buffer of 16-bit samples).

        Odd-length or non-integer input raises :class:`~vatel.AudioFormatError`.
        """
        if self._closed:
            raise ValueError("write to a closed WavWriter")
        data = pcm16_bytes(pcm)
        self._writer.writeframesraw(_file_order(data))
        self._frames += len(data) // SAMPLE_WIDTH

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


def write_wav(dest: WavSource, pcm: Buffer, sample_rate: int = SAMPLE_RATE) -> None:
    """Write PCM16 mono audio at ``sample_rate`` Hz to a WAV file.

    ``pcm`` is bytes or a buffer of 16-bit samples. ``dest`` is a path or a binary
    file (left open; it need not be seekable).
    """
    data = pcm16_bytes(pcm)
    writer, owned = _open_wave(dest, sample_rate)
    try:
        # Declaring the length up front means the header never has to be rewritten.
        writer.setnframes(len(data) // SAMPLE_WIDTH)
        writer.writeframesraw(_file_order(data))
        writer.close()
    finally:
        if owned is not None:
            owned.close()
