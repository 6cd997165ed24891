"""REST: ``client.agents.get(id)`` against the embedded mock server, next to a bare
``httpx`` GET of the same URL with the same ``Authorization: Bearer`` header
whose JSON body is parsed with ``response.json()``. The SDK also validates the
body into its ``Agent`` model. Requests go one after another on one pooled
connection; the mock server runs in its own process.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ._common import (
    Row,
    cpu_per_item,
    log,
    median_cpu,
    median_rate,
    paired_ratios,
    per_second,
    repeat_interleaved,
    run_worker,
)
from ._mock import MockProcess

VARIANTS = ("sync-bare", "sync-sdk", "async-bare", "async-sdk")
WARMUP = 20


def _sync(info: dict[str, Any], count: int, sdk: bool) -> tuple[float, float]:
    import httpx

    if sdk:
        import vatel

        client = vatel.Client(api_key=info["api_key"], base_url=info["base_url"], max_retries=0)

        def call() -> None:
            client.agents.get(info["agent_id"])
    else:
        http = httpx.Client()
        url = f"{info['base_url']}/v1/agents/{info['agent_id']}"
        headers = {"Authorization": f"Bearer {info['api_key']}"}

        def call() -> None:
            response = http.get(url, headers=headers)
            response.raise_for_status()
            response.json()

    for _ in range(WARMUP):
        call()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(count):
        call()
    return time.perf_counter() - wall0, time.process_time() - cpu0


async def _async(info: dict[str, Any], count: int, sdk: bool) -> tuple[float, float]:
    import httpx

    if sdk:
        import vatel

        client = vatel.AsyncClient(
            api_key=info["api_key"], base_url=info["base_url"], max_retries=0
        )

        async def call() -> None:
            await client.agents.get(info["agent_id"])
    else:
        http = httpx.AsyncClient()
        url = f"{info['base_url']}/v1/agents/{info['agent_id']}"
        headers = {"Authorization": f"Bearer {info['api_key']}"}

        async def call() -> None:
            response = await http.get(url, headers=headers)
            response.raise_for_status()
            response.json()

    for _ in range(WARMUP):
        await call()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(count):
        await call()
    return time.perf_counter() - wall0, time.process_time() - cpu0


def client(spec: dict[str, Any]) -> dict[str, Any]:
    """One measurement: ``spec`` has ``variant``, ``info`` and ``requests``."""
    variant, info, count = spec["variant"], spec["info"], spec["requests"]
    sdk = variant.endswith("-sdk")
    if variant.startswith("sync"):
        wall, cpu = _sync(info, count, sdk)
    else:
        wall, cpu = asyncio.run(_async(info, count, sdk))
    return {"requests": count, "wall": wall, "cpu": cpu}


def run(*, requests: int = 2000, repeats: int = 5) -> list[Row]:
    log(f"REST: {requests} requests per run, {repeats} interleaved repeats")
    with MockProcess() as mock:

        def one(variant: str, rep: int) -> dict[str, Any]:
            cpu0 = mock.cpu_seconds()
            spec = {"variant": variant, "info": mock.info, "requests": requests}
            result: dict[str, Any] = run_worker("rest", "client", spec)
            result["server_cpu"] = mock.cpu_seconds() - cpu0
            log(
                f"  rest {variant:<10} rep {rep + 1}: "
                f"{per_second(result):7,.0f} req/s, "
                f"{cpu_per_item(result) * 1e3:5.3f} ms client CPU/req, "
                f"server {result['server_cpu'] / result['wall']:4.0%} CPU"
            )
            return result

        res = repeat_interleaved(VARIANTS, repeats, one)
    rows = []
    for mode in ("sync", "async"):
        bare, sdk = res[f"{mode}-bare"], res[f"{mode}-sdk"]
        rows.append(
            Row(
                f"REST agents.get, {mode}",
                "req/s",
                median_rate(bare),
                median_rate(sdk),
                target=0.95,
                details={"baseline_runs": bare, "sdk_runs": sdk},
                paired=paired_ratios(bare, sdk, "rate"),
            )
        )
        rows.append(
            Row(
                f"  client CPU REST {mode}",
                "ms/req",
                median_cpu(bare, 1e3),
                median_cpu(sdk, 1e3),
                lower_is_better=True,
                paired=paired_ratios(bare, sdk, "cpu"),
            )
        )
    return rows
