"""The httpx client each REST client sends with, shared with its copies.

A pool the SDK made builds each request itself and sends it straight to the
transport httpx chose for the client's base URL (a proxy from the environment
included). None of the httpx client's own layers has work there: no event
hooks, no auth, redirects are not followed, and the key authenticates, so no
cookie is kept or sent. Skipping them saves about a third of a request's client
CPU. A blocking pool the SDK made also hands the resolver its host as bytes,
which spares a first request the import of the ``idna`` codec. A caller's own
``http_client`` is sent with as usual, hooks and all.
"""

from __future__ import annotations

import gc
import logging
import warnings
import weakref
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import httpcore
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


class _Requests:
    """How both pools build a request: merged once with an SDK-made client's
    defaults, or by the caller's client, which may add its own."""

    owned: bool
    # Sent straight to the transport: a pool the SDK made, unless this httpx
    # cannot say which transport a URL goes to.
    _direct: bool
    _merged: tuple[Mapping[str, str], httpx.Headers] | None = None

    if TYPE_CHECKING:

        def current(self) -> httpx.Client | httpx.AsyncClient:
            """The client to send with (each pool's own)."""

    def build_request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        json: Any,
        headers: Mapping[str, str],
        timeout: httpx.Timeout,
    ) -> httpx.Request:
        """The request to send; raises :class:`vatel.ClientClosedError` once the
        pool is closed."""
        http = self.current()
        if not self.owned:
            return http.build_request(
                method, url, params=params, json=json, headers=headers, timeout=timeout
            )
        merged = self._merged
        if merged is None or merged[0] is not headers:
            # The client's defaults (Accept-Encoding, Connection, ...) under the
            # SDK's headers, worked out once per header set rather than per call.
            every = httpx.Headers(http.headers)
            every.update(headers)
            merged = self._merged = (headers, every)
        return httpx.Request(
            method,
            _parsed(url),
            params=params,
            json=json,
            headers=merged[1],
            extensions={"timeout": timeout.as_dict()},
        )


@lru_cache(maxsize=256)
def _parsed(url: str) -> httpx.URL:
    # Parsing and checking a URL is over half of building a request; a program
    # asks for the same few (its agents, the session-token endpoint) again and
    # again, and a URL object never changes.
    return httpx.URL(url)


def _transport_of(http: httpx.Client | httpx.AsyncClient, url: httpx.URL) -> Any:
    """The transport ``http`` sends ``url`` with (a proxy's for a proxied host),
    or ``None`` when this httpx does not say, and requests go through ``send``."""
    choose = getattr(http, "_transport_for_url", None)
    return None if choose is None else choose(url)


class _BytesHostBackend(httpcore.SyncBackend):
    """httpcore's blocking network backend, handing the resolver an ASCII host
    as bytes.

    ``socket.getaddrinfo`` runs a ``str`` host through the ``idna`` codec, and
    the codec's first use imports it (``encodings.idna``, ``stringprep``): about
    a millisecond of a blocking program's first request. httpx has already made
    the host ASCII (a non-ASCII name in its ``xn--`` form), and the resolver
    reads the same name from bytes without the codec. (httpcore's asyncio
    backend resolves from bytes already.)
    """

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        # The host only reaches socket.create_connection, which takes bytes too.
        name: Any = host.encode("ascii") if host.isascii() else host
        return super().connect_tcp(name, port, timeout, local_address, socket_options)


def _resolve_from_bytes(transport: object) -> None:
    """Let ``transport``'s connections resolve their host from bytes, when it is
    the httpcore pool (or proxy) of an ``httpx.HTTPTransport`` on httpcore's own
    blocking backend; any other transport is left as it is."""
    pool = getattr(transport, "_pool", None)
    if type(getattr(pool, "_network_backend", None)) is httpcore.SyncBackend:
        pool._network_backend = _BytesHostBackend()  # type: ignore[union-attr]


class Pool(_Requests):
    """The ``httpx.Client`` of a :class:`vatel.Client` and its copies; the
    caller's own ``http_client`` is used as given, and left open on close."""

    def __init__(self, http: httpx.Client | None, trust_env: bool) -> None:
        self.owned = http is None
        self.http = http if http is not None else httpx.Client(trust_env=trust_env, limits=_LIMITS)
        self.closed = False
        self._direct = self.owned
        self._transport: httpx.BaseTransport | None = None

    def current(self) -> httpx.Client:
        """The client to send with."""
        if self.closed or self.http.is_closed:
            raise ClientClosedError("This vatel.Client is closed; make a new one.")
        return self.http

    def send(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``; the response's body is still to be read."""
        if not self._direct:
            return self.http.send(request, stream=True)
        transport = self._transport
        if transport is None:
            # Every request of a client goes to its base URL: one transport serves.
            transport = self._transport = _transport_of(self.http, request.url)
            if transport is None:
                self._direct = False
                return self.http.send(request, stream=True)
            _resolve_from_bytes(transport)
        try:
            response = transport.handle_request(request)
        except httpx.RequestError as exc:
            exc.request = request  # as httpx's client does, for the error's message
            raise
        response.request = request
        return response

    def close(self) -> None:
        """Refuse further requests; close the pool if the SDK made it."""
        self.closed = True
        if self.owned:
            self.http.close()


class AsyncPool(_Requests):
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
        self._direct = self.owned
        self._transport: tuple[httpx.AsyncClient, httpx.AsyncBaseTransport] | None = None

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``; the response's body is still to be read."""
        http = self.http
        if not self._direct:
            return await http.send(request, stream=True)
        known = self._transport
        if known is None or known[0] is not http:  # a new loop makes a new pool
            transport = _transport_of(http, request.url)
            if transport is None:
                self._direct = False
                return await http.send(request, stream=True)
            known = self._transport = (http, transport)
        try:
            response = await known[1].handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request  # as httpx's client does, for the error's message
            raise
        response.request = request
        return response

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
            self._transport = None  # nor may the transport keep the old pool alive
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
