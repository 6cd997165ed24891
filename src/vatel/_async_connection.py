"""The asyncio voice-session connection, on ``websockets``' asyncio client."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from websockets.exceptions import ConnectionClosed

from ._dial import ConnectOptions, closed_error, handshake_error, websocket_kwargs
from ._events import Event, SessionEnded
from ._exceptions import ProtocolError
from ._redact import redact_url
from ._session_base import SessionBase
from ._version import __version__

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

    from ._tools import ToolRouter

__all__ = ["AsyncConnect", "AsyncConnection", "connect_async"]

log = logging.getLogger("vatel")

_USER_AGENT = f"vatel-python/{__version__}"


class AsyncConnection(SessionBase):
    """A live voice session (asyncio API), the twin of :class:`vatel.Connection`.

    ``async for event in conn`` until the session ends, or ``await conn.recv()``.
    Sending is safe from several tasks.
    """

    # -- receiving ----------------------------------------------------------------

    async def recv(self, timeout: float | None = None) -> Event:
        """Wait for the next event.

        Raises :class:`TimeoutError` when ``timeout`` seconds pass without one
        (no frame is lost: ``websockets`` keeps it for the next call),
        :class:`vatel.ConnectionClosedError` once the connection is closed, and
        :class:`vatel.ProtocolError` for a frame the contract does not allow
        (the session stays usable).
        """
        try:
            if timeout is None:
                frame = await self._ws.recv()
            else:
                frame = await asyncio.wait_for(self._ws.recv(), timeout)
        except ConnectionClosed as exc:
            raise closed_error(exc) from None
        except asyncio.TimeoutError:
            raise TimeoutError(f"No event within {timeout:g} s.") from None
        return self._protocol.receive(frame)

    async def __aiter__(self) -> AsyncIterator[Event]:
        """Events until ``session_ended`` or a normal close; an abnormal close
        raises :class:`vatel.ConnectionClosedError`. A malformed frame is logged
        as a warning and skipped, so one bad frame does not end the session."""
        # recv() inlined: one coroutine less per audio frame.
        ws_recv = self._ws.recv
        receive = self._protocol.receive
        while True:
            try:
                frame = await ws_recv()
            except ConnectionClosed as exc:
                error = closed_error(exc)
                if error.ok:
                    return
                raise error from None
            try:
                event = receive(frame)
            except ProtocolError as exc:
                log.warning("Skipping a malformed frame: %s", exc)
                continue
            yield event
            if type(event) is SessionEnded:
                return

    # -- sending --------------------------------------------------------------------

    async def _send(self, frame: str) -> None:
        try:
            await self._ws.send(frame)
        except ConnectionClosed as exc:
            raise closed_error(exc) from None

    async def send_input_audio(self, audio: str) -> None:
        """Send a base64 chunk of PCM16 24 kHz mono audio."""
        await self._send(self._protocol.input_audio(audio))

    async def send_input_audio_bytes(self, pcm: bytes) -> None:
        """Send a chunk of raw PCM16 24 kHz mono audio (an even number of bytes)."""
        await self._send(self._protocol.input_audio_bytes(pcm))

    async def send_tool_call_output(self, tool_call_id: str, output: Any) -> None:
        """Answer a :class:`vatel.ToolCall`: a str is sent as is, anything else as JSON."""
        await self._send(self._protocol.tool_call_output(tool_call_id, output))

    # -- running a whole session ------------------------------------------------------

    async def run(
        self,
        tools: ToolRouter | None = None,
        on_event: Callable[[Event], object] | None = None,
    ) -> None:
        """Receive events until the session ends, answering tool calls.

        ``on_event`` (a function or coroutine function) sees every event first;
        keep it quick, it holds up receiving. Each tool call runs in its own
        task, so a slow tool never stalls the audio; outputs are sent as they
        finish. Returns when the session ends; tool tasks still running then are
        cancelled, as their answers can no longer be delivered.
        """
        from ._session_run import run_async

        await run_async(self, tools, on_event)

    # -- closing ---------------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the session and wait (up to ``close_timeout``) for the server."""
        self._lift_read_limit()
        try:
            await self._ws.close(code, reason)
        finally:
            # On Python 3.10 a TLS transport whose peer closed first is never marked
            # closed and warns when collected; closing it again is harmless.
            transport = getattr(self._ws, "transport", None)
            if transport is not None and not transport.is_closing():
                transport.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class AsyncConnect:
    """What :func:`vatel.connect_async` returns: ``await`` it for a connection,
    or ``async with`` it to have the connection closed on exit."""

    def __init__(self, url: str, options: ConnectOptions) -> None:
        self._url = url
        self._kwargs = websocket_kwargs(options, _USER_AGENT)
        self._connection: AsyncConnection | None = None

    def __repr__(self) -> str:
        return f"<AsyncConnect {redact_url(self._url)}>"

    async def _open(self) -> AsyncConnection:
        try:
            # The client half of websockets loads when a session opens, not with vatel.
            from websockets.asyncio.client import connect as ws_connect

            websocket = await ws_connect(self._url, **self._kwargs)
        except Exception as exc:
            error = handshake_error(exc, self._url, self._kwargs.get("open_timeout"))
            if error is None:
                raise
            raise error from None
        log.debug("Voice session opened: %s", redact_url(self._url))
        return AsyncConnection(websocket, self._url)

    def __await__(self) -> Generator[Any, None, AsyncConnection]:
        return self._open().__await__()

    async def __aenter__(self) -> AsyncConnection:
        self._connection = await self._open()
        return self._connection

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._connection is not None:
            await self._connection.close()


def connect_async(url: str, **options: Unpack[ConnectOptions]) -> AsyncConnect:
    """Open a voice session at ``url`` (from ``client.connection_url()``):
    ``conn = await connect_async(url)`` or ``async with connect_async(url) as conn``.

    For callers that need their own headers, proxy, TLS context or time-outs;
    ``client.connect()`` builds the URL for you.
    """
    return AsyncConnect(url, options)
