"""``python -m bench``: run the benchmarks and print the results table."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from . import coldstart, imports, memory, receive, resample, rest, send, sessions
from ._common import Row, log, table
from ._machine import CpuMonitor, describe, summary
from ._server import ServerProcess

BENCHMARKS = (
    "receive",
    "send",
    "sessions",
    "imports",
    "memory",
    "rest",
    "coldstart",
    "resample",
)

SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "receive_frames": 60_000,
        "receive_repeats": 7,
        "send_frames": 40_000,
        "send_repeats": 7,
        "steps": (25, 50, 75, 100, 125, 150, 200, 250, 300, 400),
        "seconds": 10.0,
        "session_repeats": 3,
        "import_repeats": 21,
        "memory_sessions": 200,
        "memory_repeats": 3,
        "rest_requests": 2000,
        "rest_repeats": 5,
        "coldstart_repeats": 15,
        "warm_repeats": 5,
        "resample_repeats": 5,
        "resample_seconds": 10.0,
    },
    "quick": {
        "receive_frames": 30_000,
        "receive_repeats": 2,
        "send_frames": 20_000,
        "send_repeats": 2,
        "steps": (25, 50, 100, 200),
        "seconds": 5.0,
        "session_repeats": 1,
        "import_repeats": 7,
        "memory_sessions": 100,
        "memory_repeats": 1,
        "rest_requests": 500,
        "rest_repeats": 2,
        "coldstart_repeats": 5,
        "warm_repeats": 2,
        "resample_repeats": 2,
        "resample_seconds": 10.0,
    },
    "tiny": {
        "receive_frames": 2_000,
        "receive_repeats": 1,
        "send_frames": 2_000,
        "send_repeats": 1,
        "steps": (2,),
        "seconds": 1.0,
        "session_repeats": 1,
        "import_repeats": 1,
        "memory_sessions": 5,
        "memory_repeats": 1,
        "rest_requests": 20,
        "rest_repeats": 1,
        "coldstart_repeats": 1,
        "warm_repeats": 1,
        "resample_repeats": 1,
        "resample_seconds": 0.5,
    },
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure the SDK against hand-written baselines, side by side.",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a short run (a few minutes)")
    size.add_argument("--tiny", action="store_true", help="a smoke run (seconds; no meaning)")
    parser.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help=f"comma-separated subset of: {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--frames", type=int, help="frames per receive/send run")
    parser.add_argument("--repeats", type=int, help="interleaved repeats per receive/send run")
    parser.add_argument("--steps", help="session counts to step through, e.g. 50,100,200")
    parser.add_argument("--seconds", type=float, help="length of each sessions step")
    parser.add_argument("--session-repeats", type=int, help="runs per sessions step and side")
    parser.add_argument("--import-repeats", type=int, help="fresh interpreters per statement")
    parser.add_argument(
        "--coldstart-repeats", type=int, help="fresh interpreters per cold-start variant"
    )
    parser.add_argument("--warm-repeats", type=int, help="workers per first-call variant")
    parser.add_argument("--rest-repeats", type=int, help="interleaved repeats per REST variant")
    parser.add_argument("--json", type=Path, help="also write the results (with details) here")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = dict(SIZES["tiny" if args.tiny else "quick" if args.quick else "full"])
    if args.frames:
        sizes["receive_frames"] = sizes["send_frames"] = args.frames
    if args.repeats:
        sizes["receive_repeats"] = sizes["send_repeats"] = args.repeats
    if args.steps:
        sizes["steps"] = tuple(int(k) for k in args.steps.split(","))
    if args.seconds:
        sizes["seconds"] = args.seconds
    if args.session_repeats:
        sizes["session_repeats"] = args.session_repeats
    if args.import_repeats:
        sizes["import_repeats"] = args.import_repeats
    for name in ("coldstart_repeats", "warm_repeats", "rest_repeats"):
        if getattr(args, name):
            sizes[name] = getattr(args, name)
    selected = [b for b in BENCHMARKS if b in args.only.split(",")]

    machine = describe(measure_background=not args.tiny)
    log("machine: " + summary(machine))
    started = time.monotonic()
    rows: list[Row] = []
    timings: dict[str, float] = {}
    other_load: dict[str, float] = {}
    with ServerProcess() as server:
        for name in selected:
            t0 = time.monotonic()
            with CpuMonitor([server.proc.pid] if server.proc else []) as monitor:
                rows += run_benchmark(name, server, sizes)
            timings[name] = time.monotonic() - t0
            other_load[name] = monitor.other_percent
            log(f"{name}: other processes took {monitor.other_percent:.0f}% of all CPUs")
    elapsed = time.monotonic() - started

    print(f"Machine: {summary(machine)}")
    print(f"Sizes: {json.dumps(sizes)}")
    print()
    print(table(rows, markdown=args.markdown))
    print()
    spent = ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
    print(f"Total time {elapsed:.0f} s ({spent})")
    others = ", ".join(f"{k} {v:.0f}%" for k, v in other_load.items())
    print(f"CPU taken by other processes of the machine, % of all CPUs: {others}")
    failed = [r.benchmark.strip() for r in rows if r.verdict == "FAIL"]
    print("Targets missed: " + (", ".join(failed) if failed else "none"))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": machine,
                    "sizes": sizes,
                    "seconds": elapsed,
                    "timings": timings,
                    "other_load_percent": other_load,
                    "rows": [r.as_dict() for r in rows],
                },
                indent=2,
                default=str,
            )
        )
    return 0


def run_benchmark(name: str, server: ServerProcess, sizes: dict[str, Any]) -> list[Row]:
    if name == "receive":
        return receive.run(server, frames=sizes["receive_frames"], repeats=sizes["receive_repeats"])
    if name == "send":
        return send.run(server, frames=sizes["send_frames"], repeats=sizes["send_repeats"])
    if name == "sessions":
        return sessions.run(
            server,
            steps=sizes["steps"],
            seconds=sizes["seconds"],
            repeats=sizes["session_repeats"],
        )
    if name == "imports":
        return imports.run(repeats=sizes["import_repeats"])
    if name == "memory":
        return memory.run(
            server, sessions=sizes["memory_sessions"], repeats=sizes["memory_repeats"]
        )
    if name == "rest":
        return rest.run(requests=sizes["rest_requests"], repeats=sizes["rest_repeats"])
    if name == "coldstart":
        return coldstart.run(repeats=sizes["coldstart_repeats"], warm_repeats=sizes["warm_repeats"])
    if name == "resample":
        return resample.run(repeats=sizes["resample_repeats"], seconds=sizes["resample_seconds"])
    raise ValueError(name)


if __name__ == "__main__":
    sys.exit(main())
