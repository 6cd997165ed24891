"""Sample-rate conversion through libsoxr, when the ``soxr`` extra is installed.

``pip install 'vatel[soxr]'`` brings ``soxr`` (and numpy, which it needs). It is
imported on the first resampling, never by ``import vatel.audio``, and it is
optional: without it the pure-Python filter of :mod:`._resample` does the work.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

__all__ = ["available", "mix_and_resample"]

# libsoxr's "high quality" preset: 20-bit precision, passband to 91 % of the
# output's Nyquist frequency, linear phase with its delay compensated.
_QUALITY = "HQ"


@lru_cache(maxsize=1)
def _modules() -> tuple[Any, Any] | None:
    # soxr first: when it is missing, numpy (heavy to import) is not loaded for nothing.
    try:
        import soxr  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        return None
    import numpy  # a dependency of soxr

    return numpy, soxr


def available() -> bool:
    """True when ``soxr`` (and numpy) can be imported."""
    return _modules() is not None


def mix_and_resample(pcm16: bytes, channels: int, from_rate: int, to_rate: int) -> bytes:
    """Average ``channels`` interleaved PCM16 channels into one and resample it.

    Same contract as the built-in :func:`._resample.mix_and_resample`: the result
    lasts as long as the input, rounded up to a whole output sample.
    """
    modules = _modules()
    if modules is None:  # callers check available() first
        raise RuntimeError("soxr is not installed")
    np, soxr = modules
    frames = len(pcm16) // (2 * channels)
    n_out = -(-frames * to_rate // from_rate)
    if n_out == 0:
        return b""
    samples = np.frombuffer(pcm16, dtype="<i2", count=frames * channels)
    # Float in and out, rounded here: with int16 output libsoxr would add its own
    # dither noise. float32 holds every int16 value (and sums of a few) exactly.
    signal = samples.astype(np.float32)
    if channels > 1:
        signal = signal.reshape(frames, channels).mean(axis=1, dtype=np.float32)
    out = soxr.resample(signal, from_rate, to_rate, quality=_QUALITY)
    if len(out) < n_out:
        out = np.concatenate((out, np.zeros(n_out - len(out), dtype=out.dtype)))
    rounded = np.clip(np.rint(out[:n_out]), -32768, 32767).astype("<i2")
    return bytes(rounded.tobytes())
