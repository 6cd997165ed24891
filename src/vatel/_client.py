"""``Client`` and ``AsyncClient``: the REST API and the voice-session entry point.

``AsyncClient`` is written by hand; the part of ``Client`` that only differs by
``async``/``await`` (the retry loop, one attempt, the download) is generated
from it by ``scripts/unasync.py``. What each flavour does its own way sits
behind helpers of the same name: ``AttemptDeadline`` / ``AsyncAttemptDeadline``,
``Pool`` / ``AsyncPool`` and ``_sleep`` / ``_async_sleep``.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import logging
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

import httpx

if sys.version_info >= (3, 11):
    from typing import Self, Unpack
else:  # A token in a cold process then also pays for importing typing_extensions.
    from typing_extensions import Self, Unpack

from ._attempt_deadline import AsyncAttemptDeadline, AttemptDeadline, start_watchdog
from ._base_client import (
    NOT_GIVEN,
    APIRequest,
    BaseClient,
    CappedBody,
    Deadline,
    DeferredModule,
    Timeout,
    _NotGiven,
    attempt_budget,
    parse_response,
    safe_cause,
)
from ._constants import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT_SECONDS,
    DOWNLOAD_CHUNK_SIZE,
)
from ._exceptions import ConfigurationError
from ._http_pool import AsyncPool, Pool
from ._redact import known_secrets

if TYPE_CHECKING:
    from . import _async_connection, _connection, _dial, _models, _session_token
    from ._download import Destination, ProgressCallback
    from ._resources import agents as _agents
    from ._resources import calls as _calls
    from ._resources import catalog as _catalog
    from ._resources import organization as _organization
    from ._resources import sip_trunks as _sip_trunks
    from ._resources import twilio_numbers as _twilio_numbers
else:
    # The annotations below name ``_models.Transport`` and the like, so that
    # ``typing.get_type_hints`` resolves them at run time, while ``import
    # vatel`` and ``vatel.Client`` do not load every model and websockets.
    _async_connection = DeferredModule("._async_connection")
    _connection = DeferredModule("._connection")
    # Voice-session plumbing: a REST-only process (minting a token) never loads it.
    _dial = DeferredModule("._dial")
    _models = DeferredModule("._models")
    _session_token = DeferredModule("._session_token")
    _agents = DeferredModule("._resources.agents")
    _calls = DeferredModule("._resources.calls")
    _catalog = DeferredModule("._resources.catalog")
    _organization = DeferredModule("._resources.organization")
    _sip_trunks = DeferredModule("._resources.sip_trunks")
    _twilio_numbers = DeferredModule("._resources.twilio_numbers")

__all__ = ["AsyncClient", "Client"]

log = logging.getLogger("vatel")

T = TypeVar("T")

# Looked up at call time so tests can observe the waits without sleeping, and
# read the attempts' deadlines off a clock of their own.
_sleep = time.sleep
_clock = time.monotonic
_DEFAULT_TIMEOUT = httpx.Timeout(DEFAULT_TIMEOUT_SECONDS, connect=DEFAULT_CONNECT_TIMEOUT)


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
        self._class: Callable[[Any], R] | None = None

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, client: object, owner: type[Any]) -> R: ...
    def __get__(self, client: object, owner: type[Any]) -> R | Self:
        if client is None:
            return self
        if self._class is None:
            module = importlib.import_module(f"._resources.{self._module}", __package__)
            self._class = getattr(module, self._name)
        return self._class(client)


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
                raise ConfigurationError("max_retries must be 0 or more")
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
        from ._dial import SessionCredentials
        from ._dial import connection_url as url_for

        return url_for(self.base_url, SessionCredentials.of(token, agent_id, version_id))

    def _connect_options(self, options: _dial.ConnectOptions) -> _dial.ConnectOptions:
        """``options`` with this client's ``trust_env``, once voice sessions take it."""
        if "trust_env" in _dial.ConnectOptions.__annotations__:
            cast(dict[str, Any], options).setdefault("trust_env", self.trust_env)
        return options

    def _budget(self) -> float | None:
        """:func:`attempt_budget` of ``timeout``, worked out once per value."""
        known = self._known_budget
        if known is None or known[0] is not self.timeout:
            known = self._known_budget = (self.timeout, attempt_budget(self.timeout))
        return known[1]

    _known_budget: tuple[Timeout, float | None] | None = None

    def _deadline(self) -> Deadline:
        return Deadline.after(self._budget(), _clock)


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
            default_timeout=http_client.timeout if http_client is not None else _DEFAULT_TIMEOUT,
            trust_env=trust_env,
        )
        self._pool = Pool(http_client, trust_env)
        if self._budget() is not None:
            start_watchdog()

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

    def connect(
        self,
        session_token: _session_token.SessionToken | str,
        *,
        agent_id: str | None = None,
        version_id: str | None = None,
        reconnect: _connection.Reconnect | None = None,
        **options: Unpack[_dial.ConnectOptions],
    ) -> _connection.Connection:
        """Open a voice session: a connected :class:`Connection`; use it with
        ``with`` to close the session on exit.

        ``options`` tune the WebSocket (time-outs, keepalive, size limits,
        headers, TLS context, proxy); see :class:`vatel.ConnectOptions`.
        ``reconnect`` redials a dropped session (see :class:`vatel.Reconnect`);
        without a ``token_source`` of its own, each redial mints a fresh token
        with ``session_token(agent_id, version_id=...)`` (pass a token source
        when the first token was minted with a prompt or a first message).
        """
        from ._connection import connect
        from ._dial import SessionCredentials
        from ._reconnect import checked_policy

        credentials = SessionCredentials.of(session_token, agent_id, version_id)
        url = self.connection_url(credentials.token, credentials.agent_id, credentials.version_id)
        policy = checked_policy(reconnect)
        if policy is not None and policy.token_source is None:
            mint_agent, mint_version = credentials.agent_id or "", credentials.version_id

            def mint() -> _session_token.SessionToken:
                return self.session_token(mint_agent, version_id=mint_version)

            policy = policy.with_token_source(mint)
        return connect(url, reconnect=policy, **self._connect_options(options))

    # --- generated by scripts/unasync.py from AsyncClient: do not edit ---
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
        from ._session_token import session_token_request

        request = session_token_request(
            agent_id,
            version_id=version_id,
            chat_id=chat_id,
            prompt=prompt,
            first_message=first_message,
            chat=chat,
            transport=transport,
        )
        return self._request(request)

    # -- plumbing ---------------------------------------------------------------

    def _request(self, request: APIRequest[T]) -> T:
        response = self._send(request)
        return parse_response(request, response, self._secrets)

    def _send(self, request: APIRequest[Any], *, stream: bool = False) -> httpx.Response:
        attempt = 0
        while True:
            deadline = AttemptDeadline(self._deadline(), self._budget())
            failure: httpx.TransportError | None = None
            try:
                outcome = deadline.run(self._attempt, request, attempt, deadline, stream)
            except httpx.TransportError as exc:
                failure = exc
            if failure is not None:
                # Decided outside the handler, so nothing holding a secret is
                # left behind as the SDK error's __context__.
                delay = self._retry_delay(request, attempt, error=failure)
                if delay is None:
                    raise self._connection_error(request, failure) from safe_cause(
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
        deadline: AttemptDeadline,
        stream: bool,
    ) -> httpx.Response | float:
        """One exchange: the response (its body read unless ``stream``), or the
        delay before the next attempt; raises the status error when done."""
        http_request = self._build_request(self._pool, request, deadline.cap(self.timeout))
        deadline.arm(http_request)
        log.debug("HTTP request: %s %s", request.method, http_request.url)
        response = self._pool.send(http_request)
        log.debug("HTTP response: %s %s %d", request.method, request.path, response.status_code)
        deadline.attach(response)
        if response.is_success:
            try:
                if not stream:
                    response.read()
            except BaseException:
                response.close()
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
                    for raw in response.iter_raw():
                        body.feed(raw)
                        if body.full:
                            break
        finally:
            response.close()
        error = self._status_error(request, response, body.text())
        # The traceback keeps this frame: it must not keep the whole response too.
        del response, body
        raise error

    def _download(
        self,
        request: APIRequest[Any],
        destination: Destination,
        on_progress: ProgressCallback | None,
    ) -> int:
        # Downloads load their file handling (and ``secrets``, for temporary names)
        # with the first one: minting a token never needs it.
        from ._download import DownloadSink, content_length

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
        self._pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- end generated ---


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
            default_timeout=http_client.timeout if http_client is not None else _DEFAULT_TIMEOUT,
            trust_env=trust_env,
        )
        self._pool = AsyncPool(http_client, trust_env)

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

    def connect(
        self,
        session_token: _session_token.SessionToken | str,
        *,
        agent_id: str | None = None,
        version_id: str | None = None,
        reconnect: _connection.Reconnect | None = None,
        **options: Unpack[_dial.ConnectOptions],
    ) -> _async_connection.AsyncConnect:
        """Open a voice session: ``await`` it for an :class:`AsyncConnection`, or
        use it with ``async with`` to close the session on exit.

        ``options`` tune the WebSocket (time-outs, keepalive, size limits,
        headers, TLS context, proxy); see :class:`vatel.ConnectOptions`.
        ``reconnect`` redials a dropped session (see :class:`vatel.Reconnect`);
        without a ``token_source`` of its own, each redial mints a fresh token
        with ``session_token(agent_id, version_id=...)`` (pass a token source
        when the first token was minted with a prompt or a first message).
        """
        from ._async_connection import connect_async
        from ._dial import SessionCredentials
        from ._reconnect import checked_policy

        credentials = SessionCredentials.of(session_token, agent_id, version_id)
        url = self.connection_url(credentials.token, credentials.agent_id, credentials.version_id)
        policy = checked_policy(reconnect)
        if policy is not None and policy.token_source is None:
            mint_agent, mint_version = credentials.agent_id or "", credentials.version_id

            async def mint() -> _session_token.SessionToken:
                return await self.session_token(mint_agent, version_id=mint_version)

            policy = policy.with_token_source(mint)
        return connect_async(url, reconnect=policy, **self._connect_options(options))

    # --- begin unasync source: AsyncClient ---
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
        from ._session_token import session_token_request

        request = session_token_request(
            agent_id,
            version_id=version_id,
            chat_id=chat_id,
            prompt=prompt,
            first_message=first_message,
            chat=chat,
            transport=transport,
        )
        return await self._request(request)

    # -- plumbing ---------------------------------------------------------------

    async def _request(self, request: APIRequest[T]) -> T:
        response = await self._send(request)
        return parse_response(request, response, self._secrets)

    async def _send(self, request: APIRequest[Any], *, stream: bool = False) -> httpx.Response:
        attempt = 0
        while True:
            deadline = AsyncAttemptDeadline(self._deadline(), self._budget())
            failure: httpx.TransportError | None = None
            try:
                outcome = await deadline.run(self._attempt, request, attempt, deadline, stream)
            except httpx.TransportError as exc:
                failure = exc
            if failure is not None:
                # Decided outside the handler, so nothing holding a secret is
                # left behind as the SDK error's __context__.
                delay = self._retry_delay(request, attempt, error=failure)
                if delay is None:
                    raise self._connection_error(request, failure) from safe_cause(
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
        request: APIRequest[Any],
        attempt: int,
        deadline: AsyncAttemptDeadline,
        stream: bool,
    ) -> httpx.Response | float:
        """One exchange: the response (its body read unless ``stream``), or the
        delay before the next attempt; raises the status error when done."""
        http_request = self._build_request(self._pool, request, deadline.cap(self.timeout))
        deadline.arm(http_request)
        log.debug("HTTP request: %s %s", request.method, http_request.url)
        response = await self._pool.send(http_request)
        log.debug("HTTP response: %s %s %d", request.method, request.path, response.status_code)
        deadline.attach(response)
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
        error = self._status_error(request, response, body.text())
        # The traceback keeps this frame: it must not keep the whole response too.
        del response, body
        raise error

    async def _download(
        self,
        request: APIRequest[Any],
        destination: Destination,
        on_progress: ProgressCallback | None,
    ) -> int:
        # Downloads load their file handling (and ``secrets``, for temporary names)
        # with the first one: minting a token never needs it.
        from ._download import DownloadSink, content_length

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

    # --- end unasync source ---
