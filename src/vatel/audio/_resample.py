"""Sample-rate conversion and channel mixing of PCM16 audio.

When the ``soxr`` extra is installed, resampling goes through libsoxr (see
:mod:`._soxr`): several times faster, with a flatter passband. Otherwise, and
always for channel mixing alone, it is done here in pure Python.

The built-in filter is a polyphase windowed sinc (Kaiser window, about 60 dB of stopband
attenuation). Speed comes from doing the multiply-accumulate work inside Python's
big-integer arithmetic: a run of samples is packed into one integer, six bytes per
sample, so that multiplying it by a packed filter (or by one tap) computes a whole
convolution in C. Packing and unpacking are plain ``bytes`` slicing.
"""

from __future__ import annotations

import math
from functools import lru_cache

from . import _soxr

__all__ = ["backend", "builtin_mix_and_resample", "mix_and_resample"]

# Bytes per packed sample. Every slot of a result stays within [0, 2**42) (see
# _OFFSET_UNITS), so six bytes leave headroom and no carry or borrow ever crosses
# into a neighbouring sample.
_SLOT = 6
_SLOT_BITS = 8 * _SLOT
# Taps are integers scaled by 2**24; the result's 16-bit sample then sits in bytes 3
# and 4 of each slot, with byte 5 telling whether it needed clipping.
_SHIFT = 24
# Added to every output slot, in units of 2**_SHIFT: the 16-bit result y becomes
# 98304 + y, which lies in [65536, 131072) exactly when y fits in int16.
_OFFSET_UNITS = 98_304
# Translation table flipping the top bit of a byte: turns a signed 16-bit sample's
# high byte into offset binary (sample + 32768) and back, and unsigned 8-bit audio
# into the high byte of signed 16-bit audio.
FLIP_TOP_BIT = bytes(b ^ 0x80 for b in range(256))

# Filter design, in units of the lower of the two rates.
_HALF_WIDTH = 12  # sinc half-width, in samples at the lower rate
_TRANSITION = 0.15  # transition band width, as a fraction of the lower rate
_KAISER_BETA = 5.653  # about 60 dB of stopband attenuation
# Rate ratios whose reduced fraction has a larger denominator are approximated.
_MAX_PHASES = 1024
# Outputs computed per filter phase in one pass (bounds the size of the integers).
_BLOCK_OUTPUTS = 8192


def _bessel_i0(x: float) -> float:
    """Modified Bessel function of the first kind, order zero (power series)."""
    total = term = 1.0
    k = 1
    half = x / 2
    while term > 1e-12 * total:
        term *= (half / k) ** 2
        total += term
        k += 1
    return total


@lru_cache(maxsize=8)
def _filter_bank(up: int, down: int) -> tuple[tuple[float, ...], ...]:
    """Per-phase taps for resampling by ``up / down`` (a reduced fraction).

    Output sample ``n`` sits at input position ``n * down / up``; with
    ``base, phase = divmod(n * down, up)`` it is
    ``sum(bank[phase][k] * x[base - (half - 1) + k])`` where ``half = len(bank[0]) // 2``.
    """
    if up == down:
        return ((1.0,),)
    if up < down:
        # Downsampling: the stopband starts at the output's Nyquist frequency, so
        # nothing that would alias survives (beyond the stopband attenuation).
        cutoff = (0.5 - _TRANSITION / 2) * up / down  # cycles per input sample
        reach = _HALF_WIDTH * down / up  # in input samples
    else:
        # Upsampling: the transition is centred on the input's Nyquist frequency and
        # the kernel is interpolating (it keeps the input samples unchanged).
        cutoff = 0.5
        reach = float(_HALF_WIDTH)
    half = math.ceil(reach)
    norm = _bessel_i0(_KAISER_BETA)
    bank = []
    for phase in range(up):
        frac = phase / up
        row = []
        for k in range(2 * half):
            d = frac + (half - 1) - k
            if abs(d) >= reach:
                row.append(0.0)
                continue
            x = 2 * cutoff * d
            sinc = 1.0 if x == 0 else math.sin(math.pi * x) / (math.pi * x)
            window = _bessel_i0(_KAISER_BETA * math.sqrt(1 - (d / reach) ** 2)) / norm
            row.append(2 * cutoff * sinc * window)
        # Unity gain at DC for every phase; otherwise a constant signal would pick up
        # a ripple at the phase period.
        total = sum(row)
        bank.append(tuple(w / total for w in row))
    return tuple(bank)


def _ratio(from_rate: int, to_rate: int) -> tuple[int, int]:
    """``(up, down)``: the reduced fraction ``to_rate / from_rate``.

    When it needs more than ``_MAX_PHASES`` filter phases (the rates share only a
    small common factor, as with 44,056 Hz) the nearest fraction with at most that
    many is used; for 24 kHz output and any input rate from 8 to 192 kHz the rate
    error stays under 0.05 %.
    """
    common = math.gcd(from_rate, to_rate)
    up, down = to_rate // common, from_rate // common
    if up > _MAX_PHASES:
        from fractions import Fraction  # rarely needed, and slow to import

        ratio = Fraction(down, up).limit_denominator(_MAX_PHASES)
        up, down = ratio.denominator, max(ratio.numerator, 1)
    return up, down


# False forces the built-in filter even when soxr is installed (the tests use it
# to cover both; so can anyone who needs the pure-Python output bit for bit).
_prefer_soxr = True


def backend() -> str:
    """``"soxr"`` or ``"builtin"``: what :func:`mix_and_resample` resamples with."""
    return "soxr" if _prefer_soxr and _soxr.available() else "builtin"


