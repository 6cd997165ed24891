"""``Client`` and ``AsyncClient``: the REST API and the voice-session entry point."""

from __future__ import annotations

import contextlib
import copy
import gc
import heapq
import importlib
import itertools
import logging
import socket
import threading
import time
import warnings
import weakref
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

import httpx
from typing_extensions import Self, Unpack

from ._base_client import (
    NOT_GIVEN,
    APIRequest,
    BaseClient,
    CappedBody,
    Deadline,
    Timeout,
    _NotGiven,
    attempt_budget,
    deadline_passed,
    parse_response,
    safe_cause,
)
from ._constants import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, DOWNLOAD_CHUNK_SIZE
from ._dial import ConnectOptions, SessionCredentials, connection_url
from ._download import Destination, DownloadSink, ProgressCallback, content_length
from ._exceptions import ClientClosedError
from ._redact import known_secrets

if TYPE_CHECKING:
    from . import _async_connection, _connection, _models, _session_token
    from ._resources import agents as _agents
    from ._resources import calls as _calls
    from ._resources import catalog as _catalog
    from ._resources import organization as _organization
    from ._resources import sip_trunks as _sip_trunks
    from ._resources import twilio_numbers as _twilio_numbers
else:

    class _Deferred:
        """A module imported when an attribute is first read from it.

        The annotations below name ``_models.Transport`` and the like, so that
        ``typing.get_type_hints`` resolves them at run time, while ``import
        vatel`` and ``vatel.Client`` do not load every model and websockets.
        """

        def __init__(self, name: str) -> None:
            self._name = name

        def __getattr__(self, attribute: str) -> Any:
            return getattr(importlib.import_module(self._name, __package__), attribute)

        def __repr__(self) -> str:
            return f"<module {self._name!r}, imported on first use>"

    _async_connection = _Deferred("._async_connection")
    _connection = _Deferred("._connection")
    _models = _Deferred("._models")
    _session_token = _Deferred("._session_token")
    _agents = _Deferred("._resources.agents")
    _calls = _Deferred("._resources.calls")
    _catalog = _Deferred("._resources.catalog")
    _organization = _Deferred("._resources.organization")
    _sip_trunks = _Deferred("._resources.sip_trunks")
    _twilio_numbers = _Deferred("._resources.twilio_numbers")

__all__ = ["AsyncClient", "Client"]

log = logging.getLogger("vatel")

T = TypeVar("T")

# Looked up at call time so tests can observe the waits without sleeping, and
# read the attempts' deadlines off a clock of their own.
_sleep = time.sleep
_clock = time.monotonic


async def _async_sleep(delay: float) -> None:
    # asyncio is imported on first use: a sync-only program never pays for it.
    import asyncio

    await asyncio.sleep(delay)


R = TypeVar("R")


class _Lazy(Generic[R]):
    """A resource group bound to the client it is read from; its module is
    imported on first use, so ``import vatel`` does not load every model."""

    def __init__(self, module: str, name: str) -> None:
        self._module = module
        self._name = name

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, client: object, owner: type[Any]) -> R: ...
    def __get__(self, client: object, owner: type[Any]) -> R | Self:
        if client is None:
            return self
        module = importlib.import_module(f"._resources.{self._module}", __package__)
        resource: R = getattr(module, self._name)(client)
        return resource


# -- the sync clients' deadline ----------------------------------------------------


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
    """Ends a sync attempt that outlives its deadline, by shutting down its socket
    from the watchdog thread; the blocked read in the caller's thread then fails
    at once. The socket is learnt when httpcore connects (trace hook) and from the
    response's ``network_stream``."""

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

    def watch(self, guard: _AttemptGuard, seconds: float) -> None:
        with self._wake:
            entry = (time.monotonic() + seconds, next(self._order), weakref.ref(guard))
            heapq.heappush(self._due, entry)
            if len(self._due) >= self._compact_at:
                self._compact()
            if self._thread is None or not self._thread.is_alive():  # also after a fork
                self._thread = threading.Thread(
                    target=self._run, name="vatel-rest-deadlines", daemon=True
                )
                self._thread.start()
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


def _read_body(response: httpx.Response) -> CappedBody | None:
    """The body an event hook of the caller's ``http_client`` already read, if
    one did (it cannot be streamed twice); ``None`` when it is still to come."""
    if not response.is_stream_consumed:
        return None
    body = CappedBody(None)
    with contextlib.suppress(httpx.ResponseNotRead):
        body.feed(response.content)
    return body


