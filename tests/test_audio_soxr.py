"""Resampling through soxr when it is installed, and the pure-Python fallback when not."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import wave
from array import array
from pathlib import Path

import pytest

from vatel.audio import _resample, _soxr, read_wav


def wav_tone(path: Path, frequency: float, rate: int = 48_000, seconds: float = 0.5) -> Path:
    values = array(
        "h",
        (
            round(16_000 * math.sin(2 * math.pi * frequency * i / rate))
            for i in range(round(seconds * rate))
        ),
    )
    if sys.byteorder == "big":
        values.byteswap()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(values.tobytes())
    return path


def level_db(pcm: bytes, frequency: float, rate: int = 24_000) -> float:
    """Level of ``frequency`` in ``pcm`` relative to the 16,000 amplitude written."""
    values = array("h")
    values.frombytes(pcm)
    if sys.byteorder == "big":
        values.byteswap()
    body = values[600:-600]
    re = sum(x * math.cos(2 * math.pi * frequency * i / rate) for i, x in enumerate(body))
    im = sum(x * math.sin(2 * math.pi * frequency * i / rate) for i, x in enumerate(body))
    return 20 * math.log10(2 * math.hypot(re, im) / len(body) / 16_000)


@pytest.mark.parametrize(("prefer_soxr", "low", "high"), [(True, -0.2, 0.2), (False, -16, -6)])
def test_read_wav_keeps_10_8_khz_only_with_soxr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefer_soxr: bool, low: float, high: float
) -> None:
    # The built-in filter starts rolling off at 80 % of the output's Nyquist
    # frequency; libsoxr's passband reaches 91 %: 10.8 kHz survives 48 -> 24 kHz.
    if prefer_soxr and not _soxr.available():
        pytest.skip("soxr is not installed (pip install 'vatel[soxr]')")
    monkeypatch.setattr(_resample, "_prefer_soxr", prefer_soxr)

    pcm = read_wav(wav_tone(tmp_path / "tone.wav", 10_800))

    assert len(pcm) == 2 * 12_000
    assert low < level_db(pcm, 10_800) < high


def run_python(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return proc.stdout.strip()


@pytest.mark.timeout(60)
def test_importing_audio_loads_neither_numpy_nor_soxr() -> None:
    out = run_python(
        """
        import sys
        import vatel.audio
        vatel.audio.convert(b"\\0\\0" * 480, sample_rate=24_000)
        print("numpy" in sys.modules, "soxr" in sys.modules)
        """
    )
    assert out == "False False"


@pytest.mark.timeout(60)
def test_without_soxr_the_built_in_filter_resamples() -> None:
    # As if soxr were not installed: importing it fails.
    out = run_python(
        """
        import sys
        sys.modules["soxr"] = None
        from vatel.audio import _resample, convert, tone
        pcm = convert(tone(1000, 0.1) * 2, sample_rate=48_000)
        print(_resample.backend(), len(pcm), "numpy" in sys.modules)
        """
    )
    assert out == "builtin 4800 False"
