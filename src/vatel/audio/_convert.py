"""Conversion of raw PCM (any common rate, width and channel count) to session audio."""

from __future__ import annotations

import array
import sys

from typing_extensions import Buffer

from .._exceptions import AudioFormatError
from .._pcm import float_samples, pcm16_bytes, pcm_bytes
from ._format import CHANNELS, SAMPLE_RATE
from ._resample import (
    FLIP_TOP_BIT,
    _filter_bank,
    _ratio,
    builtin_mix_and_resample,
    mix_and_resample,
)

__all__ = [
    "MAX_RATE",
    "MIN_RATE",
    "StreamResampler",
    "byteswap",
    "check_rate",
    "convert",
    "float_to_pcm16",
    "resample",
    "to_pcm16",
]

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


def check_rate(rate: int, what: str) -> None:
    """Raise :class:`AudioFormatError` unless ``rate`` is a supported integer rate in Hz."""
    if isinstance(rate, bool) or not isinstance(rate, int):
        raise AudioFormatError(f"{what} must be an integer number of Hz, not {rate!r}.")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioFormatError(
            f"{what} {rate} Hz is not supported (expected {MIN_RATE:,} to {MAX_RATE:,} Hz)."
        )


def convert(pcm: Buffer, *, sample_rate: int, channels: int = 1, sample_width: int = 2) -> bytes:
    """Convert raw little-endian PCM to session audio (PCM16, 24 kHz, mono).

    ``sample_width`` is in bytes: 1 (unsigned 8-bit), 2, 3 or 4 (signed); ``pcm``
    is bytes or a buffer of such integers (``array.array``, a numpy array). Channels
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
    check_rate(sample_rate, "sample_rate")
    # Width 3 has no buffer type of its own: a byte count is checked, not samples.
    raw = pcm_bytes(pcm, 1 if sample_width == 3 else sample_width, "PCM audio")
    frame = sample_width * channels
    if len(raw) % frame:
        raise AudioFormatError(
            f"{len(raw)} bytes is not a whole number of {frame}-byte frames "
            f"({_WIDTH_NAMES[sample_width]}, {channels} channel{'s' if channels > 1 else ''})."
        )
    pcm16 = to_pcm16(raw, sample_width)
    if channels == CHANNELS and sample_rate == SAMPLE_RATE:
        return pcm16
    return mix_and_resample(pcm16, channels, sample_rate, SAMPLE_RATE)


def resample(pcm16_mono: Buffer, from_rate: int, to_rate: int) -> bytes:
    """Resample PCM16 mono audio from ``from_rate`` to ``to_rate`` Hz.

    Uses a windowed-sinc low-pass filter, so downsampling does not alias. The
    result lasts as long as the input, rounded up to a whole sample. For audio
    that arrives in pieces, :class:`StreamResampler` gives the same result
    without clicks where the pieces meet.
    """
    pcm = pcm16_bytes(pcm16_mono)
    check_rate(from_rate, "from_rate")
    check_rate(to_rate, "to_rate")
    if from_rate == to_rate:
        return pcm
    return mix_and_resample(pcm, 1, from_rate, to_rate)


def _clipped(value: float) -> int:
    """The PCM16 value of a float sample outside [-1, 1]: full scale, or 0 for NaN."""
    if value > 1.0:
        return 32767
    if value < -1.0:
        return -32767
    return 0


def float_to_pcm16(samples: Buffer) -> bytes:
    """PCM16 little-endian from float samples (float32 or float64, full scale ±1.0).

    ``samples`` is an ``array.array("f")``, a numpy float array, or raw bytes read
    as little-endian float32. Values are clipped to [-1, 1], scaled by 32767 and
    rounded; NaN becomes silence. Raises :class:`~vatel.AudioFormatError` for other
    item types or a partial sample.
    """
    # The in-range case inline: this runs over whole files, a call per sample costs.
    values = float_samples(samples)
    out = array.array("h", [round(v * 32767) if -1.0 <= v <= 1.0 else _clipped(v) for v in values])
    if sys.byteorder == "big":
        out.byteswap()
    return out.tobytes()


class StreamResampler:
    """Resamples PCM16 mono audio that arrives in pieces, exactly as if it came whole.

    Resampling each piece on its own would treat its ends as silence, which
    clicks where pieces meet. This keeps the filter's reach of past input and
    holds back the newest outputs until the input they depend on has arrived: the
    concatenated results of :meth:`feed` and :meth:`flush` are byte for byte what
    the built-in filter gives for the whole signal at once. The delay is half the
    filter, 12 samples at the lower rate (1.5 ms between 8 and 24 kHz).

    It always uses the built-in filter: libsoxr's streaming mode returns audio in
    bursts of about 60 ms, too coarse for a live call.
    """

    def __init__(self, from_rate: int, to_rate: int) -> None:
        check_rate(from_rate, "from_rate")
        check_rate(to_rate, "to_rate")
        self._from_rate = from_rate
        self._to_rate = to_rate
        self._up, self._down = _ratio(from_rate, to_rate)
        taps = len(_filter_bank(self._up, self._down)[0])
        # Output n reads input base(n) - behind .. base(n) + ahead, where
        # base(n) = n * down // up (see _resample.builtin_mix_and_resample).
        self._behind = taps // 2 - 1 if taps > 1 else 0
        self._ahead = taps - 1 - self._behind
        self._reset()

    def _reset(self) -> None:
        self._held = bytearray()  # input from sample _held_start on
        self._held_start = 0
        self._received = 0  # input samples so far
        self._emitted = 0  # output samples so far

    @property
    def pending_input(self) -> int:
        """Input samples kept for outputs not yet computed or as filter history."""
        return len(self._held) // 2

    def feed(self, pcm16: Buffer) -> bytes:
        """Resample the next piece; returns every output sample its arrival completes."""
        pcm = pcm16_bytes(pcm16)
        if self._from_rate == self._to_rate:
            return pcm
        self._held += pcm
        self._received += len(pcm) // 2
        # Outputs whose last input sample (base + ahead) has arrived.
        ready = max(0, -(-(self._received - self._ahead) * self._up // self._down))
        return self._emit(ready)

    def flush(self) -> bytes:
        """The outputs held back, as if the input ended here; then start afresh."""
        if self._from_rate == self._to_rate:
            return b""
        out = self._emit(-(-self._received * self._up // self._down))
        self._reset()
        return out

    def _window_start(self, first_output: int) -> int:
        # The earliest input the output reads, rounded down to a multiple of `down`
        # so that the window's outputs fall on the whole signal's output grid.
        lowest = first_output * self._down // self._up - self._behind
        return max(0, lowest // self._down * self._down)

    def _emit(self, until: int) -> bytes:
        first = self._emitted
        if until <= first:
            return b""
        start = self._window_start(first)
        window = bytes(self._held[2 * (start - self._held_start) :])
        out = builtin_mix_and_resample(window, 1, self._from_rate, self._to_rate)
        offset = start // self._down * self._up  # output index of the window's first
        self._emitted = until
        keep = self._window_start(until)
        del self._held[: 2 * (keep - self._held_start)]
        self._held_start = keep
        return out[2 * (first - offset) : 2 * (until - offset)]