class _ClientOptions(BaseClient):
    def with_options(
        self, *, timeout: Timeout | _NotGiven = NOT_GIVEN, max_retries: int | None = None
    ) -> Self:
        """A copy of this client with other settings, sharing its connection pool.

        Use it for one call (``client.with_options(max_retries=0).agents.get(id)``)
        or keep it. Closing either closes the shared pool.
        """
        clone = copy.copy(self)
        if not isinstance(timeout, _NotGiven):
            clone.timeout = timeout
        if max_retries is not None:
            if max_retries < 0:
                raise ValueError("max_retries must be 0 or more")
            clone.max_retries = max_retries
        known_secrets.add(clone, clone.api_key)
        return clone

    def connection_url(
        self,
        token: _session_token.SessionToken | str,
        agent_id: str | None = None,
        version_id: str | None = None,
    ) -> str:
        """The ``ws(s)://…/v1/connection`` URL for a session token.

        ``agentId`` and ``versionId`` are added when given or known from a
        :class:`SessionToken`. The URL contains the token: keep it out of logs.
        """
        credentials = SessionCredentials.of(token, agent_id, version_id)
        return connection_url(self.base_url, credentials)

    def _connect_options(self, options: ConnectOptions) -> ConnectOptions:
        """``options`` with this client's ``trust_env``, once voice sessions take it."""
        if "trust_env" in ConnectOptions.__annotations__:
            cast(dict[str, Any], options).setdefault("trust_env", self.trust_env)
        return options

    def _deadline(self) -> Deadline:
        return Deadline.after(attempt_budget(self.timeout), _clock)


