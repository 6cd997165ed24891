"""Synthetic signals in the session format: silence, tones and a voice-like sound."""

from __future__ import annotations

import math
import sys
from array import array

from ._format import SAMPLE_RATE


def _to_bytes(samples: array[int]) -> bytes:
    if sys.byteorder != "little":
        samples.byteswap()
    return samples.tobytes()


def silence(seconds: float, *, sample_rate: int = SAMPLE_RATE) -> bytes:
    """PCM16 mono silence lasting ``seconds``."""
    return bytes(2 * round(seconds * sample_rate))


def tone(
    frequency: float,
    seconds: float,
    *,
    amplitude: float = 0.3,
    sample_rate: int = SAMPLE_RATE,
) -> bytes:
    """A sine at ``frequency`` Hz, PCM16 mono; ``amplitude`` is a fraction of full scale."""
    peak = amplitude * 32767
    step = 2 * math.pi * frequency / sample_rate
    n = round(seconds * sample_rate)
    return _to_bytes(array("h", (round(peak * math.sin(step * i)) for i in range(n))))


def voice_like(
    seconds: float,
    *,
    pitch: float = 140.0,
    amplitude: float = 0.3,
    sample_rate: int = SAMPLE_RATE,
) -> bytes:
    """A vowel-like sound: a pitched fundamental with formant-like harmonics and a
    syllable-rate envelope, so energy-based voice detection sees speech."""
    peak = amplitude * 32767
    n = round(seconds * sample_rate)
    harmonics = ((1, 1.0), (2, 0.5), (3, 0.35), (5, 0.25), (8, 0.12))
    norm = sum(weight for _, weight in harmonics)
    out = array("h", bytes(2 * n))
    for i in range(n):
        t = i / sample_rate
        # Four syllables a second, never fully silent inside the utterance.
        envelope = 0.55 + 0.45 * math.sin(2 * math.pi * 4.0 * t) ** 2
        wave = sum(w * math.sin(2 * math.pi * pitch * k * t) for k, w in harmonics) / norm
        out[i] = round(peak * envelope * wave)
    return _to_bytes(out)


def rms(pcm: bytes) -> float:
    """Root-mean-square level of PCM16 mono audio, as a fraction of full scale (0.0 to 1.0)."""
    usable = len(pcm) - len(pcm) % 2
    if usable == 0:
        return 0.0
    samples = array("h")
    samples.frombytes(pcm[:usable])
    if sys.byteorder != "little":
        samples.byteswap()
    return math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768
