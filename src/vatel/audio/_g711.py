"""G.711 μ-law and A-law, the 8-bit companded audio of telephone networks, and
the conversions between a phone call's audio and session audio.

Names say what goes in and what comes out (``ulaw_to_pcm16``), like the rest of
this package; ``audioop``'s ``ulaw2lin`` took a width argument, these work on
PCM16 only. The results match ``audioop`` (width 2) on every input, so code
moving off that module (gone in Python 3.13) gets the same bytes.

Decoding goes through two 256-entry tables with ``bytes.translate`` (the low and
the high byte of each sample), so it runs in C. Encoding looks every sample up
in a 65,536-entry table indexed by the 16-bit word, built on first use (a list
of small ints, about 0.5 MiB per law, in about 10 ms).

A call arrives in 20 ms frames (160 bytes at 8 kHz). :func:`from_telephony` and
:func:`to_telephony` convert a whole recording; :class:`TelephonyDecoder` and
:class:`TelephonyEncoder` convert a live call frame by frame with the same result,
keeping the resampling filter's state between frames so that their edges do not
click.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import lru_cache
from typing import Literal

from typing_extensions import Buffer

from .._exceptions import AudioFormatError
from .._pcm import pcm16_bytes, pcm_bytes
from ._convert import StreamResampler, check_rate
from ._format import SAMPLE_RATE
from ._resample import builtin_mix_and_resample

__all__ = [
    "TelephonyDecoder",
    "TelephonyEncoder",
    "TelephonyEncoding",
    "alaw_to_pcm16",
    "from_telephony",
    "pcm16_to_alaw",
    "pcm16_to_ulaw",
    "to_telephony",
    "ulaw_to_pcm16",
]

TelephonyEncoding = Literal["ulaw", "alaw"]
"""G.711 μ-law (PCMU, Twilio's ``audio/x-mulaw``) or A-law (PCMA)."""

TELEPHONY_RATE = 8_000

_ULAW_BIAS = 0x84  # added before the segment search, so that every segment has 16 steps
_ULAW_TOP = 0x1FFF  # largest biased 14-bit magnitude: segment 7, step 15


def _ulaw_value(code: int) -> int:
    """The PCM16 value of one μ-law code (the codes are stored bit-inverted)."""
    code = ~code & 0xFF
    magnitude = ((((code & 0x0F) << 3) + _ULAW_BIAS) << ((code & 0x70) >> 4)) - _ULAW_BIAS
    return -magnitude if code & 0x80 else magnitude


def _alaw_value(code: int) -> int:
    """The PCM16 value of one A-law code (even bits are stored inverted)."""
    code ^= 0x55
    segment = (code & 0x70) >> 4
    magnitude = ((code & 0x0F) << 4) + 8
    if segment:
        magnitude = (magnitude + 0x100) << (segment - 1)
    return magnitude if code & 0x80 else -magnitude


def _ulaw_code(sample: int) -> int:
    """The μ-law code of a PCM16 sample: its top 14 bits, sign and magnitude."""
    value = sample >> 2
    mask = 0xFF
    if value < 0:
        value, mask = -value, 0x7F
    value = min(value + (_ULAW_BIAS >> 2), _ULAW_TOP)
    segment = value.bit_length() - 6  # 0 for 33..63, 7 for 4096..8191
    return ((segment << 4) | ((value >> (segment + 1)) & 0x0F)) ^ mask


def _alaw_code(sample: int) -> int:
    """The A-law code of a PCM16 sample: its top 13 bits, sign and magnitude."""
    value = sample >> 3
    mask = 0xD5
    if value < 0:
        value, mask = -value - 1, 0x55
    segment = max(value.bit_length() - 5, 0)  # 0 for 0..31, 7 for 2048..4095
    step = value >> (segment or 1)
    return ((segment << 4) | (step & 0x0F)) ^ mask


def _decode_tables(value_of: Callable[[int], int]) -> tuple[bytes, bytes]:
    values = [value_of(code) & 0xFFFF for code in range(256)]
    return bytes(v & 0xFF for v in values), bytes(v >> 8 for v in values)


# Low and high bytes of each code's little-endian PCM16 sample.
_ULAW_LOW, _ULAW_HIGH = _decode_tables(_ulaw_value)
_ALAW_LOW, _ALAW_HIGH = _decode_tables(_alaw_value)


@lru_cache(maxsize=2)
def _encode_table(law: str) -> list[int]:
    """Codes of every PCM16 sample, indexed by the sample as an unsigned 16-bit word.

    A list of ints: ``list.__getitem__`` is the fastest lookup ``map`` can call.
    """
    code_of = _ulaw_code if law == "ulaw" else _alaw_code
    # μ-law reads only the top 14 bits and A-law the top 13: one code per group of
    # 4 or 8 neighbouring samples, computed once and repeated.
    shift = 2 if law == "ulaw" else 3
    group = 1 << shift
    ordered = bytearray(65536)  # samples -32768 .. 32767, in order
    codes = bytes(code_of(v << shift) for v in range(-(32768 >> shift), 32768 >> shift))
    for i in range(group):
        ordered[i::group] = codes
    # Index by the word: 0 .. 32767 are themselves, 32768 .. 65535 the negatives.
    return list(ordered[32768:] + ordered[:32768])


def _decode(data: Buffer, low: bytes, high: bytes) -> bytes:
    codes = pcm_bytes(data, 1, "G.711 audio")
    out = bytearray(2 * len(codes))
    out[0::2] = codes.translate(low)
    out[1::2] = codes.translate(high)
    return bytes(out)


def _encode(pcm: Buffer, law: str) -> bytes:
    raw = pcm16_bytes(pcm)
    if sys.byteorder == "big":  # the table is indexed by little-endian words
        swapped = bytearray(len(raw))
        swapped[0::2], swapped[1::2] = raw[1::2], raw[0::2]
        raw = bytes(swapped)
    return bytes(map(_encode_table(law).__getitem__, memoryview(raw).cast("H")))


def ulaw_to_pcm16(data: Buffer) -> bytes:
    """Decode G.711 μ-law (one byte a sample) to PCM16 little-endian, same rate."""
    return _decode(data, _ULAW_LOW, _ULAW_HIGH)


def alaw_to_pcm16(data: Buffer) -> bytes:
    """Decode G.711 A-law (one byte a sample) to PCM16 little-endian, same rate."""
    return _decode(data, _ALAW_LOW, _ALAW_HIGH)


def pcm16_to_ulaw(pcm: Buffer) -> bytes:
    """Encode PCM16 little-endian to G.711 μ-law, one byte a sample, same rate.

    Odd-length input raises :class:`~vatel.AudioFormatError`.
    """
    return _encode(pcm, "ulaw")


def pcm16_to_alaw(pcm: Buffer) -> bytes:
    """Encode PCM16 little-endian to G.711 A-law, one byte a sample, same rate.

    Odd-length input raises :class:`~vatel.AudioFormatError`.
    """
    return _encode(pcm, "alaw")


# -- calls ------------------------------------------------------------------------

_DECODERS: dict[str, Callable[[Buffer], bytes]] = {"ulaw": ulaw_to_pcm16, "alaw": alaw_to_pcm16}
_ENCODERS: dict[str, Callable[[Buffer], bytes]] = {"ulaw": pcm16_to_ulaw, "alaw": pcm16_to_alaw}


def _checked(encoding: str, rate: int) -> str:
    if encoding not in _DECODERS:
        raise AudioFormatError(
            f"Unknown telephony encoding {encoding!r}: expected 'ulaw' (μ-law: PCMU, "
            "Twilio's audio/x-mulaw) or 'alaw' (A-law: PCMA)."
        )
    check_rate(rate, "rate")
    return encoding


def _resampled(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    # The built-in filter, as in the stream converters, so that a recording
    # converted whole and a call converted frame by frame give the same bytes.
    if from_rate == to_rate:
        return pcm
    return builtin_mix_and_resample(pcm, 1, from_rate, to_rate)


def from_telephony(
    data: Buffer, encoding: TelephonyEncoding = "ulaw", rate: int = TELEPHONY_RATE
) -> bytes:
    """Session audio (PCM16, 24 kHz, mono) from G.711 audio at ``rate`` Hz.

    For a whole recording; a live call's frames go through a :class:`TelephonyDecoder`.
    """
    decode = _DECODERS[_checked(encoding, rate)]
    return _resampled(decode(data), rate, SAMPLE_RATE)


def to_telephony(
    pcm: Buffer, encoding: TelephonyEncoding = "ulaw", rate: int = TELEPHONY_RATE
) -> bytes:
    """G.711 audio at ``rate`` Hz from session audio (PCM16, 24 kHz, mono).

    For a whole recording; live agent audio goes through a :class:`TelephonyEncoder`.
    """
    encode = _ENCODERS[_checked(encoding, rate)]
    return encode(_resampled(pcm16_bytes(pcm), SAMPLE_RATE, rate))


class TelephonyDecoder:
    """Turns a call's G.711 audio, frame by frame, into session audio.

    Feed each frame to :meth:`decode` and send what it returns; call
    :meth:`flush` when the call ends. Together they return exactly what
    :func:`from_telephony` gives for the whole call. Each result lags its frame by
    the input the resampling filter looks ahead: 12 samples at the lower rate, 1.5
    ms at 8 kHz. One decoder per call; it is not thread-safe.
    """

    def __init__(self, encoding: TelephonyEncoding = "ulaw", rate: int = TELEPHONY_RATE) -> None:
        self._decode = _DECODERS[_checked(encoding, rate)]
        self._resampler = StreamResampler(rate, SAMPLE_RATE)
        self._encoding: TelephonyEncoding = encoding
        self._rate = rate

    @property
    def encoding(self) -> TelephonyEncoding:
        """The G.711 law of the input."""
        return self._encoding

    @property
    def rate(self) -> int:
        """The input's sample rate in Hz."""
        return self._rate

    def decode(self, data: Buffer) -> bytes:
        """PCM16 24 kHz audio for the next frame of G.711 bytes (one byte a sample)."""
        return self._resampler.feed(self._decode(data))

    def flush(self) -> bytes:
        """The audio held back for the filter; the decoder then starts afresh."""
        return self._resampler.flush()


class TelephonyEncoder:
    """Turns session audio, chunk by chunk, into a call's G.711 audio.

    Feed each chunk of agent audio (PCM16, 24 kHz, mono) to :meth:`encode`; call
    :meth:`flush` at the end of a reply, or drop its result when the reply is
    interrupted. Together they return exactly what :func:`to_telephony` gives for
    the whole audio, 1.5 ms later at 8 kHz. One encoder per call; it is not
    thread-safe.
    """

    def __init__(self, encoding: TelephonyEncoding = "ulaw", rate: int = TELEPHONY_RATE) -> None:
        self._encode = _ENCODERS[_checked(encoding, rate)]
        self._resampler = StreamResampler(SAMPLE_RATE, rate)
        self._encoding: TelephonyEncoding = encoding
        self._rate = rate
        _encode_table(encoding)  # built now, not while the first frame waits

    @property
    def encoding(self) -> TelephonyEncoding:
        """The G.711 law of the output."""
        return self._encoding

    @property
    def rate(self) -> int:
        """The output's sample rate in Hz."""
        return self._rate

    def encode(self, pcm: Buffer) -> bytes:
        """G.711 bytes for the next chunk of PCM16 24 kHz audio."""
        return self._encode(self._resampler.feed(pcm))

    def flush(self) -> bytes:
        """The audio held back for the filter; the encoder then starts afresh."""
        return self._encode(self._resampler.flush())
