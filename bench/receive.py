"""Receive throughput: the server pushes ``response_audio`` frames as fast as it can.

Baseline: a ``websockets`` client that parses every frame with ``json.loads`` and
decodes the audio with ``base64.b64decode`` (the loop one writes by hand). SDK:
``async for event in conn`` / ``for event in conn``, with and without reading
``event.pcm``. Both open the socket with ``compression=None`` (the SDK's
default); the baseline with ``websockets``' defaults (permessage-deflate on) is
shown for information. Each measurement runs in its own client process.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ._common import (
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
    "async-sdk-pcm",
    "async-sdk-pcm-stdlib",
    "async-bare-deflate",
    "sync-bare",
    "sync-sdk",
    "sync-sdk-pcm",
    "sync-sdk-pcm-stdlib",
    "sync-bare-deflate",
)
"""``-pcm``: the loop reads ``event.pcm``; ``-stdlib``: the SDK without its optional
speedups (orjson, pybase64), blocked before it is imported; ``-deflate``: the
baseline with ``websockets``' default options."""

SPEEDUPS = ("orjson", "pybase64")


# -- client side (runs in a worker process) --------------------------------------------


async def _async_bare(url: str, compression: str | None) -> tuple[int, Stopwatch]:
    import base64
    import json

    from websockets.asyncio.client import connect

    watch = Stopwatch()
    count = 0
    kwargs: dict[str, Any] = {} if compression == "deflate" else {"compression": None}
    async with connect(url, **kwargs) as ws:
        watch.start()
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "response_audio":
                base64.b64decode(message["data"]["audio"])
                count += 1
            elif message["type"] == "session_ended":
                break
        watch.stop()
    return count, watch


async def _async_sdk(url: str, pcm: bool) -> tuple[int, Stopwatch]:
    import vatel

    watch = Stopwatch()
    count = 0
    async with vatel.connect_async(url) as conn:
        watch.start()
        if pcm:
            async for event in conn:
                if isinstance(event, vatel.ResponseAudio):
                    event.pcm  # noqa: B018
                    count += 1
        else:
            async for event in conn:
                if isinstance(event, vatel.ResponseAudio):
                    count += 1
        watch.stop()
    return count, watch


def _sync_bare(url: str, compression: str | None) -> tuple[int, Stopwatch]:
    import base64
    import json

    from websockets.sync.client import connect

    watch = Stopwatch()
    count = 0
    kwargs: dict[str, Any] = {} if compression == "deflate" else {"compression": None}
    with connect(url, **kwargs) as ws:
        watch.start()
        for raw in ws:
            message = json.loads(raw)
            if message["type"] == "response_audio":
                base64.b64decode(message["data"]["audio"])
                count += 1
            elif message["type"] == "session_ended":
                break
        watch.stop()
    return count, watch


def _sync_sdk(url: str, pcm: bool) -> tuple[int, Stopwatch]:
    import vatel

    watch = Stopwatch()
    count = 0
    with vatel.connect(url) as conn:
        watch.start()
        if pcm:
            for event in conn:
                if isinstance(event, vatel.ResponseAudio):
                    event.pcm  # noqa: B018
                    count += 1
        else:
            for event in conn:
                if isinstance(event, vatel.ResponseAudio):
                    count += 1
        watch.stop()
    return count, watch


def client(spec: dict[str, Any]) -> dict[str, Any]:
    """One measurement: ``spec`` has ``variant`` and ``url``."""
    variant, url = spec["variant"], spec["url"]
    deflate = "deflate" if variant.endswith("-deflate") else None
    pcm = "-pcm" in variant
    if variant.endswith("-stdlib"):
        block_speedups()
    if variant.startswith("async-bare"):
        count, watch = asyncio.run(_async_bare(url, deflate))
    elif variant.startswith("async-sdk"):
        count, watch = asyncio.run(_async_sdk(url, pcm))
    elif variant.startswith("sync-bare"):
        count, watch = _sync_bare(url, deflate)
    else:
        count, watch = _sync_sdk(url, pcm)
    return {"messages": count, "wall": watch.wall, "cpu": watch.cpu}


def block_speedups() -> None:
    """Make the SDK's optional accelerators unimportable in this process."""
    import sys

    for name in SPEEDUPS:
        sys.modules[name] = None  # type: ignore[assignment]


# -- parent side ------------------------------------------------------------------------


def measure(
    server: ServerProcess, frames: int, repeats: int, variants: tuple[str, ...] = VARIANTS
) -> dict[str, list[dict[str, Any]]]:
    """Every variant ``repeats`` times, interleaved (ABC CBA ABC …)."""

    def one(variant: str, rep: int) -> dict[str, Any]:
        url = server.url(f"/push?n={frames}")
        cpu0 = server.cpu_seconds()
        result: dict[str, Any] = run_worker("receive", "client", {"variant": variant, "url": url})
        result["server_cpu"] = server.cpu_seconds() - cpu0
        if result["messages"] != frames:
            raise RuntimeError(f"{variant}: received {result['messages']} of {frames}")
        log(
            f"  receive {variant:<18} rep {rep + 1}: "
            f"{per_second(result):>9,.0f} msg/s, "
            f"{cpu_per_item(result) * 1e6:5.1f} us CPU/msg, "
            f"client {result['cpu'] / result['wall']:4.0%} server "
            f"{result['server_cpu'] / result['wall']:4.0%} CPU"
        )
        return result

    return repeat_interleaved(variants, repeats, one)


def run(server: ServerProcess, *, frames: int = 100_000, repeats: int = 5) -> list[Row]:
    log(f"receive throughput: {frames} frames per run, {repeats} interleaved repeats")
    res = measure(server, frames, repeats)
    rows: list[Row] = []
    for mode, label in (("async", "async"), ("sync", "sync")):
        bare = res[f"{mode}-bare"]
        for sdk_variant, what in ((f"{mode}-sdk", ""), (f"{mode}-sdk-pcm", ", reads .pcm")):
            sdk = res[sdk_variant]
            rows.append(
                Row(
                    f"receive {label}{what}",
                    "msg/s",
                    median_rate(bare),
                    median_rate(sdk),
                    target=1.0,
                    details={"baseline_runs": bare, "sdk_runs": sdk},
                    paired=paired_ratios(bare, sdk, "rate"),
                )
            )
            rows.append(
                Row(
                    f"  client CPU {label}{what}",
                    "us/msg",
                    median_cpu(bare, 1e6),
                    median_cpu(sdk, 1e6),
                    lower_is_better=True,
                    paired=paired_ratios(bare, sdk, "cpu"),
                )
            )
        stdlib = res[f"{mode}-sdk-pcm-stdlib"]
        rows.append(
            Row(
                f"  receive {label}, reads .pcm, SDK without orjson/pybase64",
                "msg/s",
                median_rate(bare),
                median_rate(stdlib),
                note="information: the SDK installed without its speedups extra",
                paired=paired_ratios(bare, stdlib, "rate"),
            )
        )
        deflate = res[f"{mode}-bare-deflate"]
        rows.append(
            Row(
                f"  receive {label}, baseline with websockets defaults (deflate)",
                "msg/s",
                median_rate(deflate),
                median_rate(res[f"{mode}-sdk-pcm"]),
                note="baseline: compression negotiated, server compresses",
                paired=paired_ratios(deflate, res[f"{mode}-sdk-pcm"], "rate"),
            )
        )
    return rows
