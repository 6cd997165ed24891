"""The asyncio voice-session connection, on ``websockets``' asyncio client."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Generator
from types import TracebackType
from typing import Any

from typing_extensions import Buffer, Self, Unpack
from websockets.exceptions import ConnectionClosed

from ._constants import DEFAULT_MAX_PENDING_TOOL_CALLS
from ._dial import ConnectOptions, DialPlan, RedirectRefused, handshake_error, plan_dial
from ._duplex import AudioInput
from ._events import Event, SessionEnded, UnknownEvent
from ._exceptions import ConnectionClosedError, ProtocolError
from ._reconnect import Reconnect as Reconnect  # named by client.connect's signature
from ._reconnect import checked_policy, is_awaitable, url_with_token
from ._redact import redact_url
from ._report import SessionReport
from ._serialize import tool_output_text
from ._session_base import SessionBase, base64_size, frame_size
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
    Sending is safe from several tasks. With ``reconnect=`` a dropped
    connection is dialled again by the receiving task (what is sent until it
    is back is dropped); the new connection is a new session, with a new
    ``session_id`` and the protocol state started over.
    """

    def __init__(self, websocket: Any, url: str, **kwargs: Any) -> None:
        super().__init__(websocket, url, **kwargs)
        # Made on first use, in the loop that waits on it (Python 3.10 binds it then).
        self._wake: asyncio.Event | None = None

    # -- receiving ----------------------------------------------------------------

    async def recv(self, timeout: float | None = None) -> Event:
        """Wait for the next event.

        Raises :class:`TimeoutError` when ``timeout`` seconds pass without one
        (no frame is lost: ``websockets`` keeps it for the next call),
        :class:`vatel.ConnectionClosedError` once the connection is closed, and
        :class:`vatel.ProtocolError` for a frame the contract does not allow
        (the session stays usable). With ``reconnect=``, a drop gives
        :class:`vatel.Reconnecting` and the call after it waits and redials
        (``timeout`` does not bound that), giving :class:`vatel.Reconnected`
        or the next :class:`vatel.Reconnecting`.
        """
        redial = self._redial
        if redial is not None and redial.down:
            stepped = await self._redial_step()
            if stepped is None:
                raise redial.give_up(None)
            self.transcript._on_event(stepped)
            return stepped
        stats = self.stats
        event: Event
        # Errors are raised outside the except blocks: websockets' exception
        # must not ride along as their context.
        error: BaseException | None = None
        try:
            if timeout is None:
                frame = await self._ws.recv()
            else:
                frame = await asyncio.wait_for(self._ws.recv(), timeout)
        except ConnectionClosed as exc:
            error = self._closed_error(exc)
        except asyncio.TimeoutError:
            error = TimeoutError(f"No event within {timeout:g} s.")
        if error is not None:
            if not isinstance(error, ConnectionClosedError) or not self._may_redial(error):
                raise error
            assert redial is not None
            event = redial.on_close(error)
            self.transcript._on_event(event)
            return event
        stats.frames_received += 1
        stats.bytes_received += frame_size(frame)
        waiting = self._queue_depth()
        if waiting > stats.receive_queue_high_water:
            stats.receive_queue_high_water = waiting
        malformed = None
        try:
            event = self._protocol.receive(frame)
        except ProtocolError as exc:
            malformed = exc
        if malformed is not None:
            stats.malformed_frames += 1
            raise self._scrub(malformed)
        if type(event) is UnknownEvent:
            stats.unknown_events += 1
        if redial is not None and not redial.proven:
            redial.on_event()
        self.transcript._on_event(event)
        return event

    async def __aiter__(self) -> AsyncIterator[Event]:
        """Events until ``session_ended`` or a normal close; an abnormal close
        raises :class:`vatel.ConnectionClosedError`. A malformed frame is logged
        as a warning and skipped, so one bad frame does not end the session.
        With ``reconnect=``, a drop is redialled in between: see
        :class:`vatel.Reconnect`."""
        stats = self.stats
        on_event = self.transcript._on_event
        redial = self._redial
        event: Event
        while True:
            if redial is not None and redial.down:
                stepped = await self._redial_step()
                if stepped is None:  # close() was called meanwhile
                    redial.give_up(None)
                    return
                on_event(stepped)
                yield stepped
                continue
            # recv() inlined: one coroutine less per audio frame.
            ws_recv = self._ws.recv
            receive = self._protocol.receive
            depth = self._queue_depth
            fresh = redial is not None and not redial.proven
            while True:
                try:
                    frame = await ws_recv()
                except ConnectionClosed as exc:
                    error = self._closed_error(exc)
                    break
                stats.frames_received += 1
                stats.bytes_received += (
                    len(frame) if type(frame) is not str or frame.isascii() else len(frame.encode())
                )
                waiting = depth()
                if waiting > stats.receive_queue_high_water:
                    stats.receive_queue_high_water = waiting
                try:
                    event = receive(frame)
                except ProtocolError as exc:
                    stats.malformed_frames += 1
                    log.warning("Skipping a malformed frame: %s", self._scrub(exc))
                    continue
                if type(event) is UnknownEvent:
                    stats.unknown_events += 1
                if fresh:
                    fresh = False
                    redial.on_event()  # type: ignore[union-attr]
                on_event(event)
                yield event
                if type(event) is SessionEnded:
                    await self._await_server_close()
                    return
            if self._may_redial(error):
                event = redial.on_close(error)  # type: ignore[union-attr, arg-type]
                on_event(event)
                yield event
                continue
            if not getattr(error, "ok", False):
                raise error
            return

    # -- reconnecting ---------------------------------------------------------------

    async def _redial_step(self) -> Event | None:
        """Wait out the backoff, then dial once: :class:`Reconnected`, or the
        next :class:`Reconnecting`; raises when the round ends without a
        connection, and gives ``None`` when ``close()`` was called meanwhile."""
        redial = self._redial
        assert redial is not None
        policy = redial.policy
        delay = redial.next_delay()
        if policy.sleep is not None:
            slept = policy.sleep(delay)
            if is_awaitable(slept):
                await slept  # type: ignore[misc]
        else:
            if self._wake is None:
                self._wake = asyncio.Event()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
        if self._closing:
            return None
        error: Exception | None = None
        try:
            websocket, url = await self._dial_again(policy)
        except Exception as exc:
            error = exc
        if error is not None:
            log.info("Voice session redial %d failed: %s", redial.attempt, type(error).__name__)
            return redial.failed(error)
        if self._closing:
            await websocket.close()
            return None
        self._swap(websocket, url)
        log.info("Voice session reconnected (attempt %d).", redial.attempt)
        return redial.dialled()

    async def _dial_again(self, policy: Reconnect) -> tuple[Any, str]:
        url = self._dial_url
        if policy.token_source is not None:
            token = policy.token_source()
            if is_awaitable(token):
                token = await token  # type: ignore[misc]
            url = url_with_token(url, token)  # type: ignore[arg-type]
        plan = plan_dial(url, self._options, _USER_AGENT)
        return await _dial(plan), plan.url

    # -- sending --------------------------------------------------------------------

    async def _send(self, frame: str) -> bool:
        """Write ``frame``; False when it was dropped because the connection is
        down (with ``reconnect=``)."""
        redial = self._redial
        if redial is not None and redial.down and not redial.finished:
            return False
        closed = None
        try:
            await self._ws.send(frame)
        except ConnectionClosed as exc:
            closed = exc
        if closed is not None:
            error = self._closed_error(closed, sending=True)
            if self._link_down(error):
                return False
            raise error
        stats = self.stats
        stats.frames_sent += 1
        stats.bytes_sent += len(frame) if frame.isascii() else len(frame.encode())
        return True

    async def send_input_audio(self, audio: str) -> None:
        """Send a base64 chunk of PCM16 24 kHz mono audio. While a dropped
        connection is being redialled the chunk is dropped (and counted in
        ``stats.audio_chunks_dropped``)."""
        frame = self._protocol.input_audio(audio)
        size = base64_size(audio)
        if await self._send(frame):
            self.transcript._on_input_audio(size)
        else:
            self._drop_audio(size)

    async def send_input_audio_bytes(self, pcm: Buffer) -> None:
        """Send a chunk of PCM16 24 kHz mono audio: bytes, or any buffer of 16-bit
        samples such as ``array("h")`` or a numpy ``int16`` array. While a
        dropped connection is being redialled the chunk is dropped (and
        counted in ``stats.audio_chunks_dropped``)."""
        frame = self._protocol.input_audio_bytes(pcm)
        size = memoryview(pcm).nbytes
        if await self._send(frame):
            self.transcript._on_input_audio(size)
        else:
            self._drop_audio(size)

    async def send_tool_call_output(self, tool_call_id: str, output: Any) -> None:
        """Answer a :class:`vatel.ToolCall`: a str is sent as is, anything else as
        JSON. While a dropped connection is being redialled the output is
        dropped with a warning: the call belonged to the session that ended (as
        is, after the redial, the output for a call of that session)."""
        text = tool_output_text(output)
        if tool_call_id in self._stale_calls:
            self._drop_tool_output(tool_call_id)
            return
        if await self._send(self._protocol.tool_call_output(tool_call_id, text)):
            self.transcript._on_tool_output(tool_call_id, text)
        else:
            self._drop_tool_output(tool_call_id)

    # -- running a whole session ------------------------------------------------------

    async def run(
        self,
        tools: ToolRouter | None = None,
        on_event: Callable[[Event], object] | None = None,
        *,
        audio: AudioInput | None = None,
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
        connection is then aborted), from any task. With ``reconnect=``, it
        also stops a redial under way.
        """
        self._closing = True
        if self._wake is not None:
            self._wake.set()
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


async def _dial(plan: DialPlan) -> Any:
    """The open ``websockets`` connection for ``plan``, or the SDK's error."""
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
        return websocket
    raise error


