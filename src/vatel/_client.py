"""``Client`` and ``AsyncClient``: the REST API and the voice-session entry point."""

from __future__ import annotations

import contextlib
import copy
import importlib
import logging
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import httpx
from typing_extensions import Self, Unpack

from ._base_client import (
    NOT_GIVEN,
    APIRequest,
    BaseClient,
    Timeout,
    _NotGiven,
    connection_error,
    parse_response,
)
from ._constants import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, DOWNLOAD_CHUNK_SIZE
from ._dial import ConnectOptions, SessionCredentials, connection_url
from ._download import Destination, DownloadSink, ProgressCallback, content_length

if TYPE_CHECKING:
    from ._async_connection import AsyncConnect
    from ._connection import Connection
    from ._models import Transport
    from ._resources.agents import Agents, AsyncAgents
    from ._resources.calls import AsyncCalls, Calls
    from ._resources.catalog import AsyncLLMs, AsyncVoices, LLMs, Voices
    from ._resources.organization import AsyncOrganizationResource, OrganizationResource
    from ._resources.sip_trunks import AsyncSipTrunks, SipTrunks
    from ._resources.twilio_numbers import AsyncTwilioNumbers, TwilioNumbers
    from ._session_token import SessionToken

__all__ = ["AsyncClient", "Client"]

log = logging.getLogger("vatel")

T = TypeVar("T")

# Looked up at call time so tests can observe the waits without sleeping.
_sleep = time.sleep


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
        return clone

    def connection_url(
        self,
        token: SessionToken | str,
        agent_id: str | None = None,
        version_id: str | None = None,
    ) -> str:
        """The ``ws(s)://…/v1/connection`` URL for a session token.

        ``agentId`` and ``versionId`` are added when given or known from a
        :class:`SessionToken`. The URL contains the token: keep it out of logs.
        """
        credentials = SessionCredentials.of(token, agent_id, version_id)
        return connection_url(self.base_url, credentials)


