"""Splitting session audio into fixed-duration chunks."""

from __future__ import annotations

import math
from collections.abc import Iterator

from ._format import FRAME_MS, SAMPLE_RATE, SAMPLE_WIDTH, check_pcm16

__all__ = ["chunks"]


def chunks(pcm: bytes, ms: float = FRAME_MS) -> Iterator[bytes]:
    """Split PCM16 mono 24 kHz audio into chunks of ``ms`` milliseconds (960 bytes for 20 ms).

    Every chunk holds whole samples; the last one may be shorter. Odd-length
    ``pcm`` raises :class:`~vatel.AudioFormatError` here, before iteration starts.
    """
    check_pcm16(pcm)
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not math.isfinite(ms):
        raise ValueError(f"ms must be a positive number of milliseconds, not {ms!r}.")
    samples = round(ms * SAMPLE_RATE / 1000)
    if samples < 1:
        raise ValueError(f"ms must be at least one sample long (1/24 ms), not {ms!r}.")
    return _split(bytes(pcm), samples * SAMPLE_WIDTH)


def _split(pcm: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(pcm), size):
        yield pcm[start : start + size]