class AsyncConnect:
    """What :func:`vatel.connect_async` returns: ``await`` it for a connection,
    or ``async with`` it to have the connection closed on exit."""

    def __init__(
        self, url: str, options: ConnectOptions, reconnect: Reconnect | None = None
    ) -> None:
        self._reconnect = checked_policy(reconnect)
        self._options = options
        self._plan = plan_dial(url, options, _USER_AGENT)
        self._connection: AsyncConnection | None = None

    def __repr__(self) -> str:
        return f"<AsyncConnect {redact_url(self._plan.url)}>"

    async def _open(self) -> AsyncConnection:
        plan = self._plan
        websocket = await _dial(plan)
        return AsyncConnection(
            websocket,
            plan.url,
            send_timeout=plan.send_timeout,
            close_timeout=plan.close_timeout,
            reconnect=self._reconnect,
            options=self._options,
        )

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


def connect_async(
    url: str, *, reconnect: Reconnect | None = None, **options: Unpack[ConnectOptions]
) -> AsyncConnect:
    """Open a voice session at ``url`` (from ``client.connection_url()``):
    ``conn = await connect_async(url)`` or ``async with connect_async(url) as conn``.

    For callers that need their own headers, proxy, TLS context or time-outs;
    ``client.connect()`` builds the URL for you. A malformed URL raises
    :class:`vatel.ConfigurationError` here; a redirect, :class:`vatel.APIStatusError`
    once awaited. ``reconnect``: redial after a drop (see
    :class:`vatel.Reconnect`); without a ``token_source`` the same URL is
    dialled again.
    """
    return AsyncConnect(url, options, reconnect)