def mix_and_resample(pcm16: bytes, channels: int, from_rate: int, to_rate: int) -> bytes:
    """Average ``channels`` interleaved PCM16 channels into one and resample it.

    ``pcm16`` is signed 16-bit little-endian audio holding a whole number of
    frames. Returns mono PCM16 at ``to_rate`` lasting as long as the input (rounded
    up to a whole output sample).
    """
    if from_rate != to_rate and backend() == "soxr":
        return _soxr.mix_and_resample(pcm16, channels, from_rate, to_rate)
    return builtin_mix_and_resample(pcm16, channels, from_rate, to_rate)


def builtin_mix_and_resample(pcm16: bytes, channels: int, from_rate: int, to_rate: int) -> bytes:
    """:func:`mix_and_resample` with the pure-Python polyphase filter."""
    up, down = _ratio(from_rate, to_rate)
    bank = _filter_bank(up, down)
    taps_per_phase = len(bank[0])
    delay = taps_per_phase // 2 - 1 if taps_per_phase > 1 else 0
    frame_bytes = 2 * channels
    frames = len(pcm16) // frame_bytes
    n_out = -(-frames * up // down)
    if n_out == 0:
        return b""

    # Every polyphase branch packs every channel again; with many branches it is
    # less work to mix down first (rounding to 16 bits once, about -100 dB).
    branches = min(down, taps_per_phase)
    packing_direct = branches * channels * n_out
    packing_mixed_first = frames * channels + branches * n_out
    if channels > 1 and up != down and packing_mixed_first < packing_direct:
        mono = builtin_mix_and_resample(pcm16, channels, from_rate, from_rate)
        return builtin_mix_and_resample(mono, 1, from_rate, to_rate)

    span = -(-taps_per_phase // down)  # packed taps per polyphase branch
    scale = (1 << _SHIFT) / channels
    padding = [0] * (span * down - taps_per_phase)
    phase_taps = [[round(w * scale) for w in row] + padding for row in bank]
    # Silence around the input, so that every tap reads a frame: output n reads
    # padded frames base(n) .. base(n) + span * down - 1, and base(n) < frames.
    padded = b"".join((bytes(delay * frame_bytes), pcm16, bytes(span * down * frame_bytes)))
    out = bytearray(2 * n_out)
    # Whole periods of the phase pattern at a time, so that intermediate integers
    # stay small whatever the input's length.
    block = up * _BLOCK_OUTPUTS
    for block_start in range(0, n_out, block):
        block_end = min(n_out, block_start + block)
        for first in range(block_start, min(block_start + up, block_end)):
            base, phase = divmod(first * down, up)
            count = len(range(first, block_end, up))
            low, high = _phase_outputs(padded, channels, phase_taps[phase], down, span, base, count)
            out[2 * first : 2 * block_end : 2 * up] = low
            out[2 * first + 1 : 2 * block_end : 2 * up] = high
    return bytes(out)


def _phase_outputs(
    padded: bytes, channels: int, taps: list[int], down: int, span: int, base: int, count: int
) -> tuple[bytes, bytes]:
    """Low and high bytes of ``count`` outputs sharing one set of ``taps``.

    Output j is ``sum(taps[k] * x[base + j * down + k])`` over frames of ``padded``,
    scaled down by ``2**_SHIFT``. Splitting ``k = q * down + r`` makes it one
    convolution per ``r`` over the frames ``x[base + r + i * down]``; each is a
    single big-integer product.
    """
    frame_bytes = 2 * channels
    step = frame_bytes * down
    slots = count + span - 1
    packed = bytearray(_SLOT * slots)
    acc = 0
    for r in range(min(down, len(taps))):
        branch = taps[r::down]
        if not any(branch):
            continue
        # Reversed, so that slot (j + span - 1) of the product holds output j.
        kernel = 0
        for tap in branch:
            kernel = (kernel << _SLOT_BITS) + tap
        signal = 0
        for channel in range(channels):
            start = (base + r) * frame_bytes + 2 * channel
            stop = start + slots * step
            packed[0::_SLOT] = padded[start:stop:step]
            packed[1::_SLOT] = padded[start + 1 : stop + 1 : step].translate(FLIP_TOP_BIT)
            signal += int.from_bytes(packed, "little")
        acc += signal * kernel
    # Samples were packed as x + 32768: take that bias out, add half a step for
    # rounding and the offset that keeps every slot positive.
    bias = 32768 * channels * sum(taps)
    slot_offset = (_OFFSET_UNITS << _SHIFT) + (1 << (_SHIFT - 1)) - bias
    total_slots = slots + span - 1
    acc += int.from_bytes(slot_offset.to_bytes(_SLOT, "little") * total_slots, "little")
    raw = acc.to_bytes(_SLOT * total_slots, "little")
    region = raw[_SLOT * (span - 1) : _SLOT * (span - 1 + count)]
    low = region[3::_SLOT]
    high = region[4::_SLOT]
    top = region[5::_SLOT]
    if top.count(1) != count:
        low, high = _clip(low, high, top)
    return low, high.translate(FLIP_TOP_BIT)


def _clip(low: bytes, high: bytes, top: bytes) -> tuple[bytes, bytes]:
    """Saturate slot values outside int16 (rare: only filter overshoot near full
    scale). Returns the low bytes and the offset-binary high bytes."""
    new_low = bytearray(low)
    new_high = bytearray(high)
    for i, t in enumerate(top):
        if t < 1:
            new_low[i], new_high[i] = 0x00, 0x00
        elif t > 1:
            new_low[i], new_high[i] = 0xFF, 0xFF
    return bytes(new_low), bytes(new_high)
