"""A description of the machine and software a run measured."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

PACKAGES = (
    "vatel",
    "websockets",
    "httpx",
    "sniffio",
    "pydantic",
    "orjson",
    "pybase64",
    "openai",
    "uvloop",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return float("nan")


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"') + f", kernel {platform.release()}"
    except OSError:
        pass
    return platform.platform()


def _cpu_busy(seconds: float) -> float:
    """Percent of all CPUs busy over ``seconds`` (Linux), NaN elsewhere."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except OSError:
        return float("nan")
    total = total1 - total0
    return 100 * (1 - (idle1 - idle0) / total) if total else float("nan")


def describe(measure_background: bool = True) -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory_gib": round(_memory_gib(), 1),
        "os": _os_name(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": versions,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "background_cpu_percent": _cpu_busy(1.0) if measure_background else None,
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "argv": sys.argv[1:],
    }


def summary(info: dict[str, Any]) -> str:
    packages = ", ".join(f"{k} {v}" for k, v in info["packages"].items())
    load = info["load_average"]
    load_text = "n/a" if load is None else " ".join(f"{x:.2f}" for x in load)
    background = info.get("background_cpu_percent")
    busy = "" if background is None else f"; other load at start {background:.0f}% of all CPUs"
    return (
        f"{info['cpu']}, {info['cpus']} CPUs, {info['memory_gib']} GiB RAM; {info['os']}; "
        f"{info['python']}; {packages}; load average {load_text}{busy}"
    )


class CpuMonitor:
    """How much of the machine's CPU other processes took during a benchmark.

    Busy time of all CPUs (``/proc/stat``) minus the CPU time of this process,
    its finished children (the client workers) and the given running processes
    (the servers), as a percentage of all CPUs over the wall time. Linux only;
    NaN elsewhere.
    """

    def __init__(self, running: list[int]) -> None:
        self.running = running
        self._start: tuple[float, float, float] | None = None
        self.other_percent = float("nan")

    def _sample(self) -> tuple[float, float, float]:
        import resource

        from ._common import process_cpu_seconds

        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        busy = (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
        own = 0.0
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
            usage = resource.getrusage(who)
            own += usage.ru_utime + usage.ru_stime
        own += sum(process_cpu_seconds(pid) for pid in self.running)
        return time.monotonic(), busy, own

    def __enter__(self) -> CpuMonitor:
        try:
            self._start = self._sample()
        except (OSError, ImportError, ValueError):
            self._start = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._start is None:
            return
        try:
            end = self._sample()
        except (OSError, ImportError, ValueError):
            return
        wall = end[0] - self._start[0]
        other = (end[1] - self._start[1]) - (end[2] - self._start[2])
        if wall > 0:
            self.other_percent = max(0.0, 100 * other / (wall * (os.cpu_count() or 1)))
