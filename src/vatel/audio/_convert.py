"""Conversion of raw PCM (any common rate, width and channel count) to session audio."""

from __future__ import annotations

from .._exceptions import AudioFormatError
from ._format import CHANNELS, SAMPLE_RATE, check_pcm16
from ._resample import FLIP_TOP_BIT, mix_and_resample

__all__ = ["MAX_RATE", "MIN_RATE", "byteswap", "convert", "resample", "to_pcm16"]

MIN_RATE = 1_000
MAX_RATE = 1_000_000
_WIDTH_NAMES = {1: "8-bit unsigned", 2: "16-bit signed", 3: "24-bit signed", 4: "32-bit signed"}


def to_pcm16(data: bytes, width: int) -> bytes:
    """Little-endian integer PCM of ``width`` bytes per sample as signed 16-bit samples.

    Width 1 is unsigned (as in WAV files); wider samples keep their top 16 bits.
    """
    if width == 2:
        return bytes(data)
    count = len(data) // width
    out = bytearray(2 * count)
    if width == 1:
        # Unsigned 8-bit with its top bit flipped is the high byte of signed 16-bit.
        out[1::2] = bytes(data).translate(FLIP_TOP_BIT)
    else:
        out[0::2] = data[width - 2 :: width]
        out[1::2] = data[width - 1 :: width]
    return bytes(out)


def byteswap(data: bytes, width: int) -> bytes:
    """``data`` with the byte order of every ``width``-byte sample reversed."""
    if width == 1:
        return bytes(data)
    out = bytearray(len(data))
    for i in range(width):
        out[i::width] = data[width - 1 - i :: width]
    return bytes(out)


def _check_rate(rate: int, what: str) -> None:
    if isinstance(rate, bool) or not isinstance(rate, int):
        raise AudioFormatError(f"{what} must be an integer number of Hz, not {rate!r}.")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioFormatError(
            f"{what} {rate} Hz is not supported (expected {MIN_RATE:,} to {MAX_RATE:,} Hz)."
        )


def convert(pcm: bytes, *, sample_rate: int, channels: int = 1, sample_width: int = 2) -> bytes:
    """Convert raw little-endian PCM to session audio (PCM16, 24 kHz, mono).

    ``sample_width`` is in bytes: 1 (unsigned 8-bit), 2, 3 or 4 (signed). Channels
    are averaged into one. Raises :class:`~vatel.AudioFormatError` when the
    parameters are unsupported or ``pcm`` is not a whole number of frames.
    """
    if sample_width not in _WIDTH_NAMES:
        raise AudioFormatError(
            f"Unsupported sample width {sample_width!r} bytes; supported: 1 (8-bit unsigned), "
            "2, 3 or 4 (16-, 24- or 32-bit signed)."
        )
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise AudioFormatError(f"channels must be a positive integer, not {channels!r}.")
    _check_rate(sample_rate, "sample_rate")
    if not isinstance(pcm, (bytes, bytearray, memoryview)):
        raise AudioFormatError(f"PCM audio must be bytes, not {type(pcm).__name__}.")
    frame = sample_width * channels
    if len(pcm) % frame:
        raise AudioFormatError(
            f"{len(pcm)} bytes is not a whole number of {frame}-byte frames "
            f"({_WIDTH_NAMES[sample_width]}, {channels} channel{'s' if channels > 1 else ''})."
        )
    pcm16 = to_pcm16(pcm, sample_width)
    if channels == CHANNELS and sample_rate == SAMPLE_RATE:
        return pcm16
    return mix_and_resample(pcm16, channels, sample_rate, SAMPLE_RATE)


def resample(pcm16_mono: bytes, from_rate: int, to_rate: int) -> bytes:
    """Resample PCM16 mono audio from ``from_rate`` to ``to_rate`` Hz.

    Uses a windowed-sinc low-pass filter, so downsampling does not alias. The
    result lasts as long as the input, rounded up to a whole sample.
    """
    check_pcm16(pcm16_mono)
    _check_rate(from_rate, "from_rate")
    _check_rate(to_rate, "to_rate")
    if from_rate == to_rate:
        return bytes(pcm16_mono)
    return mix_and_resample(bytes(pcm16_mono), 1, from_rate, to_rate)
