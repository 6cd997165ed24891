"""Splitting session audio into fixed-duration chunks."""

from __future__ import annotations

import math
from collections.abc import Iterator

from typing_extensions import Buffer

from .._pcm import pcm16_bytes
from ._format import FRAME_MS, SAMPLE_RATE, SAMPLE_WIDTH

__all__ = ["chunks"]


def chunks(pcm: Buffer, ms: float = FRAME_MS) -> Iterator[bytes]:
    """Split PCM16 mono 24 kHz audio into chunks of ``ms`` milliseconds (960 bytes for 20 ms).

    ``pcm`` is bytes or a buffer of 16-bit samples. Every chunk holds whole
    samples; the last one may be shorter. Odd-length or non-integer ``pcm`` raises
    :class:`~vatel.AudioFormatError` here, before iteration starts.
    """
    pcm = pcm16_bytes(pcm)
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not math.isfinite(ms):
        raise ValueError(f"ms must be a positive number of milliseconds, not {ms!r}.")
    samples = round(ms * SAMPLE_RATE / 1000)
    if samples < 1:
        raise ValueError(f"ms must be at least one sample long (1/24 ms), not {ms!r}.")
    return _split(pcm, samples * SAMPLE_WIDTH)


def _split(pcm: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(pcm), size):
        yield pcm[start : start + size]
