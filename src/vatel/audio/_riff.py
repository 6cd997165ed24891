"""A small RIFF/WAVE reader, used where the stdlib ``wave`` module gives up.

``wave`` only knows plain integer PCM (and, before Python 3.12, not the
WAVE_FORMAT_EXTENSIBLE header many tools write for 24-bit audio). This reader
accepts that header too, and otherwise explains what the file holds instead.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

from .._exceptions import AudioFormatError
from ._convert import MAX_RATE, MIN_RATE

__all__ = ["SUPPORTED", "RawWav", "check_params", "parse"]

SUPPORTED = (
    "Supported: integer PCM WAV files (8-bit unsigned, or 16-, 24- or 32-bit signed) "
    f"with any number of channels, at {MIN_RATE // 1000:,} to {MAX_RATE // 1000:,} kHz."
)

_PCM = 0x0001
_EXTENSIBLE = 0xFFFE
_SIGNATURES = {
    b"ID3": "an MP3 file",
    b"\xff\xfb": "an MP3 file",
    b"\xff\xf3": "an MP3 file",
    b"OggS": "an Ogg file",
    b"fLaC": "a FLAC file",
    b"FORM": "an AIFF file",
    b"\x1aE\xdf\xa3": "a WebM/Matroska file",
}
_FORMAT_NAMES = {
    0x0002: "Microsoft ADPCM",
    0x0003: "IEEE floating point",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0011: "IMA ADPCM",
    0x0031: "GSM 6.10",
    0x0050: "MPEG",
    0x0055: "MPEG layer 3 (MP3)",
    0x00FF: "AAC",
    0x1610: "AAC",
    0x2000: "Dolby AC-3",
    0xF1AC: "FLAC",
}


@dataclass(frozen=True)
class RawWav:
    """Parameters and (optionally) the little-endian sample data of a WAV file."""

    channels: int
    sample_rate: int
    sample_width: int
    frames: int
    data: bytes


def check_params(channels: int, sample_rate: int, sample_width: int, bits: int) -> None:
    """Raise :class:`AudioFormatError` unless the WAV parameters can be converted."""
    if channels < 1:
        raise AudioFormatError(f"Malformed WAV file: it declares {channels} channels.")
    if not 1 <= sample_width <= 4:
        raise AudioFormatError(f"Unsupported WAV sample size: {bits} bits. {SUPPORTED}")
    if not MIN_RATE <= sample_rate <= MAX_RATE:
        raise AudioFormatError(f"Unsupported WAV sample rate: {sample_rate} Hz. {SUPPORTED}")


def _encoding_name(tag: int) -> str:
    name = _FORMAT_NAMES.get(tag)
    return f"{name} (format tag 0x{tag:04X})" if name else f"format tag 0x{tag:04X}"


def _read_fmt(body: bytes) -> tuple[int, int, int]:
    """``(channels, sample_rate, bits)`` of an integer-PCM fmt chunk; raises otherwise."""
    if len(body) < 16:
        raise AudioFormatError(f"Malformed WAV file: its fmt chunk is {len(body)} bytes long.")
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
    if tag == _EXTENSIBLE:
        if len(body) < 26:
            raise AudioFormatError("Malformed WAV file: truncated WAVE_FORMAT_EXTENSIBLE header.")
        # The sub-format GUID starts with the classic format tag.
        subformat = int.from_bytes(body[24:26], "little")
        if subformat != _PCM:
            raise AudioFormatError(
                f"Unsupported WAV encoding: {_encoding_name(subformat)} in an extensible "
                f"header. {SUPPORTED}"
            )
    elif tag != _PCM:
        raise AudioFormatError(f"Unsupported WAV encoding: {_encoding_name(tag)}. {SUPPORTED}")
    return channels, rate, bits


def parse(stream: BinaryIO, *, read_data: bool) -> RawWav:
    """Read a WAV file from ``stream`` (positioned at its start).

    Raises :class:`AudioFormatError` saying what is wrong when the file is not a
    WAV file, is malformed, or does not hold integer PCM.
    """
    head = stream.read(12)
    if not head:
        raise AudioFormatError("Not a WAV file: it is empty.")
    if head[:4] != b"RIFF":
        if head[:4] in (b"RIFX", b"RF64"):
            raise AudioFormatError(f"Unsupported WAV variant {head[:4].decode()}. {SUPPORTED}")
        kind = next((name for sig, name in _SIGNATURES.items() if head.startswith(sig)), None)
        looks = f" (it looks like {kind})" if kind else ""
        raise AudioFormatError(
            f"Not a WAV file: expected it to start with b'RIFF', found {head[:4]!r}{looks}."
        )
    if len(head) < 12:
        raise AudioFormatError(f"Not a WAV file: it is only {len(head)} bytes long.")
    if head[8:12] != b"WAVE":
        raise AudioFormatError(
            f"Not a WAV file: a RIFF file of type {head[8:12]!r}, expected b'WAVE'."
        )
    fmt: tuple[int, int, int] | None = None
    while True:
        header = stream.read(8)
        if len(header) < 8:
            break
        chunk_id = header[:4]
        size = int.from_bytes(header[4:], "little")
        if chunk_id == b"fmt ":
            fmt = _read_fmt(stream.read(size))
            stream.seek(size & 1, 1)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioFormatError("Malformed WAV file: its data chunk comes before fmt.")
            channels, rate, bits = fmt
            width = (bits + 7) // 8
            check_params(channels, rate, width, bits)
            frame = channels * width
            data = stream.read(size) if read_data else b""
            data = data[: len(data) - len(data) % frame]
            frames = len(data) // frame if read_data else size // frame
            return RawWav(channels, rate, width, frames, data)
        else:
            stream.seek(size + (size & 1), 1)
    if fmt is None:
        raise AudioFormatError("Malformed WAV file: it has no fmt chunk.")
    raise AudioFormatError("Malformed WAV file: it has no data chunk.")
