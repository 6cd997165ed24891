"""Cold start: from a fresh interpreter to a session token in hand, and the first
REST call of a process that is already running.

**Cold start.** Each variant is a new interpreter that mints one session token
from the embedded mock server (``vatel.testing``, in a process of its own) and
exits: a hand-written ``httpx.post`` script (the baseline of ``vatel.Client``
and of the CLI), ``vatel.Client``, ``vatel.AsyncClient`` under ``asyncio.run``,
and the ``vatel token`` command line (run as its console script does:
``from vatel._cli import main``). The baseline of ``AsyncClient`` is the same
request written by hand as an asyncio program (``httpx.AsyncClient``): both pay
for ``asyncio`` and httpx's async stack, which the sync script never loads;
``AsyncClient`` against the sync script is shown for information.
``python -c pass`` is shown for reference: the interpreter alone. Every run is
timed by the CPU time the child used (``getrusage`` of the reaped child; the
headline figure) and from spawn to exit in the parent (wall clock). Variants
run interleaved, with warm bytecode caches (a temporary ``PYTHONPYCACHEPREFIX``);
the ratios are medians of the per-repeat ratios to the variant's baseline.

**First call in a warm process.** A worker that has imported ``vatel`` and built
a ``Client`` times its first ``agents.list()``, then the next ones; another
worker times the first bare ``httpx`` GET of the same URL (and ``.json()``) on a
fresh ``httpx.Client``, then the next ones. The target compares the two first
calls: both pay the first connection, so what is left is what the SDK adds to
it (importing the resource and its models, building the returned type's
checks). A third worker imports ``vatel.types`` (every model) before its first
call, to show what the first call costs once the import is paid at start-up;
after its calls it times a second client's first call, when only the connection
is new. The first call against the next ones is shown for information: no
client that opens its connection on its first call meets 1.5x there (bare httpx
is itself 3-4x sync and 15-25x async, and a new connection alone 2-3x).
"""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ._common import ROOT, Row, log, median, repeat_interleaved, run_worker
from ._mock import MockProcess

_AGENT_ENV = "BENCH_AGENT_ID"

_HTTPX = """
import os, httpx
r = httpx.post(
    os.environ["VATEL_BASE_URL"] + "/v1/session-token",
    json={"agent_id": os.environ["BENCH_AGENT_ID"]},
    headers={"Authorization": f"Bearer {os.environ['VATEL_API_KEY']}"},
)
r.raise_for_status()
assert r.json()["token"]
"""

# The same as an asyncio program: what the AsyncClient variant pays for asyncio
# and httpx's async machinery before the SDK adds anything.
_HTTPX_ASYNC = """
import asyncio, os, httpx
async def main():
    async with httpx.AsyncClient() as http:
        r = await http.post(
            os.environ["VATEL_BASE_URL"] + "/v1/session-token",
            json={"agent_id": os.environ["BENCH_AGENT_ID"]},
            headers={"Authorization": f"Bearer {os.environ['VATEL_API_KEY']}"},
        )
        r.raise_for_status()
        assert r.json()["token"]
asyncio.run(main())
"""

_SDK_SYNC = """
import os, vatel
with vatel.Client(api_key=os.environ["VATEL_API_KEY"], base_url=os.environ["VATEL_BASE_URL"]) as c:
    assert c.session_token(os.environ["BENCH_AGENT_ID"]).token
"""

_SDK_ASYNC = """
import asyncio, os, vatel
async def main():
    async with vatel.AsyncClient(
        api_key=os.environ["VATEL_API_KEY"], base_url=os.environ["VATEL_BASE_URL"]
    ) as c:
        assert (await c.session_token(os.environ["BENCH_AGENT_ID"])).token
asyncio.run(main())
"""

# What the installed ``vatel`` console script runs.
_CLI = "import sys\nfrom vatel._cli import main\nsys.exit(main())"

COMMANDS: dict[str, list[str]] = {
    "pass": ["-c", "pass"],
    "httpx": ["-c", _HTTPX],
    "httpx-async": ["-c", _HTTPX_ASYNC],
    "sdk-sync": ["-c", _SDK_SYNC],
    "sdk-async": ["-c", _SDK_ASYNC],
    "cli": ["-c", _CLI, "token"],
}
VARIANTS = tuple(COMMANDS)

