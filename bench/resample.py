"""Resampling: the built-in pure-Python filter against libsoxr (the ``soxr`` extra),
for speed and for quality.

**Speed.** 10 s of 48 kHz mono PCM16 (speech-like: gliding tones plus noise) to
the session's 24 kHz, through ``vatel.audio``'s resampler with each backend. Each
worker process times both backends in turn (CPU time, the median of a few calls
after one warm-up); workers run one after another, the backends' order
alternating. The first call of a process is shown too: for soxr it includes
importing numpy and soxr.

**Quality**, measured the same way for both, going 48 → 24 kHz: one-second sine
tones at half of full scale, the output's amplitude at the tone's frequency
measured with a Goertzel filter away from the ends. Passband: the gain at
frequencies up to 10 kHz. Aliasing: tones from 12.5 to 23.9 kHz cannot exist at
24 kHz; everything that comes out is alias (or noise), measured as RMS relative
to the input tone's RMS; the worst tone is shown.
"""

from __future__ import annotations

import importlib.util
import math
import time
from array import array
from typing import Any

from ._common import Row, log, median, run_worker

INPUT_RATE = 48_000
OUTPUT_RATE = 24_000
PASSBAND = [float(f) for f in range(100, 10_001, 100)]
EDGE_TONES = [9_600.0, 10_000.0, 10_800.0]
ALIAS_TONES = [float(f) for f in range(12_500, 24_000, 200)]
_CALLS = 3


def speech_like(seconds: float, rate: int = INPUT_RATE) -> bytes:
    """Deterministic PCM16 mono: two gliding tones plus pseudo-random noise."""
    values = array("h")
    seed = 12345
    for i in range(round(seconds * rate)):
        t = i / rate
        pitch = 180 + 60 * math.sin(2 * math.pi * 0.7 * t)
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        noise = (seed / 0x7FFFFFFF - 0.5) * 2000
        value = 6000 * math.sin(2 * math.pi * pitch * t) + 2500 * math.sin(2 * math.pi * 3375 * t)
        values.append(max(-32768, min(32767, int(value + noise))))
    return values.tobytes()


def _resampler(backend: str) -> Any:
    from vatel.audio import _resample

    if backend == "builtin":
        return _resample.builtin_mix_and_resample
    if _resample.backend() != "soxr":
        raise RuntimeError("soxr is not installed: pip install 'vatel[soxr]'")
    return _resample.mix_and_resample


