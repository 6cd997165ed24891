"""The one audio format of a Vatel voice session: PCM16, little-endian, 24 kHz, mono."""

from __future__ import annotations

SAMPLE_RATE = 24_000
"""Samples per second of session audio, both directions."""

SAMPLE_WIDTH = 2
"""Bytes per sample (signed 16-bit, little-endian)."""

CHANNELS = 1
"""Session audio is mono."""

FRAME_MS = 20
"""Duration of one chunk in milliseconds, the usual size for real-time audio."""

FRAME_BYTES = SAMPLE_RATE * SAMPLE_WIDTH * CHANNELS * FRAME_MS // 1000
"""Bytes in one 20 ms chunk (960)."""

BYTES_PER_SECOND = SAMPLE_RATE * SAMPLE_WIDTH * CHANNELS
"""Bytes in one second of session audio (48,000)."""


def duration_of(pcm_len: int) -> float:
    """Seconds of session audio held in ``pcm_len`` bytes."""
    return pcm_len / BYTES_PER_SECOND
