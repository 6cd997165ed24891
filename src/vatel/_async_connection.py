"""The asyncio voice-session connection, on ``websockets``' asyncio client."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable, Generator
from types import TracebackType
from typing import Any

from typing_extensions import Buffer, Self, Unpack
from websockets.exceptions import ConnectionClosed

from ._constants import DEFAULT_MAX_PENDING_TOOL_CALLS
from ._dial import ConnectOptions, RedirectRefused, handshake_error, plan_dial
from ._events import Event, SessionEnded
from ._exceptions import ProtocolError
from ._redact import redact_url
from ._report import SessionReport
from ._session_base import SessionBase
from ._tools import ToolRouter
from ._version import __version__
from ._ws_internals import LateFrameFilter

__all__ = ["AsyncConnect", "AsyncConnection", "connect_async"]

log = logging.getLogger("vatel")

_USER_AGENT = f"vatel-python/{__version__}"


@functools.cache
def _connection_class() -> type[Any]:
    """``websockets``' asyncio client connection, with what the SDK adds:
    redirects refused, frames dropped once closing, and a bound on how long
    a write may wait for the server to read (``send_timeout``, or the close
    deadline once closing)."""
    from websockets.asyncio.client import ClientConnection
    from websockets.exceptions import InvalidStatus

    class SessionConnection(LateFrameFilter, ClientConnection):
        send_timeout: float | None = None

        async def handshake(self, *args: Any, **kwargs: Any) -> None:
            try:
                await super().handshake(*args, **kwargs)
            except InvalidStatus as exc:
                refused = RedirectRefused.of(exc)
                if refused is None:
                    raise
                raise refused from None

        async def drain(self) -> None:
            if not self.paused:
                await super().drain()
                return
            # The server is not reading: websockets would wait for it forever.
            deadline = self.close_deadline
            closing = deadline is not None
            timeout = deadline - self.loop.time() if deadline is not None else self.send_timeout
            if timeout is None:
                await super().drain()
            else:
                try:
                    await asyncio.wait_for(super().drain(), max(timeout, 0.0))
                except asyncio.TimeoutError:
                    if not closing:
                        self.send_timed_out = True
                    # send_context() aborts the connection on any error here.
                    raise TimeoutError("timed out waiting for the server to read") from None
            if self.transport.is_closing():
                raise ConnectionError("the connection was aborted while sending")

    return SessionConnection


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
            error: BaseException = self._closed_error(exc)
        except asyncio.TimeoutError:
            error = TimeoutError(f"No event within {timeout:g} s.")
        else:
            try:
                return self._protocol.receive(frame)
            except ProtocolError as exc:
                error = self._scrub(exc)
        raise error

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
                error = self._closed_error(exc)
                break
            try:
                event = receive(frame)
            except ProtocolError as exc:
                log.warning("Skipping a malformed frame: %s", self._scrub(exc))
                continue
            yield event
            if type(event) is SessionEnded:
                await self._await_server_close()
                return
        if not getattr(error, "ok", False):
            raise error

    # -- sending --------------------------------------------------------------------

    async def _send(self, frame: str) -> None:
        try:
            await self._ws.send(frame)
            return
        except ConnectionClosed as exc:
            error = self._closed_error(exc, sending=True)
        raise error

    async def send_input_audio(self, audio: str) -> None:
        """Send a base64 chunk of PCM16 24 kHz mono audio."""
        await self._send(self._protocol.input_audio(audio))

    async def send_input_audio_bytes(self, pcm: Buffer) -> None:
        """Send a chunk of PCM16 24 kHz mono audio: bytes, or any buffer of 16-bit
        samples such as ``array("h")`` or a numpy ``int16`` array."""
        await self._send(self._protocol.input_audio_bytes(pcm))

    async def send_tool_call_output(self, tool_call_id: str, output: Any) -> None:
        """Answer a :class:`vatel.ToolCall`: a str is sent as is, anything else as JSON."""
        await self._send(self._protocol.tool_call_output(tool_call_id, output))

    # -- running a whole session ------------------------------------------------------

    async def run(
        self,
        tools: ToolRouter | None = None,
        on_event: Callable[[Event], object] | None = None,
        *,
        audio: Any = None,
        pace: float | None = 1.0,
        linger: float | None = None,
        max_pending_tool_calls: int = DEFAULT_MAX_PENDING_TOOL_CALLS,
    ) -> SessionReport:
        """Receive events until the session ends, answering tool calls and
        streaming ``audio``; return a :class:`vatel.SessionReport`.

        ``audio`` (PCM16 24 kHz mono) is the whole input as bytes or a buffer
        (sent in 20 ms chunks, e.g. ``audio.read_wav(path)``), or an async or
        plain iterable of chunks (``audio.chunks(pcm)``, ``audio.Microphone()``;
        a plain iterable is pulled on the event loop, so it must not block). It
        is sent from one task while events arrive, at ``pace`` times real time
        (1.0: a chunk goes once the audio before it would have played; ``None``
        or 0: as given; a microphone is never held back). When the session ends
        the sender stops pulling chunks and closes the iterator it took. If the
        iterable raises, or a chunk is not PCM16 (:class:`vatel.AudioFormatError`),
        the session is closed with code 1011 and ``run()`` raises that error.
        Once the audio runs out the session goes on until it ends, or, with
        ``linger`` seconds, is closed (code 1000) when no event has come and no
        tool call has been in flight for that long.

        ``on_event`` (a function or coroutine function) sees every event first;
        keep it quick, it holds up receiving. Each tool call runs in its own
        task (a plain function on a daemon thread), so a slow tool never stalls
        the audio; outputs are sent as they finish, and each tool has the
        router's time-out (30 s by default). At most ``max_pending_tool_calls``
        calls are in flight; one more is answered at once with an error output
        and counted in ``tools.stats.rejected``. A repeated ``tool_call_id`` is
        not run again. Returns when the session ends; tool tasks still running
        then are cancelled.
        """
        from ._session_run import run_async

        return await run_async(
            self,
            tools,
            on_event,
            audio=audio,
            pace=pace,
            linger=linger,
            max_pending_tool_calls=max_pending_tool_calls,
        )

    # -- closing ---------------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the session and wait (up to ``close_timeout``) for the server.

        Returns within ``close_timeout`` even when the server floods frames
        instead of answering (they are dropped) or stopped reading (the
        connection is then aborted), from any task.
        """
        ws = self._ws
        try:
            if not self.closed:
                self._discard_late_frames()
                if self._close_timeout is None:
                    await ws.close(code, reason)
                else:
                    try:
                        await asyncio.wait_for(ws.close(code, reason), self._close_timeout)
                    except asyncio.TimeoutError:
                        ws.transport.abort()
                        await ws.wait_closed()
        finally:
            # On Python 3.10 a TLS transport whose peer closed first is never marked
            # closed and warns when collected; closing it again is harmless.
            transport = getattr(self._ws, "transport", None)
            if transport is not None and not transport.is_closing():
                transport.close()

    async def _await_server_close(self) -> None:
        """After ``session_ended`` the server closes: wait for it (up to
        ``close_timeout``), so ``closed`` and ``close_code`` hold once the loop
        ends; close from this side if it does not."""
        try:
            await asyncio.wait_for(self._ws.wait_closed(), self._close_timeout)
        except asyncio.TimeoutError:
            await self.close()

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
        self._plan = plan_dial(url, options, _USER_AGENT)
        self._connection: AsyncConnection | None = None

    def __repr__(self) -> str:
        return f"<AsyncConnect {redact_url(self._plan.url)}>"

    async def _open(self) -> AsyncConnection:
        plan = self._plan
        try:
            # The client half of websockets loads when a session opens, not with vatel.
            from websockets.asyncio.client import connect as ws_connect

            websocket: Any = await ws_connect(
                plan.url, create_connection=_connection_class(), **plan.kwargs
            )
        except Exception as exc:
            error = handshake_error(exc, plan.url, plan.kwargs.get("open_timeout"))
            if error is None:
                raise
        else:
            websocket.send_timeout = plan.send_timeout
            log.debug("Voice session opened: %s", redact_url(plan.url))
            return AsyncConnection(
                websocket,
                plan.url,
                send_timeout=plan.send_timeout,
                close_timeout=plan.close_timeout,
            )
        raise error

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
    ``client.connect()`` builds the URL for you. A malformed URL raises
    :class:`vatel.ConfigurationError` here; a redirect, :class:`vatel.APIStatusError`
    once awaited.
    """
    return AsyncConnect(url, options)