def speed(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker: CPU seconds of the first call and the median of the next ones, per backend."""
    pcm = speech_like(spec["seconds"])
    out: dict[str, Any] = {}
    for backend in spec["order"]:
        t0 = time.process_time()
        resample = _resampler(backend)  # soxr: imports numpy and soxr
        times = []
        for _ in range(1 + _CALLS):
            resample(pcm, 1, INPUT_RATE, OUTPUT_RATE)
            times.append(time.process_time() - t0)
            t0 = time.process_time()
        out[backend] = {"first": times[0], "call": median(times[1:])}
    return out


def _sine(frequency: float, rate: int, seconds: float = 1.0, amplitude: float = 0.5) -> bytes:
    step = 2 * math.pi * frequency / rate
    count = round(seconds * rate)
    return array(
        "h", (round(amplitude * 32767 * math.sin(step * i)) for i in range(count))
    ).tobytes()


def _goertzel(values: array[int], frequency: float, rate: int) -> float:
    """Amplitude of ``values`` at ``frequency``, in units of full scale."""
    coeff = 2 * math.cos(2 * math.pi * frequency / rate)
    s1 = s2 = 0.0
    for x in values:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return 2 * math.sqrt(max(power, 0.0)) / len(values) / 32767


def _middle(pcm: bytes, edge: int = 500) -> array[int]:
    values = array("h")
    values.frombytes(pcm)
    return values[edge:-edge]


def _db(ratio: float) -> float:
    return 20 * math.log10(max(ratio, 1e-12))


def quality(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker: passband gains and the worst alias of one backend, in dB."""
    resample = _resampler(spec["backend"])
    stride, seconds = spec["stride"], spec["tone_seconds"]
    gains = {}
    for frequency in sorted({*PASSBAND[::stride], *EDGE_TONES}):
        tone = _sine(frequency, INPUT_RATE, seconds)
        out = _middle(resample(tone, 1, INPUT_RATE, OUTPUT_RATE))
        gains[frequency] = _db(_goertzel(out, frequency, OUTPUT_RATE) / 0.5)
    aliases = {}
    for frequency in ALIAS_TONES[::stride]:
        tone = _sine(frequency, INPUT_RATE, seconds)
        out = _middle(resample(tone, 1, INPUT_RATE, OUTPUT_RATE))
        rms = math.sqrt(sum(x * x for x in out) / len(out)) / 32767
        aliases[frequency] = _db(rms / (0.5 / math.sqrt(2)))
    up_to_10k = [g for f, g in gains.items() if f <= 10_000]
    worst = max(aliases, key=aliases.__getitem__)
    return {
        "gain_9600": gains[9_600.0],
        "gain_10000": gains[10_000.0],
        "gain_10800": gains[10_800.0],
        "ripple_to_9000": max(g for f, g in gains.items() if f <= 9_000)
        - min(g for f, g in gains.items() if f <= 9_000),
        "min_gain_to_10000": min(up_to_10k),
        "worst_alias": aliases[worst],
        "worst_alias_tone": worst,
    }


def run(*, repeats: int = 5, seconds: float = 10.0) -> list[Row]:
    log(f"resample: {seconds:g} s of 48 kHz mono to 24 kHz, {repeats} workers")
    if importlib.util.find_spec("soxr") is None:
        raise RuntimeError("the resample benchmark needs soxr: pip install 'vatel[soxr]'")
    runs = []
    for rep in range(repeats):
        order = ["builtin", "soxr"] if rep % 2 == 0 else ["soxr", "builtin"]
        result = run_worker("resample", "speed", {"seconds": seconds, "order": order})
        log(
            f"  rep {rep + 1}: built-in {result['builtin']['call'] * 1e3:6.1f} ms, "
            f"soxr {result['soxr']['call'] * 1e3:6.1f} ms "
            f"(first calls {result['builtin']['first'] * 1e3:.0f} / "
            f"{result['soxr']['first'] * 1e3:.0f} ms)"
        )
        runs.append(result)
    # A smoke run (under a second of audio) measures fewer and shorter tones.
    spec = (
        {"stride": 1, "tone_seconds": 1.0} if seconds >= 1 else {"stride": 10, "tone_seconds": 0.2}
    )
    q = {b: run_worker("resample", "quality", {**spec, "backend": b}) for b in ("builtin", "soxr")}
    for backend, figures in q.items():
        log(f"  quality {backend}: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()))

    def ms(backend: str, key: str) -> float:
        return median([r[backend][key] * 1e3 for r in runs])

    rows = [
        Row(
            f"resample {seconds:g} s 48 kHz mono to 24 kHz: soxr vs built-in",
            "ms",
            ms("builtin", "call"),
            ms("soxr", "call"),
            target=0.25,
            lower_is_better=True,
            paired=[r["soxr"]["call"] / r["builtin"]["call"] for r in runs],
            details={"runs": runs, "quality": q},
        ),
        Row(
            "  first call of a process (soxr: imports numpy and soxr)",
            "ms",
            ms("builtin", "first"),
            ms("soxr", "first"),
        ),
    ]
    for key, label in (
        ("gain_9600", "gain at 9.6 kHz, 48 to 24 kHz"),
        ("gain_10000", "gain at 10 kHz"),
        ("gain_10800", "gain at 10.8 kHz"),
        ("ripple_to_9000", "passband ripple up to 9 kHz"),
        ("worst_alias", "worst alias, tones 12.5-23.9 kHz"),
    ):
        rows.append(Row(f"  {label}", "dB", q["builtin"][key], q["soxr"][key], show_ratio=False))
    return rows
