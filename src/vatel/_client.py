"""``Client`` and ``AsyncClient``: the REST API and the voice-session entry point."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

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
_async_sleep = asyncio.sleep


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

    @property
    def organization(self) -> OrganizationResource:
        """The organization that owns the API key."""
        from ._resources.organization import OrganizationResource

        return OrganizationResource(self)

    @property
    def llms(self) -> LLMs:
        """Language models an agent may use."""
        from ._resources.catalog import LLMs

        return LLMs(self)

    @property
    def voices(self) -> Voices:
        """The TTS voice catalog."""
        from ._resources.catalog import Voices

        return Voices(self)

    @property
    def agents(self) -> Agents:
        """Agents, their versions, publishing and outbound dialling."""
        from ._resources.agents import Agents

        return Agents(self)

    @property
    def calls(self) -> Calls:
        """Call history and recordings."""
        from ._resources.calls import Calls

        return Calls(self)

    @property
    def twilio_numbers(self) -> TwilioNumbers:
        """Imported Twilio phone numbers."""
        from ._resources.twilio_numbers import TwilioNumbers

        return TwilioNumbers(self)

    @property
    def sip_trunks(self) -> SipTrunks:
        """SIP trunks and their agent assignments."""
        from ._resources.sip_trunks import SipTrunks

        return SipTrunks(self)

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

    @property
    def organization(self) -> AsyncOrganizationResource:
        """The organization that owns the API key."""
        from ._resources.organization import AsyncOrganizationResource

        return AsyncOrganizationResource(self)

    @property
    def llms(self) -> AsyncLLMs:
        """Language models an agent may use."""
        from ._resources.catalog import AsyncLLMs

        return AsyncLLMs(self)

    @property
    def voices(self) -> AsyncVoices:
        """The TTS voice catalog."""
        from ._resources.catalog import AsyncVoices

        return AsyncVoices(self)

    @property
    def agents(self) -> AsyncAgents:
        """Agents, their versions, publishing and outbound dialling."""
        from ._resources.agents import AsyncAgents

        return AsyncAgents(self)

    @property
    def calls(self) -> AsyncCalls:
        """Call history and recordings."""
        from ._resources.calls import AsyncCalls

        return AsyncCalls(self)

    @property
    def twilio_numbers(self) -> AsyncTwilioNumbers:
        """Imported Twilio phone numbers."""
        from ._resources.twilio_numbers import AsyncTwilioNumbers

        return AsyncTwilioNumbers(self)

    @property
    def sip_trunks(self) -> AsyncSipTrunks:
        """SIP trunks and their agent assignments."""
        from ._resources.sip_trunks import AsyncSipTrunks

        return AsyncSipTrunks(self)

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
