"""Sessions per process: K concurrent real-time sessions in one asyncio client process.

Every session streams both ways at real-time pace: the server sends a 20 ms
``response_audio`` frame every 20 ms and the client sends a 20 ms
``input_audio`` frame every 20 ms, for ``seconds`` seconds. Session ``i`` starts
``i / K * 20 ms`` after the first, so the sessions' frames are spread over the
20 ms period as independent calls would be.

Lateness of audio frame ``n`` (0-based) of a session: the time the client has
the decoded PCM in hand minus the time the frame was due,
``t0 + (n + 1) * 20 ms``, where ``t0`` is the server's start time for the
session (sent in ``bench_start``; both processes read the same monotonic
clock). It includes the server's own scheduling delay, which the server reports
separately (``server p99``). The baseline reads the frames with ``json.loads``
and ``base64.b64decode``; the SDK with ``async for event in conn`` and
``event.pcm``. Both send with the same options (``compression=None``).

A step K holds when p99 lateness is under 20 ms and no frame is lost in either
direction, in at least one of its runs (other processes on the machine only
ever make a run worse, so the best run is the fairest estimate of what the
process can carry). The ceiling is the largest K that holds with every smaller
step holding too. Steps stop once both sides have failed one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ._common import (
    CLIP_FRAMES,
    FRAME_SECONDS,
    PCM_FRAMES,
    Row,
    log,
    percentile,
    run_worker,
)
from ._server import ServerProcess

P99_LIMIT = 0.020
DEFAULT_STEPS = (25, 50, 75, 100, 125, 150, 200, 250, 300, 400)


class SessionResult:
    def __init__(self) -> None:
        self.lateness: list[float] = []
        self.send_lateness: list[float] = []
        self.stats: dict[str, Any] = {}
        self.error = ""


# -- client side (runs in a worker process) --------------------------------------------


async def _paced_sender(
    send: Callable[[int], Awaitable[None]], start: float, frames: int, result: SessionResult
) -> None:
    loop = asyncio.get_running_loop()
    due = start
    for index in range(frames):
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        result.send_lateness.append(loop.time() - due)
        await send(index)
        due += FRAME_SECONDS


async def _bare_session(ws: Any, start: float, frames: int, result: SessionResult) -> None:
    import base64
    import json

    async def send(index: int) -> None:
        audio = base64.b64encode(PCM_FRAMES[index % CLIP_FRAMES]).decode("ascii")
        message = {"type": "input_audio", "data": {"audio": audio}}
        await ws.send(json.dumps(message, separators=(",", ":")))

    sender = asyncio.create_task(_paced_sender(send, start, frames, result))
    lateness = result.lateness
    monotonic = time.monotonic
    t0 = 0.0
    async for raw in ws:
        message = json.loads(raw)
        kind = message["type"]
        if kind == "response_audio":
            base64.b64decode(message["data"]["audio"])
            lateness.append(monotonic() - t0 - (len(lateness) + 1) * FRAME_SECONDS)
        elif kind == "bench_start":
            t0 = message["data"]["t0"]
        elif kind == "bench_stats":
            result.stats = message["data"]
        elif kind == "session_ended":
            break
    await sender
    await ws.close()


async def _sdk_session(conn: Any, start: float, frames: int, result: SessionResult) -> None:
    import vatel

    async def send(index: int) -> None:
        await conn.send_input_audio_bytes(PCM_FRAMES[index % CLIP_FRAMES])

    sender = asyncio.create_task(_paced_sender(send, start, frames, result))
    lateness = result.lateness
    monotonic = time.monotonic
    t0 = 0.0
    async for event in conn:
        if isinstance(event, vatel.ResponseAudio):
            event.pcm  # noqa: B018
            lateness.append(monotonic() - t0 - (len(lateness) + 1) * FRAME_SECONDS)
        elif isinstance(event, vatel.UnknownEvent):
            if event.type == "bench_start":
                t0 = event.data["t0"]
            elif event.type == "bench_stats":
                result.stats = dict(event.data)
    await sender
    await conn.close()


async def _run_sessions(spec: dict[str, Any]) -> dict[str, Any]:
    count: int = spec["sessions"]
    frames = round(spec["seconds"] / FRAME_SECONDS)
    url = f"{spec['url']}/live?frames={frames}"
    sdk = spec["variant"] == "sdk"
    if sdk:
        import vatel

        async def open_one() -> Any:
            return await vatel.connect_async(url)

        session: Callable[..., Awaitable[None]] = _sdk_session
    else:
        from websockets.asyncio.client import connect

        async def open_one() -> Any:
            return await connect(url, compression=None)

        session = _bare_session

    gate = asyncio.Semaphore(50)

    async def gated_open() -> Any:
        async with gate:
            return await open_one()

    opened = await asyncio.gather(*(gated_open() for _ in range(count)), return_exceptions=True)
    failures = [repr(c) for c in opened if isinstance(c, BaseException)]
    if failures:  # the step cannot hold: report it rather than stopping the run
        for conn in opened:
            if not isinstance(conn, BaseException):
                await conn.close()
        return {
            "sessions": count,
            "frames_per_session": frames,
            "expected": count * frames,
            "received": 0,
            "server_received": 0,
            "errors": failures[:5],
            "error_count": len(failures),
            "cpu_percent": float("nan"),
            "wall": 0.0,
            "p50_ms": float("nan"),
            "p99_ms": float("nan"),
            "max_ms": float("nan"),
            "send_p99_ms": float("nan"),
            "server_p99_ms": float("nan"),
        }
    connections = list(opened)
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.25
    results = [SessionResult() for _ in range(count)]

    async def guarded(i: int) -> None:
        try:
            await session(connections[i], start + i * FRAME_SECONDS / count, frames, results[i])
        except Exception as exc:
            results[i].error = repr(exc)

    await asyncio.sleep(start - loop.time())
    wall0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(guarded(i) for i in range(count)))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0

    lateness = [x for r in results for x in r.lateness]
    send_lateness = [x for r in results for x in r.send_lateness]
    server_p99 = [r.stats.get("server_lateness_p99", float("nan")) for r in results]
    return {
        "sessions": count,
        "frames_per_session": frames,
        "expected": count * frames,
        "received": len(lateness),
        "server_received": sum(int(r.stats.get("received", 0)) for r in results),
        "errors": [r.error for r in results if r.error][:5],
        "error_count": sum(1 for r in results if r.error),
        "cpu_percent": 100 * cpu / wall,
        "wall": wall,
        "p50_ms": 1000 * percentile(lateness, 50),
        "p99_ms": 1000 * percentile(lateness, 99),
        "max_ms": 1000 * max(lateness, default=float("nan")),
        "send_p99_ms": 1000 * percentile(send_lateness, 99),
        "server_p99_ms": 1000 * max(server_p99, default=float("nan")),
    }


def client(spec: dict[str, Any]) -> dict[str, Any]:
    """One step: ``spec`` has ``variant`` (bare or sdk), ``url``, ``sessions``, ``seconds``."""
    return asyncio.run(_run_sessions(spec))


# -- parent side ------------------------------------------------------------------------


def holds(result: dict[str, Any]) -> bool:
    return (
        result["error_count"] == 0
        and result["received"] == result["expected"]
        and result["server_received"] == result["expected"]
        and result["p99_ms"] < P99_LIMIT * 1000
    )


def ceiling(steps: list[int], outcome: dict[int, bool]) -> int:
    best = 0
    for k in steps:
        if not outcome.get(k, False):
            break
        best = k
    return best


def run(
    server: ServerProcess,
    *,
    steps: tuple[int, ...] = DEFAULT_STEPS,
    seconds: float = 10.0,
    repeats: int = 1,
) -> list[Row]:
    log(f"sessions per process: steps {list(steps)}, {seconds:g} s each, {repeats} repeat(s)")
    url = server.url("")
    table: dict[str, dict[int, list[dict[str, Any]]]] = {"bare": {}, "sdk": {}}
    alive = {"bare": True, "sdk": True}
    for step_index, k in enumerate(steps):
        order = ("bare", "sdk") if step_index % 2 == 0 else ("sdk", "bare")
        for rep in range(repeats):
            for variant in order if rep % 2 == 0 else order[::-1]:
                if not alive[variant]:
                    continue
                cpu0 = server.cpu_seconds()
                spec = {"variant": variant, "url": url, "sessions": k, "seconds": seconds}
                result = run_worker("sessions", "client", spec, timeout=seconds * 10 + 120)
                result["server_cpu_percent"] = (
                    100 * (server.cpu_seconds() - cpu0) / max(result["wall"], 1e-9)
                )
                table[variant].setdefault(k, []).append(result)
                log(
                    f"  sessions {variant:<4} K={k:<4} "
                    f"recv {result['received']}/{result['expected']} "
                    f"sent {result['server_received']}/{result['expected']} "
                    f"p50 {result['p50_ms']:6.2f} ms p99 {result['p99_ms']:7.2f} ms "
                    f"max {result['max_ms']:7.1f} ms client CPU {result['cpu_percent']:5.1f}% "
                    f"server CPU {result['server_cpu_percent']:5.1f}% "
                    f"(server p99 {result['server_p99_ms']:.2f} ms)"
                    + (f" errors {result['error_count']}" if result["error_count"] else "")
                )
        for variant in ("bare", "sdk"):
            runs = table[variant].get(k, [])
            if runs and not any(holds(r) for r in runs):
                alive[variant] = False
        if not alive["bare"] and not alive["sdk"]:
            break

    outcome = {v: {k: any(holds(r) for r in runs) for k, runs in table[v].items()} for v in table}
    step_list = list(steps)
    base_ceiling = ceiling(step_list, outcome["bare"])
    sdk_ceiling = ceiling(step_list, outcome["sdk"])
    per_step = {v: {str(k): runs for k, runs in table[v].items()} for v in table}
    rows = [
        Row(
            "sessions per process (p99 < 20 ms, none lost)",
            "sessions",
            float(base_ceiling),
            float(sdk_ceiling),
            target=0.9,
            note=f"steps {step_list}, {seconds:g} s each",
            details={"per_step": per_step},
        )
    ]
    for k in step_list:
        base_runs, sdk_runs = table["bare"].get(k), table["sdk"].get(k)
        if not base_runs or not sdk_runs:
            continue
        b, s = _best(base_runs), _best(sdk_runs)
        rows.append(
            Row(f"  K={k} p99 lateness", "ms", b["p99_ms"], s["p99_ms"], lower_is_better=True)
        )
        rows.append(
            Row(
                f"  K={k} client CPU",
                "%",
                b["cpu_percent"],
                s["cpu_percent"],
                lower_is_better=True,
                note=(
                    f"lost {b['expected'] * 2 - b['received'] - b['server_received']} / "
                    f"{s['expected'] * 2 - s['received'] - s['server_received']}"
                ),
            )
        )
    return rows


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return min(runs, key=lambda r: r["p99_ms"])
