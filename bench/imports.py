"""Import time: ``import vatel`` and what a voice session really needs, against the
bare imports of its dependencies and against ``import openai`` (when installed).

Every figure is the median over fresh interpreters (``python -c``) of the time
the statement itself takes, measured inside the interpreter (interpreter
start-up excluded) as CPU time (``time.process_time``: imports run on one
thread, and CPU time is not inflated when other processes take the CPU; the
wall-clock medians are kept in the details). The statements run round-robin, so
a busy moment hurts them all alike. Bytecode caches are warm for every module,
as after an install: the interpreters write and read them in a temporary cache
directory (``PYTHONPYCACHEPREFIX``), whatever ``PYTHONDONTWRITEBYTECODE`` says.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from typing import Any

from ._common import ROOT, Row, log, median

_FIRST_TOKEN = """
import asyncio, httpx
def answer(request):
    return httpx.Response(200, json={"token": "a.b.c"})
async def main():
    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    async with AsyncClient(api_key="k", base_url="http://vatel.invalid", http_client=http) as c:
        await c.session_token("agent-1")
asyncio.run(main())
"""

STATEMENTS: dict[str, str] = {
    "deps": "import httpx, websockets, pydantic",
    "deps-matched": (
        "import asyncio, httpx, websockets.sync.client"
        + "".join(f", {m}" for m in ("orjson", "pybase64") if importlib.util.find_spec(m))
    ),
    "vatel": "import vatel",
    "vatel-client": "from vatel import Client, Connection",
    "vatel-async-token": "from vatel import AsyncClient, AsyncConnection" + _FIRST_TOKEN,
    "vatel-connect": "from vatel import connect_async",
    "websockets-client": "import websockets.asyncio.client",
    "vatel-connect-sync": "from vatel import connect",
    "websockets-sync-client": "import websockets.sync.client",
    "openai": "import openai",
}

_TIMER = (
    "import time as _t\n_s, _c = _t.perf_counter(), _t.process_time()\n{stmt}\n"
    "print('IMPORT_MS', (_t.process_time() - _c) * 1000, (_t.perf_counter() - _s) * 1000)\n"
)


def time_statement(statement: str, env: dict[str, str] | None = None) -> tuple[float, float]:
    """CPU and wall milliseconds ``statement`` takes in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", _TIMER.format(stmt=statement)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in out.splitlines():
        if line.startswith("IMPORT_MS "):
            _, cpu, wall = line.split()
            return float(cpu), float(wall)
    raise RuntimeError(f"no timing from {statement!r}: {out!r}")


def run(*, repeats: int = 21) -> list[Row]:
    names = [n for n in STATEMENTS if n != "openai" or importlib.util.find_spec("openai")]
    log(f"import time: {repeats} fresh interpreters per statement, round-robin")
    samples: dict[str, list[float]] = {n: [] for n in names}
    wall: dict[str, list[float]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        for name in names:  # warm the bytecode cache
            time_statement(STATEMENTS[name], env)
        for _ in range(repeats):
            for name in names:
                cpu_ms, wall_ms = time_statement(STATEMENTS[name], env)
                samples[name].append(cpu_ms)
                wall[name].append(wall_ms)
    ms = {n: median(v) for n, v in samples.items()}
    wall_ms = {n: median(v) for n, v in wall.items()}
    for name in names:
        log(
            f"  {STATEMENTS[name].splitlines()[0]:<72} {ms[name]:7.1f} ms CPU "
            f"{wall_ms[name]:7.1f} ms wall (medians)"
        )
    details: dict[str, Any] = {
        "cpu_ms_samples": samples,
        "wall_ms_medians": wall_ms,
        "statements": STATEMENTS,
    }
    rows: list[Row] = []
    if "openai" in ms:
        rows.append(
            Row(
                "import vatel vs import openai",
                "ms",
                ms["openai"],
                ms["vatel"],
                target=0.35,
                lower_is_better=True,
                details=details,
            )
        )
        rows.append(
            Row(
                "  from vatel import Client, Connection vs import openai",
                "ms",
                ms["openai"],
                ms["vatel-client"],
                target=0.35,
                lower_is_better=True,
            )
        )
    rows.append(
        Row(
            "vatel Client+Connection over import httpx, websockets, pydantic",
            "ms",
            ms["deps"],
            ms["vatel-client"],
            max_added=50.0,
            details=details if "openai" not in ms else {},
        )
    )
    rows.append(
        Row(
            "  same, over the very modules of its dependencies that it loads",
            "ms",
            ms["deps-matched"],
            ms["vatel-client"],
            max_added=50.0,
            note=STATEMENTS["deps-matched"],
        )
    )
    rows.append(
        Row(
            "  AsyncClient+AsyncConnection + first session_token()",
            "ms",
            ms["deps"],
            ms["vatel-async-token"],
            note="baseline: import httpx, websockets, pydantic",
        )
    )
    rows.append(
        Row(
            "  from vatel import connect_async vs import websockets.asyncio.client",
            "ms",
            ms["websockets-client"],
            ms["vatel-connect"],
        )
    )
    rows.append(
        Row(
            "  from vatel import connect vs import websockets.sync.client",
            "ms",
            ms["websockets-sync-client"],
            ms["vatel-connect-sync"],
        )
    )
    rows.append(Row("  import vatel (lazy names) vs bare deps", "ms", ms["deps"], ms["vatel"]))
    return rows
