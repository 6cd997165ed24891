"""Send throughput: the client sends ``input_audio`` frames as fast as it can.

Baseline: ``base64.b64encode`` + ``json.dumps`` (compact separators, so that both
sides put the very same bytes on the wire) + ``ws.send`` on a bare ``websockets``
connection. SDK: ``conn.send_input_audio_bytes(pcm)``. The server counts frames
and payload bytes and answers with ``bench_count`` once it has them all; the
time runs from the first send to that answer. Both use ``compression=None``;
the baseline with ``websockets``' defaults is shown for information.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ._common import (
    CLIP_FRAMES,
    PCM_FRAMES,
    Row,
    Stopwatch,
    cpu_per_item,
    log,
    median_cpu,
    median_rate,
    paired_ratios,
    per_second,
    repeat_interleaved,
    run_worker,
)
from ._server import ServerProcess

VARIANTS = (
    "async-bare",
    "async-sdk",
    "async-bare-deflate",
    "sync-bare",
    "sync-sdk",
    "sync-bare-deflate",
)


# -- client side (runs in a worker process) --------------------------------------------


async def _async_bare(url: str, frames: int, deflate: bool) -> tuple[dict[str, Any], Stopwatch]:
    import base64
    import json

    from websockets.asyncio.client import connect

    kwargs: dict[str, Any] = {} if deflate else {"compression": None}
    watch = Stopwatch()
    async with connect(url, **kwargs) as ws:
        watch.start()
        for i in range(frames):
            audio = base64.b64encode(PCM_FRAMES[i % CLIP_FRAMES]).decode("ascii")
            message = {"type": "input_audio", "data": {"audio": audio}}
            await ws.send(json.dumps(message, separators=(",", ":")))
        answer = json.loads(await ws.recv())
        watch.stop()
    return answer["data"], watch


async def _async_sdk(url: str, frames: int) -> tuple[dict[str, Any], Stopwatch]:
    import vatel

    watch = Stopwatch()
    async with vatel.connect_async(url) as conn:
        watch.start()
        for i in range(frames):
            await conn.send_input_audio_bytes(PCM_FRAMES[i % CLIP_FRAMES])
        answer = await conn.recv()
        watch.stop()
    assert isinstance(answer, vatel.UnknownEvent)
    return dict(answer.data), watch


def _sync_bare(url: str, frames: int, deflate: bool) -> tuple[dict[str, Any], Stopwatch]:
    import base64
    import json

    from websockets.sync.client import connect

    kwargs: dict[str, Any] = {} if deflate else {"compression": None}
    watch = Stopwatch()
    with connect(url, **kwargs) as ws:
        watch.start()
        for i in range(frames):
            audio = base64.b64encode(PCM_FRAMES[i % CLIP_FRAMES]).decode("ascii")
            message = {"type": "input_audio", "data": {"audio": audio}}
            ws.send(json.dumps(message, separators=(",", ":")))
        answer = json.loads(ws.recv())
        watch.stop()
    return answer["data"], watch


def _sync_sdk(url: str, frames: int) -> tuple[dict[str, Any], Stopwatch]:
    import vatel

    watch = Stopwatch()
    with vatel.connect(url) as conn:
        watch.start()
        for i in range(frames):
            conn.send_input_audio_bytes(PCM_FRAMES[i % CLIP_FRAMES])
        answer = conn.recv()
        watch.stop()
    assert isinstance(answer, vatel.UnknownEvent)
    return dict(answer.data), watch


def client(spec: dict[str, Any]) -> dict[str, Any]:
    """One measurement: ``spec`` has ``variant``, ``url`` and ``frames``."""
    variant, url, frames = spec["variant"], spec["url"], spec["frames"]
    deflate = variant.endswith("-deflate")
    if variant.startswith("async-bare"):
        answer, watch = asyncio.run(_async_bare(url, frames, deflate))
    elif variant == "async-sdk":
        answer, watch = asyncio.run(_async_sdk(url, frames))
    elif variant.startswith("sync-bare"):
        answer, watch = _sync_bare(url, frames, deflate)
    else:
        answer, watch = _sync_sdk(url, frames)
    return {
        "messages": answer["messages"],
        "bytes": answer["bytes"],
        "wall": watch.wall,
        "cpu": watch.cpu,
    }


# -- parent side ------------------------------------------------------------------------


def run(server: ServerProcess, *, frames: int = 100_000, repeats: int = 5) -> list[Row]:
    log(f"send throughput: {frames} frames per run, {repeats} interleaved repeats")

    def one(variant: str, rep: int) -> dict[str, Any]:
        url = server.url(f"/sink?n={frames}")
        cpu0 = server.cpu_seconds()
        spec = {"variant": variant, "url": url, "frames": frames}
        result: dict[str, Any] = run_worker("send", "client", spec)
        result["server_cpu"] = server.cpu_seconds() - cpu0
        if result["messages"] != frames:
            raise RuntimeError(f"{variant}: server got {result['messages']} of {frames}")
        log(
            f"  send {variant:<18} rep {rep + 1}: "
            f"{per_second(result):>9,.0f} msg/s, "
            f"{cpu_per_item(result) * 1e6:5.1f} us CPU/msg, "
            f"client {result['cpu'] / result['wall']:4.0%} server "
            f"{result['server_cpu'] / result['wall']:4.0%} CPU, "
            f"{result['bytes'] / result['messages']:.0f} B/msg"
        )
        return result

    res = repeat_interleaved(VARIANTS, repeats, one)
    rows: list[Row] = []
    for mode in ("async", "sync"):
        bare, sdk = res[f"{mode}-bare"], res[f"{mode}-sdk"]
        rows.append(
            Row(
                f"send {mode}",
                "msg/s",
                median_rate(bare),
                median_rate(sdk),
                target=0.9,
                paired=paired_ratios(bare, sdk, "rate"),
                details={
                    "baseline_runs": bare,
                    "sdk_runs": sdk,
                    "bytes_per_message": {
                        "baseline": bare[0]["bytes"] / bare[0]["messages"],
                        "sdk": sdk[0]["bytes"] / sdk[0]["messages"],
                    },
                },
            )
        )
        rows.append(
            Row(
                f"  client CPU send {mode}",
                "us/msg",
                median_cpu(bare, 1e6),
                median_cpu(sdk, 1e6),
                lower_is_better=True,
                paired=paired_ratios(bare, sdk, "cpu"),
            )
        )
        rows.append(
            Row(
                f"  send {mode}, baseline with websockets defaults (deflate)",
                "msg/s",
                median_rate(res[f"{mode}-bare-deflate"]),
                median_rate(sdk),
                note="baseline: compression negotiated, client compresses",
                paired=paired_ratios(res[f"{mode}-bare-deflate"], sdk, "rate"),
            )
        )
    return rows