class Client(_ClientOptions):
    """Synchronous Vatel client.

    ``api_key`` defaults to ``VATEL_API_KEY`` and ``base_url`` to ``VATEL_BASE_URL``
    then ``https://api.vatel.ai``. Safe to share between threads. Pass
    ``http_client`` to bring your own ``httpx.Client`` (proxies, transports,
    limits); it is then yours to close.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: Timeout | _NotGiven = NOT_GIVEN,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            api_key,
            base_url,
            timeout,
            max_retries,
            default_timeout=http_client.timeout if http_client is not None else DEFAULT_TIMEOUT,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client()

    # -- resources --------------------------------------------------------------

    organization: _Lazy[OrganizationResource] = _Lazy("organization", "OrganizationResource")
    """The organization that owns the API key."""
    llms: _Lazy[LLMs] = _Lazy("catalog", "LLMs")
    """Language models an agent may use."""
    voices: _Lazy[Voices] = _Lazy("catalog", "Voices")
    """The TTS voice catalog."""
    agents: _Lazy[Agents] = _Lazy("agents", "Agents")
    """Agents, their versions, publishing and outbound dialling."""
    calls: _Lazy[Calls] = _Lazy("calls", "Calls")
    """Call history and recordings."""
    twilio_numbers: _Lazy[TwilioNumbers] = _Lazy("twilio_numbers", "TwilioNumbers")
    """Imported Twilio phone numbers."""
    sip_trunks: _Lazy[SipTrunks] = _Lazy("sip_trunks", "SipTrunks")
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
        transport: Transport | None = None,
    ) -> SessionToken:
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
        session_token: SessionToken | str,
        *,
        agent_id: str | None = None,
        version_id: str | None = None,
        **options: Unpack[ConnectOptions],
    ) -> Connection:
        """Open a voice session: a connected :class:`Connection`.

        ``options`` tune the WebSocket (time-outs, keepalive, size limits,
        headers, TLS context, proxy); see :class:`vatel.ConnectOptions`.
        """
        from ._connection import connect

        url = self.connection_url(session_token, agent_id, version_id)
        return connect(url, **options)

    # -- plumbing ---------------------------------------------------------------

    def _request(self, request: APIRequest[T]) -> T:
        response = self._send(request)
        return parse_response(request, response)

    def _send(self, request: APIRequest[Any], *, stream: bool = False) -> httpx.Response:
        attempt = 0
        while True:
            http_request = self._build_request(self._http, request)
            log.debug("HTTP request: %s %s", request.method, http_request.url)
            try:
                response = self._http.send(http_request, stream=stream)
            except httpx.TransportError as exc:
                delay = self._retry_delay(request, attempt, error=exc)
                if delay is None:
                    raise connection_error(exc, request.method, self._url(request.path)) from exc
            else:
                log.debug(
                    "HTTP response: %s %s %d", request.method, request.path, response.status_code
                )
                if response.is_success:
                    return response
                delay = self._retry_delay(request, attempt, response=response)
                if delay is None:
                    try:
                        response.read()
                    except httpx.TransportError:
                        pass
                    finally:
                        response.close()
                    raise self._status_error(request, response)
                response.close()
            _sleep(delay)
            attempt += 1

    def _download(
        self,
        request: APIRequest[Any],
        destination: Destination,
        on_progress: ProgressCallback | None,
    ) -> int:
        response = self._send(request, stream=True)
        with contextlib.closing(response):
            sink = DownloadSink(destination, content_length(response.headers), on_progress)
            try:
                for chunk in response.iter_bytes(DOWNLOAD_CHUNK_SIZE):
                    sink.write(chunk)
            except httpx.TransportError as exc:
                sink.abort()
                raise connection_error(exc, request.method, self._url(request.path)) from exc
            except BaseException:
                sink.abort()
                raise
        return sink.commit()

    def close(self) -> None:
        """Close the connection pool (unless it came from the caller)."""
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


class AsyncClient(_ClientOptions):
    """Asynchronous Vatel client, the twin of :class:`Client`.

    Safe to share between tasks of one event loop. Pass ``http_client`` to bring
    your own ``httpx.AsyncClient``; it is then yours to close.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: Timeout | _NotGiven = NOT_GIVEN,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            api_key,
            base_url,
            timeout,
            max_retries,
            default_timeout=http_client.timeout if http_client is not None else DEFAULT_TIMEOUT,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient()

    # -- resources --------------------------------------------------------------

    organization: _Lazy[AsyncOrganizationResource] = _Lazy(
        "organization", "AsyncOrganizationResource"
    )
    """The organization that owns the API key."""
    llms: _Lazy[AsyncLLMs] = _Lazy("catalog", "AsyncLLMs")
    """Language models an agent may use."""
    voices: _Lazy[AsyncVoices] = _Lazy("catalog", "AsyncVoices")
    """The TTS voice catalog."""
    agents: _Lazy[AsyncAgents] = _Lazy("agents", "AsyncAgents")
    """Agents, their versions, publishing and outbound dialling."""
    calls: _Lazy[AsyncCalls] = _Lazy("calls", "AsyncCalls")
    """Call history and recordings."""
    twilio_numbers: _Lazy[AsyncTwilioNumbers] = _Lazy("twilio_numbers", "AsyncTwilioNumbers")
    """Imported Twilio phone numbers."""
    sip_trunks: _Lazy[AsyncSipTrunks] = _Lazy("sip_trunks", "AsyncSipTrunks")
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
        transport: Transport | None = None,
    ) -> SessionToken:
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
        session_token: SessionToken | str,
        *,
        agent_id: str | None = None,
        version_id: str | None = None,
        **options: Unpack[ConnectOptions],
    ) -> AsyncConnect:
        """Open a voice session: ``await`` it for an :class:`AsyncConnection`, or
        use it with ``async with`` to close the session on exit."""
        from ._async_connection import connect_async

        url = self.connection_url(session_token, agent_id, version_id)
        return connect_async(url, **options)

    # -- plumbing ---------------------------------------------------------------

    async def _request(self, request: APIRequest[T]) -> T:
        response = await self._send(request)
        return parse_response(request, response)

    async def _send(self, request: APIRequest[Any], *, stream: bool = False) -> httpx.Response:
        attempt = 0
        while True:
            http_request = self._build_request(self._http, request)
            log.debug("HTTP request: %s %s", request.method, http_request.url)
            try:
                response = await self._http.send(http_request, stream=stream)
            except httpx.TransportError as exc:
                delay = self._retry_delay(request, attempt, error=exc)
                if delay is None:
                    raise connection_error(exc, request.method, self._url(request.path)) from exc
            else:
                log.debug(
                    "HTTP response: %s %s %d", request.method, request.path, response.status_code
                )
                if response.is_success:
                    return response
                delay = self._retry_delay(request, attempt, response=response)
                if delay is None:
                    try:
                        await response.aread()
                    except httpx.TransportError:
                        pass
                    finally:
                        await response.aclose()
                    raise self._status_error(request, response)
                await response.aclose()
            await _async_sleep(delay)
            attempt += 1

    async def _download(
        self,
        request: APIRequest[Any],
        destination: Destination,
        on_progress: ProgressCallback | None,
    ) -> int:
        response = await self._send(request, stream=True)
        async with contextlib.aclosing(response):
            sink = DownloadSink(destination, content_length(response.headers), on_progress)
            try:
                async for chunk in response.aiter_bytes(DOWNLOAD_CHUNK_SIZE):
                    sink.write(chunk)
            except httpx.TransportError as exc:
                sink.abort()
                raise connection_error(exc, request.method, self._url(request.path)) from exc
            except BaseException:
                sink.abort()
                raise
        return sink.commit()

    async def close(self) -> None:
        """Close the connection pool (unless it came from the caller)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
