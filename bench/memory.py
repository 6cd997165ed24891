"""Memory per idle open session: open N sessions that exchange nothing, and divide
the growth of the client process's resident set (and of the Python heap, by
``tracemalloc``) by N.

Each variant runs in its own process, which imports everything and opens one
warm-up session before the first reading, so import and first-use costs stay
out of the figure. The resident set is read over N sessions opened without
tracing; the heap over N more opened under ``tracemalloc``. Sync connections
each own a background thread; the resident set counts only the touched part of
its stack.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from typing import Any

from ._common import Row, log, median, repeat_interleaved, rss_bytes, run_worker
from ._server import ServerProcess

VARIANTS = ("async-bare", "async-sdk", "sync-bare", "sync-sdk")


async def _open_async(url: str, count: int, sdk: bool) -> dict[str, Any]:
    if sdk:
        import vatel

        async def open_one() -> Any:
            return await vatel.connect_async(url)
    else:
        from websockets.asyncio.client import connect

        async def open_one() -> Any:
            return await connect(url, compression=None)

    warm = await open_one()
    gc.collect()
    rss0 = rss_bytes()
    conns = [await open_one() for _ in range(count)]
    await asyncio.sleep(0.2)
    gc.collect()
    rss = rss_bytes() - rss0
    tracemalloc.start()
    heap0 = tracemalloc.get_traced_memory()[0]
    conns += [await open_one() for _ in range(count)]
    await asyncio.sleep(0.2)
    gc.collect()
    heap = tracemalloc.get_traced_memory()[0] - heap0
    tracemalloc.stop()
    for conn in [warm, *conns]:
        await conn.close()
    return {"rss_per_session": rss / count, "heap_per_session": heap / count}


def _open_sync(url: str, count: int, sdk: bool) -> dict[str, Any]:
    import time

    if sdk:
        import vatel

        def open_one() -> Any:
            return vatel.connect(url)
    else:
        from websockets.sync.client import connect

        def open_one() -> Any:
            return connect(url, compression=None)

    warm = open_one()
    gc.collect()
    rss0 = rss_bytes()
    conns = [open_one() for _ in range(count)]
    time.sleep(0.2)
    gc.collect()
    rss = rss_bytes() - rss0
    tracemalloc.start()
    heap0 = tracemalloc.get_traced_memory()[0]
    conns += [open_one() for _ in range(count)]
    time.sleep(0.2)
    gc.collect()
    heap = tracemalloc.get_traced_memory()[0] - heap0
    tracemalloc.stop()
    for conn in [warm, *conns]:
        conn.close()
    return {"rss_per_session": rss / count, "heap_per_session": heap / count}


def client(spec: dict[str, Any]) -> dict[str, Any]:
    """One measurement: ``spec`` has ``variant``, ``url`` and ``sessions``."""
    variant, url, count = spec["variant"], spec["url"], spec["sessions"]
    sdk = variant.endswith("-sdk")
    if variant.startswith("async"):
        return asyncio.run(_open_async(url, count, sdk))
    return _open_sync(url, count, sdk)


def run(server: ServerProcess, *, sessions: int = 200, repeats: int = 3) -> list[Row]:
    log(f"memory per idle session: {sessions} sessions, {repeats} interleaved repeats")

    def one(variant: str, rep: int) -> dict[str, Any]:
        spec = {"variant": variant, "url": server.url("/idle"), "sessions": sessions}
        result: dict[str, Any] = run_worker("memory", "client", spec)
        log(
            f"  memory {variant:<10} rep {rep + 1}: "
            f"{result['rss_per_session'] / 1024:6.1f} KiB RSS, "
            f"{result['heap_per_session'] / 1024:6.1f} KiB Python heap per session"
        )
        return result

    res = repeat_interleaved(VARIANTS, repeats, one)
    rows = []
    for mode in ("async", "sync"):
        bare, sdk = res[f"{mode}-bare"], res[f"{mode}-sdk"]
        rows.append(
            Row(
                f"memory per idle session, {mode} (RSS)",
                "KiB",
                median([r["rss_per_session"] / 1024 for r in bare]),
                median([r["rss_per_session"] / 1024 for r in sdk]),
                lower_is_better=True,
            )
        )
        rows.append(
            Row(
                f"  memory per idle session, {mode} (tracemalloc)",
                "KiB",
                median([r["heap_per_session"] / 1024 for r in bare]),
                median([r["heap_per_session"] / 1024 for r in sdk]),
                lower_is_better=True,
            )
        )
    return rows
