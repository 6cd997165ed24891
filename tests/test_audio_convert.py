"""Rate, width and channel conversion: known signals in, what a listener would hear out."""

from __future__ import annotations

import math
import sys
import wave
from array import array
from itertools import pairwise
from pathlib import Path

import pytest

from vatel import AudioFormatError
from vatel.audio import SAMPLE_RATE, _resample, _soxr, convert, read_wav, resample, rms, tone


@pytest.fixture(autouse=True, params=["builtin", "soxr"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs with the pure-Python filter and with soxr (when installed)."""
    name: str = request.param
    if name == "soxr" and not _soxr.available():
        pytest.skip("soxr is not installed (pip install 'vatel[soxr]')")
    monkeypatch.setattr(_resample, "_prefer_soxr", name == "soxr")
    assert _resample.backend() == name
    return name


# --- helpers -------------------------------------------------------------------------


def sine(
    frequency: float, seconds: float, rate: int, amplitude: float = 0.5, phase: float = 0.0
) -> list[float]:
    """A sine as floats in [-1, 1]."""
    step = 2 * math.pi * frequency / rate
    return [amplitude * math.sin(step * i + phase) for i in range(round(seconds * rate))]


def encode(channels: list[list[float]], width: int) -> bytes:
    """Interleave float channels into little-endian integer PCM of ``width`` bytes."""
    out = bytearray()
    for frame in zip(*channels, strict=True):
        for value in frame:
            if width == 1:
                out.append(max(0, min(255, round(value * 127) + 128)))
            else:
                full = (1 << (8 * width - 1)) - 1
                out += max(-full - 1, min(full, round(value * full))).to_bytes(
                    width, "little", signed=True
                )
    return bytes(out)


def samples(pcm: bytes) -> list[int]:
    values = array("h")
    values.frombytes(pcm)
    if sys.byteorder == "big":
        values.byteswap()
    return values.tolist()


def power_at(values: list[int], frequency: float, rate: int = SAMPLE_RATE) -> float:
    """Goertzel: normalised amplitude of ``values`` at ``frequency`` (1.0 = full-scale sine)."""
    coeff = 2 * math.cos(2 * math.pi * frequency / rate)
    s1 = s2 = 0.0
    for x in values:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return 2 * math.sqrt(max(power, 0.0)) / len(values) / 32768


def zero_crossing_frequency(values: list[int], rate: int = SAMPLE_RATE) -> float:
    """Frequency estimated from rising zero crossings, interpolated between samples."""
    crossings = [i + a / (a - b) for i, (a, b) in enumerate(pairwise(values)) if a < 0 <= b]
    periods = len(crossings) - 1
    return rate * periods / (crossings[-1] - crossings[0])


def middle(values: list[int], edge: int = 200) -> list[int]:
    """Drop the ends, where the filter meets the silence outside the signal."""
    return values[edge:-edge]


def write(path: Path, pcm: bytes, rate: int, channels: int, width: int) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(pcm)
    return path


# --- resampling ----------------------------------------------------------------------


def test_sine_at_44100_stereo_reads_back_as_440_hz_mono_at_24k(tmp_path: Path) -> None:
    left = sine(440, 1.0, 44_100)
    path = write(tmp_path / "a.wav", encode([left, left], 2), 44_100, 2, 2)

    out = samples(read_wav(path))

    assert abs(len(out) - 24_000) <= 480  # within one 20 ms chunk
    body = middle(out)
    assert zero_crossing_frequency(body) == pytest.approx(440, rel=0.005)
    at_440 = power_at(body, 440)
    assert at_440 == pytest.approx(0.5, rel=0.02)
    for other in (220, 400, 480, 880, 1000):
        assert power_at(body, other) < at_440 / 50


@pytest.mark.parametrize("rate", [8_000, 11_025, 16_000, 22_050, 32_000, 44_100, 48_000, 96_000])
def test_any_common_rate_keeps_pitch_level_and_duration(rate: int) -> None:
    pcm = encode([sine(1000, 0.5, rate)], 2)

    out = samples(convert(pcm, sample_rate=rate))

    assert len(out) == pytest.approx(12_000, abs=2)
    body = middle(out)
    assert zero_crossing_frequency(body) == pytest.approx(1000, rel=0.003)
    assert rms(convert(pcm, sample_rate=rate)[800:-800]) == pytest.approx(0.5 / math.sqrt(2), 0.01)


def test_downsampling_removes_what_would_alias() -> None:
    # 15 kHz cannot exist at 24 kHz; without a low-pass it would fold down to 9 kHz.
    pcm = encode([sine(15_000, 0.5, 48_000)], 2)

    out = middle(samples(convert(pcm, sample_rate=48_000)))

    assert power_at(out, 9_000) < 0.001
    assert rms(array("h", out).tobytes()) < 0.001


def test_upsampling_adds_no_images() -> None:
    # A 1 kHz tone at 8 kHz would also show up at 7 kHz without interpolation filtering.
    pcm = encode([sine(1000, 0.5, 8_000)], 2)

    out = middle(samples(convert(pcm, sample_rate=8_000)))

    assert power_at(out, 1000) == pytest.approx(0.5, rel=0.01)
    assert power_at(out, 7000) < 0.001
    assert power_at(out, 9000) < 0.001


def test_resample_round_trip_is_close() -> None:
    original = tone(1000, 0.5)

    there = resample(original, 24_000, 44_100)
    back = resample(there, 44_100, 24_000)

    assert len(there) == 2 * 22_050
    assert len(back) == len(original)
    difference = [
        a - b for a, b in zip(middle(samples(back)), middle(samples(original)), strict=True)
    ]
    assert max(abs(d) for d in difference) < 0.01 * 32768


def test_resample_same_rate_returns_input() -> None:
    pcm = tone(300, 0.1)
    assert resample(pcm, 16_000, 16_000) == pcm


def test_short_and_empty_input() -> None:
    assert convert(b"", sample_rate=44_100, channels=2) == b""
    assert resample(b"", 48_000, 24_000) == b""
    assert len(convert(b"\x01\x00", sample_rate=48_000)) == 2
    assert len(resample(b"\x01\x00", 8_000, 24_000)) == 6


def test_full_scale_square_wave_saturates_instead_of_wrapping() -> None:
    # The filter overshoots a full-scale square wave; the peaks must clip at the rails,
    # not wrap round to the opposite sign.
    half_period = 50
    pcm = array("h", ([32767] * half_period + [-32768] * half_period) * 100)
    if sys.byteorder == "big":
        pcm.byteswap()

    out = samples(convert(pcm.tobytes(), sample_rate=44_100))

    assert max(out) == 32767
    assert min(out) == -32768
    ratio = 24_000 / 44_100
    for n, value in enumerate(out[:-10]):
        position = n / ratio  # in input samples
        edge_distance = min(position % half_period, half_period - position % half_period)
        if edge_distance > 3 / ratio:
            positive = (position // half_period) % 2 == 0
            assert (value > 20_000) if positive else (value < -20_000), (n, value)


def test_seconds_of_48k_stereo_convert_whole() -> None:
    # Longer than one block of the built-in filter (8192 outputs per phase).
    pcm = encode([sine(440, 3.0, 48_000, 0.3)] * 2, 2)

    out = samples(convert(pcm, sample_rate=48_000, channels=2))

    assert len(out) == 72_000
    assert zero_crossing_frequency(middle(out)) == pytest.approx(440, rel=0.001)
    assert power_at(out[-24_000:-200], 440) == pytest.approx(0.3, rel=0.02)


# --- channels and sample widths ------------------------------------------------------


def test_stereo_with_opposite_channels_mixes_to_silence() -> None:
    left = sine(500, 0.2, 24_000)
    right = [-v for v in left]
    pcm = encode([left, right], 2)

    assert set(samples(convert(pcm, sample_rate=24_000, channels=2))) == {0}
    assert max(map(abs, samples(convert(pcm, sample_rate=48_000, channels=2)))) <= 1


def test_stereo_mix_is_the_average_of_the_channels() -> None:
    left = sine(500, 0.2, 24_000)
    silent = [0.0] * len(left)

    mixed = samples(convert(encode([left, silent], 2), sample_rate=24_000, channels=2))
    alone = samples(convert(encode([left], 2), sample_rate=24_000))

    assert all(abs(2 * m - a) <= 1 for m, a in zip(mixed, alone, strict=True))


def test_more_than_two_channels_are_averaged() -> None:
    a, b, c = sine(300, 0.1, 16_000), sine(300, 0.1, 16_000, phase=2.0), [0.25] * 1600
    expected = [(x + y + z) / 3 for x, y, z in zip(a, b, c, strict=True)]

    mixed = samples(convert(encode([a, b, c], 2), sample_rate=16_000, channels=3))
    reference = samples(convert(encode([expected], 2), sample_rate=16_000))

    assert max(abs(m - r) for m, r in zip(mixed, reference, strict=True)) <= 2


@pytest.mark.parametrize("rate", [24_000, 44_100])
def test_8_24_and_32_bit_files_decode_to_the_16_bit_waveform(tmp_path: Path, rate: int) -> None:
    wave_ = sine(440, 0.3, rate, amplitude=0.6)
    decoded = {
        width: samples(
            read_wav(write(tmp_path / f"{width}.wav", encode([wave_], width), rate, 1, width))
        )
        for width in (1, 2, 3, 4)
    }

    reference = decoded[2]
    assert zero_crossing_frequency(middle(reference)) == pytest.approx(440, rel=0.005)
    for width, tolerance in ((1, 400), (3, 2), (4, 2)):
        assert len(decoded[width]) == len(reference)
        worst = max(abs(a - b) for a, b in zip(decoded[width], reference, strict=True))
        assert worst <= tolerance, (width, worst)


def test_8_bit_is_unsigned() -> None:
    # 128 is the zero line of unsigned 8-bit audio; 0 and 255 are the extremes.
    out = samples(convert(bytes([128, 0, 255]), sample_rate=24_000, sample_width=1))
    assert out == [0, -32768, 127 * 256]


def test_24_bit_samples_keep_their_top_16_bits() -> None:
    pcm = (0x123456).to_bytes(3, "little") + (-0x123456).to_bytes(3, "little", signed=True)
    assert samples(convert(pcm, sample_rate=24_000, sample_width=3)) == [0x1234, -0x1235]


# --- errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pcm", "kwargs", "fragment"),
    [
        (b"\x00" * 3, {"sample_rate": 24_000}, "3 bytes"),
        (b"\x00" * 6, {"sample_rate": 24_000, "channels": 2, "sample_width": 2}, "4-byte frames"),
        (b"\x00" * 4, {"sample_rate": 24_000, "sample_width": 5}, "sample width"),
        (b"\x00" * 4, {"sample_rate": 24_000, "channels": 0}, "channels"),
        (b"\x00" * 4, {"sample_rate": 0}, "0 Hz"),
        (b"\x00" * 4, {"sample_rate": 44_100.0}, "integer"),
    ],
)
def test_convert_rejects_bad_audio(pcm: bytes, kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(AudioFormatError, match=fragment):
        convert(pcm, **kwargs)  # type: ignore[arg-type]


def test_resample_rejects_odd_length_and_bad_rates() -> None:
    with pytest.raises(AudioFormatError, match="even"):
        resample(b"\x00" * 5, 48_000, 24_000)
    with pytest.raises(AudioFormatError, match="from_rate"):
        resample(b"", -1, 24_000)
    with pytest.raises(AudioFormatError, match="to_rate"):
        resample(b"", 24_000, 10**9)
    assert issubclass(AudioFormatError, ValueError)


# --- against the definition of an ideal resampler -------------------------------------
# Sampling theory, not the resampler's own filter, gives the expected values: a sum
# of sines below both Nyquist frequencies, sampled at one rate, is at any other rate
# the same sines sampled at the new instants; a sine above the output's Nyquist
# frequency has no place in the output at all.


def tones_at(
    partials: list[tuple[float, float, float]], rate: int, count: int, start: int = 0
) -> list[float]:
    """Samples ``start .. start+count`` of a sum of (frequency, amplitude, phase) sines."""
    return [
        sum(a * math.sin(2 * math.pi * f * n / rate + p) for f, a, p in partials)
        for n in range(start, start + count)
    ]


@pytest.mark.parametrize(
    ("from_rate", "to_rate", "channels"),
    [
        (48_000, 24_000, 2),
        (44_100, 24_000, 1),
        (8_000, 24_000, 1),
        (16_000, 24_000, 2),
        (22_050, 24_000, 3),
        (96_000, 24_000, 1),
        (24_000, 44_100, 1),
        (24_000, 16_000, 1),
    ],
)
def test_band_limited_signal_lands_on_the_ideal_samples(
    from_rate: int, to_rate: int, channels: int
) -> None:
    import random

    rng = random.Random(from_rate * 7 + to_rate + channels)
    top = 0.6 * min(from_rate, to_rate) / 2  # well inside every passband
    per_channel = [
        [
            (rng.uniform(50, top), rng.uniform(0.05, 0.12), rng.uniform(0, 2 * math.pi))
            for _ in "abc"
        ]
        for _ in range(channels)
    ]
    frames = round(0.25 * from_rate)
    pcm = encode([tones_at(p, from_rate, frames) for p in per_channel], 2)

    got = samples(mix_and_resample_any(pcm, channels, from_rate, to_rate))

    assert len(got) == -(-frames * to_rate // from_rate)
    edge = to_rate // 50  # 20 ms from each end, where the input starts and stops
    count = len(got) - 2 * edge
    ideal = [0.0] * count
    for partials in per_channel:
        for i, v in enumerate(tones_at(partials, to_rate, count, start=edge)):
            ideal[i] += v * 32767 / channels
    worst = max(abs(g - e) for g, e in zip(got[edge:-edge], ideal, strict=True))
    # The ideal values are reals; rounding and the filter's passband ripple stay
    # within a few steps of 16-bit audio (about -66 dB of full scale for 16).
    assert worst <= 16, worst


def mix_and_resample_any(pcm: bytes, channels: int, from_rate: int, to_rate: int) -> bytes:
    """Through the public functions: convert() for 24 kHz output, resample() after mixing."""
    if to_rate == SAMPLE_RATE:
        return convert(pcm, sample_rate=from_rate, channels=channels)
    assert channels == 1
    return resample(pcm, from_rate, to_rate)


@pytest.mark.parametrize("frequency", [200, 1000, 3000, 6000, 8000])
def test_passband_keeps_the_level_of_every_tone(frequency: int) -> None:
    pcm = encode([sine(frequency, 0.5, 48_000)], 2)

    out = middle(samples(convert(pcm, sample_rate=48_000)), 600)

    level_db = 20 * math.log10(dft_amplitude(out, frequency) / 0.5)
    assert abs(level_db) < 0.5, level_db


@pytest.mark.parametrize("frequency", [12_500, 14_000, 16_000, 19_000, 23_000])
def test_stopband_leaves_no_alias_of_any_tone(frequency: int) -> None:
    # 48 -> 24 kHz: these tones would fold down to 48 kHz - f, between 1 and 11.5 kHz.
    pcm = encode([sine(frequency, 0.5, 48_000)], 2)

    out = middle(samples(convert(pcm, sample_rate=48_000)), 600)

    alias = 48_000 - frequency
    alias_db = 20 * math.log10(max(dft_amplitude(out, alias), 1e-9) / 0.5)
    assert alias_db < -55, alias_db


def dft_amplitude(values: list[int], frequency: float, rate: int = SAMPLE_RATE) -> float:
    """Amplitude at ``frequency`` from one DFT bin (Hann-windowed), 1.0 = full scale."""
    n = len(values)
    re = im = window_sum = 0.0
    for i, x in enumerate(values):
        w = 0.5 - 0.5 * math.cos(2 * math.pi * i / (n - 1))
        angle = 2 * math.pi * frequency * i / rate
        re += w * x * math.cos(angle)
        im -= w * x * math.sin(angle)
        window_sum += w
    return 2 * math.hypot(re, im) / window_sum / 32767
