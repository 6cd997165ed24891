"""Shared pieces of the benchmarks: audio frames, workers, statistics, result rows."""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
"""The directory that holds the ``bench`` package (workers run from there)."""

SAMPLE_RATE = 24_000
FRAME_SECONDS = 0.020
FRAME_BYTES = 960
"""20 ms of PCM16 mono at 24 kHz."""


CLIP_FRAMES = 50
"""Frames in the benchmark clip (one second); frames cycle through it."""


def pcm_clip(frames: int = CLIP_FRAMES, seed: int = 7) -> list[bytes]:
    """Deterministic speech-like PCM16 in 20 ms frames: two gliding tones plus noise.

    Every frame differs, as in real audio, so that compression (when a variant
    enables it) sees realistic input rather than one frame repeated.
    """
    rng = random.Random(seed)
    out = []
    for index in range(frames):
        samples = bytearray()
        for i in range(FRAME_BYTES // 2):
            t = (index * (FRAME_BYTES // 2) + i) / SAMPLE_RATE
            pitch = 180 + 60 * math.sin(2 * math.pi * 0.7 * t)
            value = 6000 * math.sin(2 * math.pi * pitch * t)
            value += 2500 * math.sin(2 * math.pi * 1375 * t) + rng.gauss(0, 900)
            samples += max(-32768, min(32767, int(value))).to_bytes(2, "little", signed=True)
        out.append(bytes(samples))
    return out


PCM_FRAMES = pcm_clip()
PCM = PCM_FRAMES[0]
AUDIO_B64_FRAMES = [base64.b64encode(frame).decode("ascii") for frame in PCM_FRAMES]
"""The base64 text of each clip frame (1280 characters each)."""


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def _count(run: dict[str, Any]) -> int:
    return int(run.get("messages", run.get("requests", 1)))


def per_second(run: dict[str, Any]) -> float:
    """Messages (or requests) per wall-clock second of one run."""
    return _count(run) / float(run["wall"])


def cpu_per_item(run: dict[str, Any]) -> float:
    """Client CPU seconds per message (or request) of one run."""
    return float(run["cpu"]) / _count(run)


def median_rate(runs: Sequence[dict[str, Any]]) -> float:
    """The median of :func:`per_second` over ``runs``."""
    return median([per_second(r) for r in runs])


def median_cpu(runs: Sequence[dict[str, Any]], scale: float) -> float:
    """The median of :func:`cpu_per_item` over ``runs``, times ``scale`` (1e6: µs)."""
    return median([cpu_per_item(r) * scale for r in runs])


def paired_ratios(
    baseline: Sequence[dict[str, Any]], sdk: Sequence[dict[str, Any]], key: str
) -> list[float]:
    """Per-repeat SDK/baseline ratios of ``key`` (``rate``: :func:`per_second`;
    ``cpu``: :func:`cpu_per_item`)."""
    value = per_second if key == "rate" else cpu_per_item
    return [value(s) / value(b) for b, s in zip(baseline, sdk, strict=True)]


def interleaved(variants: Sequence[str], rep: int) -> list[str]:
    """The variants in the order of repeat ``rep``: forwards, then backwards, so
    that no variant always runs right after the same neighbour."""
    return list(variants) if rep % 2 == 0 else list(reversed(variants))


def repeat_interleaved(
    variants: Sequence[str], repeats: int, measure: Callable[[str, int], dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """``measure(variant, rep)`` for every variant ``repeats`` times, interleaved
    (ABC CBA ABC …); each variant's results in the order they ran."""
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for rep in range(repeats):
        for variant in interleaved(variants, rep):
            results[variant].append(measure(variant, rep))
    return results


def run_worker(module: str, function: str, spec: dict[str, Any], timeout: float = 600) -> Any:
    """Run ``bench.<module>.<function>(spec)`` in a fresh interpreter; its JSON result."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("PYTHONASYNCIODEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "bench._worker", module, function, json.dumps(spec)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(
        f"worker {module}.{function} failed (exit {proc.returncode}):\n"
        f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    )


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of another process so far (Linux), NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_bytes() -> int:
    """Resident set size of this process (Linux), 0 elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class ChildProcess:
    """A server run as ``python -m <module>`` for ``with``: it prints one line when
    ready and exits when its stdin closes."""

    module = ""
    stop_timeout = 10.0

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> str:
        """Start the child and return the line it printed when ready."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        return self.proc.stdout.readline()

    def stop(self) -> None:
        """Close the child's stdin and wait for it (killing it if it lingers)."""
        if self.proc is None:
            return
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        return process_cpu_seconds(self.proc.pid)


class Stopwatch:
    """Wall and CPU time of this process between ``start()`` and ``stop()``."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self._wall0 = self._cpu0 = 0.0

    def start(self) -> None:
        self._wall0 = time.perf_counter()
        self._cpu0 = time.process_time()

    def stop(self) -> None:
        self.wall = time.perf_counter() - self._wall0
        self.cpu = time.process_time() - self._cpu0


@dataclass
class Row:
    """One line of the results table."""

    benchmark: str
    unit: str
    baseline: float
    sdk: float
    target: float | None = None
    """Minimum SDK/baseline ratio (or maximum, when ``lower_is_better``); None: for information."""
    lower_is_better: bool = False
    max_added: float | None = None
    """Target as an absolute limit: the SDK may add less than this to the baseline."""
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    paired: list[float] | None = None
    """SDK/baseline ratios of runs made back to back; the ratio is then their median,
    which drifting machine load disturbs less than a ratio of two medians."""
    show_ratio: bool = True
    """False for figures whose ratio means nothing (decibels)."""

    @property
    def ratio(self) -> float:
        if not self.show_ratio:
            return math.nan
        if self.paired:
            return median(self.paired)
        if not self.baseline or math.isnan(self.baseline) or math.isnan(self.sdk):
            return math.nan
        return self.sdk / self.baseline

    @property
    def verdict(self) -> str:
        if self.max_added is not None:
            return "pass" if self.sdk - self.baseline < self.max_added else "FAIL"
        if self.target is None:
            return "info"
        ratio = self.ratio
        if math.isnan(ratio):
            return "FAIL"
        ok = ratio <= self.target if self.lower_is_better else ratio >= self.target
        return "pass" if ok else "FAIL"

    def as_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "unit": self.unit,
            "baseline": self.baseline,
            "sdk": self.sdk,
            "ratio": self.ratio,
            "target": self.target_text,
            "verdict": self.verdict,
            "note": self.note,
            "details": self.details,
        }

    @property
    def target_text(self) -> str:
        if self.max_added is not None:
            return f"+< {self.max_added:g} {self.unit}"
        if self.target is None:
            return "-"
        return f"{'<=' if self.lower_is_better else '>='} {self.target:g}x"


def fmt(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(rows: Sequence[Row], markdown: bool = False) -> str:
    """The results as an aligned text table, or a Markdown table."""
    header = ["benchmark", "unit", "baseline", "SDK", "ratio", "target", "result"]
    lines = [
        [
            r.benchmark,
            r.unit,
            fmt(r.baseline),
            fmt(r.sdk),
            "-" if not r.show_ratio else "n/a" if math.isnan(r.ratio) else f"{r.ratio:.2f}x",
            r.target_text,
            r.verdict,
        ]
        for r in rows
    ]
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for cells in lines:
            name = cells[0]
            if name.startswith(" "):  # a detail of the row above: indent it visibly
                cells = ["&emsp;" + name.strip(), *cells[1:]]
            out.append("| " + " | ".join(cells) + " |")
        return "\n".join(out)
    widths = [max(len(h), *(len(c[i]) for c in lines)) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) for cells in lines]
    return "\n".join(out)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