class Client(_ClientOptions):
    """Synchronous Vatel client.

    ``api_key`` defaults to ``VATEL_API_KEY`` (surrounding whitespace, such as the
    newline of a key read from a file, is dropped; a key with other spaces or
    control characters is refused with :class:`vatel.ConfigurationError`) and
    ``base_url`` to ``VATEL_BASE_URL`` then ``https://api.vatel.ai``. A bare host
    (``api.example.com``, ``10.0.0.5:8443``) means ``https://``; a URL that cannot
    be right is refused at once with :class:`vatel.ConfigurationError`.
    Safe to share between threads.

    ``timeout`` (a number of seconds or an :class:`httpx.Timeout`; default 30 s,
    5 s to connect) bounds each attempt as a whole: connecting, sending, waiting
    for the answer and reading its body, however slowly the server trickles it
    (for an ``httpx.Timeout``, the longest of its phases bounds the attempt, each
    phase still bounding its own step). A failed attempt is retried up to
    ``max_retries`` times (default 2) after a backoff of at most 8 s, or the
    server's ``Retry-After`` of at most 60 s, so one call takes at most
    ``(max_retries + 1) * timeout + max_retries * 60`` seconds (with the
    defaults, 3 * 30 + 2 * 60 = 210 s; without ``Retry-After``,
    3 * 30 + 0.5 + 1 = 91.5 s). A recording download's body is bounded per read
    only, since a long recording legitimately takes a while.

    Proxies come from ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and
    ``NO_PROXY`` unless ``trust_env=False`` (voice sessions follow the same
    setting). Pass ``http_client`` to bring your own ``httpx.Client`` (proxies,
    transports, limits); it is then yours to close, and ``trust_env`` applies to
    voice sessions only.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: Timeout | _NotGiven = NOT_GIVEN,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.Client | None = None,
        trust_env: bool = True,
    ) -> None:
        super().__init__(
            api_key,
            base_url,
            timeout,
            max_retries,
            default_timeout=http_client.timeout if http_client is not None else DEFAULT_TIMEOUT,
            trust_env=trust_env,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client(trust_env=trust_env)

    # -- resources --------------------------------------------------------------

    organization: _Lazy[_organization.OrganizationResource] = _Lazy(
        "organization", "OrganizationResource"
    )
    """The organization that owns the API key."""
    llms: _Lazy[_catalog.LLMs] = _Lazy("catalog", "LLMs")
    """Language models an agent may use."""
    voices: _Lazy[_catalog.Voices] = _Lazy("catalog", "Voices")
    """The TTS voice catalog."""
    agents: _Lazy[_agents.Agents] = _Lazy("agents", "Agents")
    """Agents, their versions, publishing and outbound dialling."""
    calls: _Lazy[_calls.Calls] = _Lazy("calls", "Calls")
    """Call history and recordings."""
    twilio_numbers: _Lazy[_twilio_numbers.TwilioNumbers] = _Lazy("twilio_numbers", "TwilioNumbers")
    """Imported Twilio phone numbers."""
    sip_trunks: _Lazy[_sip_trunks.SipTrunks] = _Lazy("sip_trunks", "SipTrunks")
    """SIP trunks and their agent assignments."""

    # -- voice sessions ---------------------------------------------------------

    def session_token(
        self,
        agent_id: str,
        *,
        version_id: str | None = None,
        chat_id: str | None = None,
        prompt: str | None = None,
        first_message: str | None = None,
        chat: bool | None = None,
        transport: _models.Transport | None = None,
    ) -> _session_token.SessionToken:
        """Mint a short-lived JWT for one voice session with ``agent_id``."""
        from ._session_token import session_token_request, to_session_token

        request = session_token_request(
            agent_id,
            version_id=version_id,
            chat_id=chat_id,
            prompt=prompt,
            first_message=first_message,
            chat=chat,
            transport=transport,
        )
        return to_session_token(self._request(request), agent_id, version_id)

    def connect(
        self,
        session_token: _session_token.SessionToken | str,
        *,
        agent_id: str | None = None,
        version_id: str | None = None,
        **options: Unpack[ConnectOptions],
    ) -> _connection.Connection:
        """Open a voice session: a connected :class:`Connection`.

        ``options`` tune the WebSocket (time-outs, keepalive, size limits,
        headers, TLS context, proxy); see :class:`vatel.ConnectOptions`.
        """
        from ._connection import connect

        url = self.connection_url(session_token, agent_id, version_id)
        return connect(url, **self._connect_options(options))

    # -- plumbing ---------------------------------------------------------------

    def _request(self, request: APIRequest[T]) -> T:
        response = self._send(request)
        return parse_response(request, response, self._secrets)

    def _send(self, request: APIRequest[Any], *, stream: bool = False) -> httpx.Response:
        attempt = 0
        while True:
            deadline = self._deadline()
            guard = _AttemptGuard()
            failure: httpx.TransportError | None = None
            try:
                outcome = self._attempt(request, attempt, deadline, guard, stream)
            except httpx.TransportError as exc:
                failure = exc
            finally:
                guard.finish()
            if failure is not None:
                # Decided outside the handler, so nothing holding a secret is
                # left behind as the SDK error's __context__.
                error = failure
                if guard.fired:
                    error = deadline_passed(attempt_budget(self.timeout), failure.request)
                delay = self._retry_delay(request, attempt, error=error)
                if delay is None:
                    raise self._connection_error(request, error) from safe_cause(
                        failure, self._secrets
                    )
            elif isinstance(outcome, httpx.Response):
                return outcome
            else:
                delay = outcome
            _sleep(delay)
            attempt += 1

    def _attempt(
        self,
        request: APIRequest[Any],
        attempt: int,
        deadline: Deadline,
        guard: _AttemptGuard,
        stream: bool,
    ) -> httpx.Response | float:
        """One exchange: the response (its body read unless ``stream``), or the
        delay before the next attempt; raises the status error when done."""
        if self._http.is_closed:
            raise ClientClosedError("This vatel.Client is closed; make a new one.")
        http_request = self._build_request(self._http, request, deadline.cap(self.timeout))
        left = deadline.remaining()
        if left is not None:
            http_request.extensions["trace"] = guard.trace
            _watchdog.watch(guard, left)
        log.debug("HTTP request: %s %s", request.method, http_request.url)
        response = self._http.send(http_request, stream=True)
        log.debug("HTTP response: %s %s %d", request.method, request.path, response.status_code)
        guard.attach(response.extensions.get("network_stream"))
        if response.is_success:
            if not stream:
                response.read()
            return response
        with contextlib.closing(response):
            delay = self._retry_delay(request, attempt, response=response)
            if delay is not None:
                return delay
            body = _read_body(response)
            if body is None:
                body = CappedBody(response.headers.get("content-encoding"))
                with contextlib.suppress(httpx.TransportError):  # keep what arrived
                    for raw in response.iter_raw():
                        body.feed(raw)
                        if body.full:
                            break
        raise self._status_error(request, response, body.text())

    def _download(
        self,
        request: APIRequest[Any],
        destination: Destination,
        on_progress: ProgressCallback | None,
    ) -> int:
        response = self._send(request, stream=True)
        with contextlib.closing(response):
            sink = DownloadSink(destination, content_length(response.headers), on_progress)
            failure: httpx.TransportError | None = None
            try:
                for chunk in response.iter_bytes(DOWNLOAD_CHUNK_SIZE):
                    sink.write(chunk)
            except httpx.TransportError as exc:
                failure = exc
            except BaseException:
                sink.abort()
                raise
        if failure is not None:
            sink.abort()
            raise self._connection_error(request, failure) from safe_cause(failure, self._secrets)
        return sink.commit()

    def close(self) -> None:
        """Close the connection pool (unless it came from the caller). Requests
        made afterwards raise :class:`vatel.ClientClosedError`."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _AsyncPool:
    """The ``httpx.AsyncClient`` of an :class:`AsyncClient` and its copies, and the
    event loop it runs on. A pool the SDK made is made again when a later
    ``asyncio.run()`` uses the client, since connections cannot move between
    loops; the caller's own ``http_client`` is used as given."""

    def __init__(self, http: httpx.AsyncClient | None, trust_env: bool) -> None:
        self.owned = http is None
        self._trust_env = trust_env
        self.http = http if http is not None else self._new()
        self._loop: weakref.ref[Any] | None = None
        self.closed = False

    def _new(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(trust_env=self._trust_env)

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


class AsyncClient(_ClientOptions):
    """Asynchronous Vatel client, the twin of :class:`Client`, with the same
    ``api_key``, ``base_url``, ``timeout``, ``max_retries`` and ``trust_env``.

    Safe to share between tasks of one event loop; a client used by a later
    ``asyncio.run()`` makes itself a new connection pool. Pass ``http_client`` to
    bring your own ``httpx.AsyncClient``; it is then yours to close (and to keep
    on one loop), and ``trust_env`` applies to voice sessions only.

    ``timeout`` bounds each attempt as a whole, body included, so one call takes
    at most ``(max_retries + 1) * timeout + max_retries * 60`` seconds; see
    :class:`Client`.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: Timeout | _NotGiven = NOT_GIVEN,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.AsyncClient | None = None,
        trust_env: bool = True,
    ) -> None:
        super().__init__(
            api_key,
            base_url,
            timeout,
            max_retries,
            default_timeout=http_client.timeout if http_client is not None else DEFAULT_TIMEOUT,
            trust_env=trust_env,
        )
        self._pool = _AsyncPool(http_client, trust_env)

    @property
    def _http(self) -> httpx.AsyncClient:
        return self._pool.http

    # -- resources --------------------------------------------------------------

    organization: _Lazy[_organization.AsyncOrganizationResource] = _Lazy(
        "organization", "AsyncOrganizationResource"
    )
    """The organization that owns the API key."""
    llms: _Lazy[_catalog.AsyncLLMs] = _Lazy("catalog", "AsyncLLMs")
    """Language models an agent may use."""
    voices: _Lazy[_catalog.AsyncVoices] = _Lazy("catalog", "AsyncVoices")
    """The TTS voice catalog."""
    agents: _Lazy[_agents.AsyncAgents] = _Lazy("agents", "AsyncAgents")
    """Agents, their versions, publishing and outbound dialling."""
    calls: _Lazy[_calls.AsyncCalls] = _Lazy("calls", "AsyncCalls")
    """Call history and recordings."""
    twilio_numbers: _Lazy[_twilio_numbers.AsyncTwilioNumbers] = _Lazy(
        "twilio_numbers", "AsyncTwilioNumbers"
    )
    """Imported Twilio phone numbers."""
    sip_trunks: _Lazy[_sip_trunks.AsyncSipTrunks] = _Lazy("sip_trunks", "AsyncSipTrunks")
    """SIP trunks and their agent assignments."""

    # -- voice sessions ---------------------------------------------------------

    async def session_token(
        self,
        agent_id: str,
        *,
        version_id: str | None = None,
        chat_id: str | None = None,
        prompt: str | None = None,
        first_message: str | None = None,
        chat: bool | None = None,
        transport: _models.Transport | None = None,
    ) -> _session_token.SessionToken:
        """Mint a short-lived JWT for one voice session with ``agent_id``."""
        from ._session_token import session_token_request, to_session_token

        request = session_token_request(
            agent_id,
            version_id=version_id,
            chat_id=chat_id,
            prompt=prompt,
            first_message=first_message,
            chat=chat,
            transport=transport,
        )
        return to_session_token(await self._request(request), agent_id, version_id)

    def connect(
        self,
        session_token: _session_token.SessionToken | str,
        *,
        agent_id: str | None = None,
        version_id: str | None = None,
        **options: Unpack[ConnectOptions],
    ) -> _async_connection.AsyncConnect:
        """Open a voice session: ``await`` it for an :class:`AsyncConnection`, or
        use it with ``async with`` to close the session on exit."""
        from ._async_connection import connect_async

        url = self.connection_url(session_token, agent_id, version_id)
        return connect_async(url, **self._connect_options(options))

    # -- plumbing ---------------------------------------------------------------

    async def _request(self, request: APIRequest[T]) -> T:
        response = await self._send(request)
        return parse_response(request, response, self._secrets)

    async def _send(self, request: APIRequest[Any], *, stream: bool = False) -> httpx.Response:
        import asyncio

        attempt = 0
        while True:
            deadline = self._deadline()
            http = self._pool.current()
            failure: BaseException | None = None
            error: httpx.TransportError | None = None
            try:
                exchange = self._attempt(http, request, attempt, deadline, stream)
                outcome = await asyncio.wait_for(exchange, deadline.remaining())
            except asyncio.TimeoutError as exc:
                failure, error = exc, deadline_passed(attempt_budget(self.timeout))
            except httpx.TransportError as exc:
                failure = error = exc
            if failure is not None and error is not None:
                # Decided outside the handler, so nothing holding a secret is
                # left behind as the SDK error's __context__.
                delay = self._retry_delay(request, attempt, error=error)
                if delay is None:
                    raise self._connection_error(request, error) from safe_cause(
                        failure, self._secrets
                    )
            elif isinstance(outcome, httpx.Response):
                return outcome
            else:
                delay = outcome
            await _async_sleep(delay)
            attempt += 1

    async def _attempt(
        self,
        http: httpx.AsyncClient,
        request: APIRequest[Any],
        attempt: int,
        deadline: Deadline,
        stream: bool,
    ) -> httpx.Response | float:
        """One exchange: the response (its body read unless ``stream``), or the
        delay before the next attempt; raises the status error when done."""
        http_request = self._build_request(http, request, deadline.cap(self.timeout))
        log.debug("HTTP request: %s %s", request.method, http_request.url)
        response = await http.send(http_request, stream=True)
        log.debug("HTTP response: %s %s %d", request.method, request.path, response.status_code)
        if response.is_success:
            try:
                if not stream:
                    await response.aread()
            except BaseException:
                await response.aclose()
                raise
            return response
        try:
            delay = self._retry_delay(request, attempt, response=response)
            if delay is not None:
                return delay
            body = _read_body(response)
            if body is None:
                body = CappedBody(response.headers.get("content-encoding"))
                with contextlib.suppress(httpx.TransportError):  # keep what arrived
                    async for raw in response.aiter_raw():
                        body.feed(raw)
                        if body.full:
                            break
        finally:
            await response.aclose()
        raise self._status_error(request, response, body.text())

    async def _download(
        self,
        request: APIRequest[Any],
        destination: Destination,
        on_progress: ProgressCallback | None,
    ) -> int:
        response = await self._send(request, stream=True)
        async with contextlib.aclosing(response):
            sink = DownloadSink(destination, content_length(response.headers), on_progress)
            failure: httpx.TransportError | None = None
            try:
                async for chunk in response.aiter_bytes(DOWNLOAD_CHUNK_SIZE):
                    sink.write(chunk)
            except httpx.TransportError as exc:
                failure = exc
            except BaseException:
                sink.abort()
                raise
        if failure is not None:
            sink.abort()
            raise self._connection_error(request, failure) from safe_cause(failure, self._secrets)
        return sink.commit()

    async def close(self) -> None:
        """Close the connection pool (unless it came from the caller). Requests
        made afterwards raise :class:`vatel.ClientClosedError`."""
        await self._pool.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