# Calls timed after the first one in the warm-process measurement.
FOLLOWING_CALLS = 20


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def spawn(variant: str, env: dict[str, str], agent_id: str) -> dict[str, Any]:
    """Run one variant in a fresh interpreter: its wall and CPU seconds."""
    argv = [sys.executable, *COMMANDS[variant]]
    if variant == "cli":
        argv.append(agent_id)
    cpu0 = _child_cpu()
    wall0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - wall0
    cpu = _child_cpu() - cpu0
    if proc.returncode != 0:
        raise RuntimeError(f"cold start {variant} failed: {proc.stderr[-2000:]}")
    if variant == "cli" and proc.stdout.strip().count(".") != 2:
        raise RuntimeError("vatel token printed no token")
    return {"wall": wall, "cpu": cpu}


def _warm_sync(info: dict[str, Any], sdk: bool, preload: bool = False) -> list[float]:
    import httpx

    if sdk:
        import vatel

        if preload:
            import vatel.types

        def new_call() -> Callable[[], None]:
            client = vatel.Client(api_key=info["api_key"], base_url=info["base_url"], max_retries=0)

            def call() -> None:
                client.agents.list()

            return call
    else:
        url = f"{info['base_url']}/v1/agents"
        headers = {"Authorization": f"Bearer {info['api_key']}"}

        def new_call() -> Callable[[], None]:
            http = httpx.Client()

            def call() -> None:
                response = http.get(url, headers=headers)
                response.raise_for_status()
                response.json()

            return call

    call = new_call()
    times = []
    for _ in range(1 + FOLLOWING_CALLS):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    # A second client's first call: everything loaded, only its connection new.
    call = new_call()
    t0 = time.perf_counter()
    call()
    times.append(time.perf_counter() - t0)
    return times


async def _warm_async(info: dict[str, Any], sdk: bool, preload: bool = False) -> list[float]:
    import httpx

    if sdk:
        import vatel

        if preload:
            import vatel.types

        def new_call() -> Callable[[], Awaitable[Any]]:
            client = vatel.AsyncClient(
                api_key=info["api_key"], base_url=info["base_url"], max_retries=0
            )
            return client.agents.list
    else:
        url = f"{info['base_url']}/v1/agents"
        headers = {"Authorization": f"Bearer {info['api_key']}"}

        def new_call() -> Callable[[], Awaitable[Any]]:
            http = httpx.AsyncClient()

            async def call() -> None:
                response = await http.get(url, headers=headers)
                response.raise_for_status()
                response.json()

            return call

    call = new_call()
    times = []
    for _ in range(1 + FOLLOWING_CALLS):
        t0 = time.perf_counter()
        await call()
        times.append(time.perf_counter() - t0)
    call = new_call()
    t0 = time.perf_counter()
    await call()
    times.append(time.perf_counter() - t0)
    return times


