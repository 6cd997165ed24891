"""The httpx client each REST client sends with, shared with its copies."""

from __future__ import annotations

import gc
import logging
import warnings
import weakref
from typing import Any

import httpx

from ._exceptions import ClientClosedError

__all__ = ["AsyncPool", "Pool"]

log = logging.getLogger("vatel")

# httpcore's pool can close a surplus keep-alive connection that it has just
# handed to a waiting request (encode/httpcore#1110); with httpx's default of
# 20 keep-alive slots, a client shared by more threads than that then sees a
# request fail on a closed socket ("Bad file descriptor"), a POST included,
# which is not retried. Keeping as many idle connections as may be open never
# takes that path; idle ones still expire after 5 s.
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=5.0)


class Pool:
    """The ``httpx.Client`` of a :class:`vatel.Client` and its copies; the
    caller's own ``http_client`` is used as given, and left open on close."""

    def __init__(self, http: httpx.Client | None, trust_env: bool) -> None:
        self.owned = http is None
        self.http = http if http is not None else httpx.Client(trust_env=trust_env, limits=_LIMITS)
        self.closed = False

    def current(self) -> httpx.Client:
        """The client to send with."""
        if self.closed or self.http.is_closed:
            raise ClientClosedError("This vatel.Client is closed; make a new one.")
        return self.http

    def close(self) -> None:
        """Refuse further requests; close the pool if the SDK made it."""
        self.closed = True
        if self.owned:
            self.http.close()


class AsyncPool:
    """The ``httpx.AsyncClient`` of a :class:`vatel.AsyncClient` and its copies,
    and the event loop it runs on. A pool the SDK made is made again when a later
    ``asyncio.run()`` uses the client, since connections cannot move between
    loops; the caller's own ``http_client`` is used as given."""

    def __init__(self, http: httpx.AsyncClient | None, trust_env: bool) -> None:
        self.owned = http is None
        self._trust_env = trust_env
        self.http = http if http is not None else self._new()
        self._loop: weakref.ref[Any] | None = None
        self.closed = False

    def _new(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(trust_env=self._trust_env, limits=_LIMITS)

    def current(self) -> httpx.AsyncClient:
        """The client to send with on the running loop."""
        if self.closed or self.http.is_closed:
            raise ClientClosedError("This vatel.AsyncClient is closed; make a new one.")
        if self.owned:
            import asyncio

            loop = asyncio.get_running_loop()
            bound = self._loop() if self._loop is not None else None
            if bound is not loop:
                if self._loop is not None:
                    log.debug("AsyncClient used on a new event loop: new connection pool")
                    self._replace()
                self._loop = weakref.ref(loop)
        return self.http

    def _replace(self) -> None:
        # The old loop is gone, and with it any way to close its connections
        # politely: dropping the old pool closes their sockets as it is
        # collected, and the "unclosed transport" warnings that says so are
        # expected here, not a leak.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            self.http = self._new()
            gc.collect()

    async def aclose(self) -> None:
        """Close the pool, if the SDK made it, on the loop it runs on; a pool
        left on an earlier loop is dropped with that loop."""
        self.closed = True
        if not self.owned:
            return
        import asyncio

        bound = self._loop() if self._loop is not None else None
        if bound is not None and bound is not asyncio.get_running_loop():
            self._replace()
        await self.http.aclose()
