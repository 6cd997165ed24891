"""One REST attempt's deadline, enforced the way each flavour can.

:class:`AttemptDeadline` ends a blocked sync attempt by shutting its socket down
from a watchdog thread; :class:`AsyncAttemptDeadline` cancels the attempt's
coroutine. Both have the same methods, so the clients' retry loop is written
once (for the async client) and generated for the sync one, and both report an
overrun as the same ``httpx.ReadTimeout``.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import sys
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import httpx

from ._base_client import Deadline, Timeout, deadline_passed

__all__ = ["AsyncAttemptDeadline", "AttemptDeadline", "start_watchdog"]

P = ParamSpec("P")
T = TypeVar("T")


class AsyncAttemptDeadline:
    """The deadline of one async attempt: its coroutine is cancelled when it passes."""

    def __init__(self, deadline: Deadline, budget: float | None) -> None:
        self._deadline = deadline
        self._budget = budget

    def cap(self, timeout: Timeout) -> Timeout:
        """``timeout`` with no phase outlasting the deadline."""
        return self._deadline.cap(timeout)

    def arm(self, request: httpx.Request) -> None:
        """Nothing to set up: :meth:`run` bounds the whole coroutine."""

    def attach(self, response: httpx.Response) -> None:
        """Nothing to learn from the response: :meth:`run` bounds it already."""

    async def run(
        self, exchange: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``await exchange(*args, **kwargs)``, raising ``httpx.ReadTimeout`` when
        the deadline passes first."""
        # asyncio is imported on first use: a sync-only program never pays for it.
        import asyncio

        left = self._deadline.remaining()
        if sys.version_info < (3, 11):
            try:
                return await asyncio.wait_for(exchange(*args, **kwargs), left)
            except asyncio.TimeoutError as exc:
                raise deadline_passed(self._budget) from exc
        # In the caller's own task: wait_for would start one for every attempt.
        bound = asyncio.timeout(left)
        try:
            async with bound:
                return await exchange(*args, **kwargs)
        except TimeoutError as exc:
            if not bound.expired():
                raise
            raise deadline_passed(self._budget) from exc


def start_watchdog() -> None:
    """Start the thread that ends sync attempts at their deadline, if it is not
    running: a new :class:`vatel.Client` does, so its first call does not."""
    _watchdog.start()


class AttemptDeadline:
    """The deadline of one sync attempt: a watchdog thread shuts its socket down
    when it passes, so the read blocked in the caller's thread fails at once."""

    def __init__(self, deadline: Deadline, budget: float | None) -> None:
        self._deadline = deadline
        self._budget = budget
        self._guard = _AttemptGuard()

    def cap(self, timeout: Timeout) -> Timeout:
        """``timeout`` with no phase outlasting the deadline."""
        return self._deadline.cap(timeout)

    def arm(self, request: httpx.Request) -> None:
        """Start watching: the socket ``request`` connects is learnt through
        httpcore's trace hook, and shut once the deadline passes."""
        left = self._deadline.remaining()
        if left is not None:
            request.extensions["trace"] = self._guard.trace
            _watchdog.watch(self._guard, left)

    def attach(self, response: httpx.Response) -> None:
        """Watch the socket ``response`` came on (a pooled connection's, which
        the trace hook does not report)."""
        self._guard.attach(response.extensions.get("network_stream"))

    def run(self, exchange: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``exchange(*args, **kwargs)``; a transport error caused by the deadline's
        watchdog is raised as ``httpx.ReadTimeout``."""
        try:
            return exchange(*args, **kwargs)
        except httpx.TransportError as exc:
            if not self._guard.fired:
                raise
            raise deadline_passed(self._budget, exc.request) from exc
        finally:
            self._guard.finish()


# -- the sync watchdog -----------------------------------------------------------------


def _socket_of(stream: object) -> socket.socket | None:
    """The socket under an httpcore network stream, when shutting it down ends
    only this request (HTTP/1.1; an HTTP/2 connection carries others too)."""
    get = getattr(stream, "get_extra_info", None)
    if get is None:
        return None
    try:
        tls = get("ssl_object")
        if tls is not None and tls.selected_alpn_protocol() == "h2":
            return None
        sock = get("socket")
    except Exception:  # A stream of another kind: no deadline beyond its time-outs.
        return None
    return sock if isinstance(sock, socket.socket) else None


class _AttemptGuard:
    """Shuts down the socket of a sync attempt that outlives its deadline. The
    socket is learnt when httpcore connects (trace hook) and from the response's
    ``network_stream``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self.over = False
        self.fired = False

    def trace(self, name: str, info: dict[str, Any]) -> None:
        if name in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            self.attach(info.get("return_value"))

    def attach(self, stream: object) -> None:
        sock = _socket_of(stream)
        if sock is None:
            return
        with self._lock:
            if self.over:
                return
            self._socket = sock
            if self.fired:
                _shut(sock)

    def fire(self) -> None:
        with self._lock:
            if self.over:
                return
            self.fired = True
            if self._socket is not None:
                _shut(self._socket)

    def finish(self) -> None:
        with self._lock:
            self.over = True
            self._socket = None


def _shut(sock: socket.socket) -> None:
    # The plain socket's shutdown, also under TLS: it wakes a thread blocked in
    # recv() on every platform, where close() does not.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread firing the guards of sync attempts whose deadline passed."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._due: list[tuple[float, int, weakref.ref[_AttemptGuard]]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._compact_at = 1024

    def _compact(self) -> None:
        # Finished attempts leave their entry behind until it falls due; drop
        # those now and then so a busy client's heap stays the size of its
        # attempts in flight.
        self._due = [e for e in self._due if (g := e[2]()) is not None and not g.over]
        heapq.heapify(self._due)
        self._compact_at = max(1024, 2 * len(self._due))

    def start(self) -> None:
        """Have the thread running (again, after a fork)."""
        with self._wake:
            self._start()

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="vatel-rest-deadlines", daemon=True
            )
            self._thread.start()

    def watch(self, guard: _AttemptGuard, seconds: float) -> None:
        with self._wake:
            entry = (time.monotonic() + seconds, next(self._order), weakref.ref(guard))
            heapq.heappush(self._due, entry)
            if len(self._due) >= self._compact_at:
                self._compact()
            self._start()
            if self._due and self._due[0] is entry:
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due:
                    self._wake.wait()
                when, _, ref = self._due[0]
                wait = when - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                heapq.heappop(self._due)
            guard = ref()
            if guard is not None:
                guard.fire()


_watchdog = _Watchdog()