def first_call(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker: seconds of the first call and of the ones after it."""
    mode, sdk, info = spec["mode"], spec["sdk"], spec["info"]
    preload = bool(spec.get("preload"))
    if mode == "sync":
        times = _warm_sync(info, sdk, preload)
    else:
        times = asyncio.run(_warm_async(info, sdk, preload))
    return {
        "first": times[0],
        "following": median(times[1:-1]),
        "new_connection": times[-1],
    }


def run(*, repeats: int = 15, warm_repeats: int = 5) -> list[Row]:
    log(f"cold start: {repeats} interleaved fresh interpreters per variant")
    with MockProcess() as mock, tempfile.TemporaryDirectory(prefix="bench-pycache-") as cache:
        info = mock.info
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(
            PYTHONPYCACHEPREFIX=cache,
            VATEL_API_KEY=info["api_key"],
            VATEL_BASE_URL=info["base_url"],
            **{_AGENT_ENV: info["agent_id"]},
        )
        env.pop("PYTHONASYNCIODEBUG", None)
        if repeats > 1:  # warm the bytecode cache and the server (not for a smoke run)
            for variant in VARIANTS:
                spawn(variant, env, info["agent_id"])

        def one(variant: str, rep: int) -> dict[str, Any]:
            result = spawn(variant, env, info["agent_id"])
            log(
                f"  cold {variant:<9} rep {rep + 1}: {result['wall'] * 1e3:6.0f} ms wall, "
                f"{result['cpu'] * 1e3:6.0f} ms CPU"
            )
            return result

        cold = repeat_interleaved(VARIANTS, repeats, one)

        log(f"first call in a warm process: {warm_repeats} workers per variant")
        warm_variants = tuple(
            f"{mode}-{side}" for mode in ("sync", "async") for side in ("bare", "sdk", "preload")
        )

        def warm_one(variant: str, rep: int) -> dict[str, Any]:
            mode, side = variant.split("-")
            spec = {"mode": mode, "sdk": side != "bare", "preload": side == "preload", "info": info}
            result: dict[str, Any] = run_worker("coldstart", "first_call", spec)
            log(
                f"  warm {variant:<10} rep {rep + 1}: first {result['first'] * 1e3:6.1f} ms, "
                f"then {result['following'] * 1e3:5.2f} ms"
            )
            return result

        warm = repeat_interleaved(warm_variants, warm_repeats, warm_one)
    return _rows(cold, warm)


def _paired(
    runs: dict[str, list[dict[str, Any]]], variant: str, key: str = "wall", baseline: str = "httpx"
) -> list[float]:
    return [s[key] / b[key] for b, s in zip(runs[baseline], runs[variant], strict=True)]


def _rows(
    cold: dict[str, list[dict[str, Any]]], warm: dict[str, list[dict[str, Any]]]
) -> list[Row]:
    def ms(variant: str, key: str = "wall") -> float:
        return median([r[key] * 1e3 for r in cold[variant]])

    # CPU time leads: on a shared machine it is what other processes disturb least
    # (start-up is single-threaded); wall-clock figures follow as details.
    rows = []
    # Each client against the script one writes by hand for the same program: the
    # sync httpx script for Client and the CLI, the asyncio one for AsyncClient
    # (an asyncio program pays for asyncio and httpx's async stack before anything
    # of the SDK's). AsyncClient against the sync script follows, for information.
    for variant, label, baseline, target in (
        ("sdk-sync", "vatel.Client vs httpx script", "httpx", 1.1),
        ("sdk-async", "vatel.AsyncClient vs httpx.AsyncClient script", "httpx-async", 1.1),
        ("cli", "vatel token (CLI) vs httpx script", "httpx", 1.2),
    ):
        rows.append(
            Row(
                f"cold start to a token: {label}",
                "ms CPU",
                ms(baseline, "cpu"),
                ms(variant, "cpu"),
                target=target,
                lower_is_better=True,
                paired=_paired(cold, variant, "cpu", baseline),
                details={"runs": cold} if variant == "sdk-sync" else {},
            )
        )
        rows.append(
            Row(
                f"  wall clock, {label}",
                "ms",
                ms(baseline),
                ms(variant),
                lower_is_better=True,
                paired=_paired(cold, variant, "wall", baseline),
            )
        )
    rows.append(
        Row(
            "  vatel.AsyncClient vs the sync httpx script (asyncio is on one side only)",
            "ms CPU",
            ms("httpx", "cpu"),
            ms("sdk-async", "cpu"),
            lower_is_better=True,
            paired=_paired(cold, "sdk-async", "cpu"),
        )
    )
    rows.append(Row("  python -c pass vs httpx script", "ms", ms("httpx"), ms("pass")))
    for mode in ("sync", "async"):
        bare, sdk, preload = warm[f"{mode}-bare"], warm[f"{mode}-sdk"], warm[f"{mode}-preload"]
        rows.append(
            _warm_row(
                f"first agents.list() vs first httpx GET, warm process, {mode}",
                (bare, "first"),
                (sdk, "first"),
                target=1.5,
                details={"runs": sdk},
            )
        )
        rows.append(
            _warm_row(
                f"  the same, models imported beforehand (import vatel.types), {mode}",
                (bare, "first"),
                (preload, "first"),
            )
        )
        rows.append(
            _warm_row(
                f"  a second client's first call, everything loaded, vs the next, {mode}",
                (preload, "following"),
                (preload, "new_connection"),
            )
        )
        for side in ("sdk", "bare"):
            runs = warm[f"{mode}-{side}"]
            name = "agents.list()" if side == "sdk" else "httpx GET /v1/agents"
            rows.append(
                _warm_row(
                    f"  first {name} in a warm process vs the next, {mode}",
                    (runs, "following"),
                    (runs, "first"),
                )
            )
    return rows


def _warm_row(
    title: str,
    baseline: tuple[list[dict[str, Any]], str],
    measured: tuple[list[dict[str, Any]], str],
    **options: Any,
) -> Row:
    """Milliseconds of one figure of the warm workers against another, each
    worker's ratio paired with the baseline worker of the same repeat (or with
    itself, when both figures come from the same workers)."""
    (base_runs, base_key), (runs, key) = baseline, measured
    return Row(
        title,
        "ms",
        median([r[base_key] * 1e3 for r in base_runs]),
        median([r[key] * 1e3 for r in runs]),
        lower_is_better=True,
        paired=[r[key] / b[base_key] for b, r in zip(base_runs, runs, strict=True)],
        **options,
    )
