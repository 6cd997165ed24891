"""Helpers shared by the test modules."""

from __future__ import annotations

import contextlib
import inspect
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import vatel

T = TypeVar("T")


class Api:
    """Runs the same scenario through ``Client`` or ``AsyncClient``: call it with a
    function of the client; an awaitable result is awaited."""

    def __init__(self, client: vatel.Client | vatel.AsyncClient) -> None:
        self.client: Any = client
        self.is_async = isinstance(client, vatel.AsyncClient)

    async def __call__(self, operation: Callable[[Any], T | Awaitable[T]]) -> T:
        result = operation(self.client)
        if inspect.isawaitable(result):
            return await result  # type: ignore[no-any-return]
        return result

    async def collect(self, items: Any) -> list[Any]:
        if hasattr(items, "__aiter__"):
            return [item async for item in items]
        return list(items)

    async def close(self) -> None:
        result = self.client.close()
        if inspect.isawaitable(result):
            await result


@contextlib.contextmanager
def memory_bound(mib: float) -> Iterator[None]:
    """Fails when what the block allocated at its peak exceeds ``mib`` MiB."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if started:
            tracemalloc.stop()
    grown = (peak - base) / 2**20
    assert grown <= mib, f"memory grew by {grown:.1f} MiB at its peak (bound {mib} MiB)"
