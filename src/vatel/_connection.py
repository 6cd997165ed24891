"""The synchronous voice-session connection, on ``websockets``' threading client.

``websockets`` runs one background thread per connection that reads the socket
and answers pings; calls here block the calling thread only. Receiving is for
one thread at a time; sending is safe from several threads (each frame is
written whole).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

from typing_extensions import Buffer, Self, Unpack
from websockets.exceptions import ConnectionClosed

from ._constants import DEFAULT_MAX_PENDING_TOOL_CALLS
from ._dial import ConnectOptions, DialPlan, RedirectRefused, handshake_error, plan_dial
from ._duplex import AudioInput
from ._events import Event, SessionEnded, UnknownEvent
from ._exceptions import ProtocolError
from ._reconnect import Reconnect as Reconnect  # named by client.connect's signature
from ._reconnect import checked_policy, is_awaitable, url_with_token
from ._redact import redact_url
from ._report import SessionReport
from ._serialize import tool_output_text
from ._session_base import SessionBase, base64_size, frame_size
from ._tools import ToolRouter
from ._version import __version__
from ._ws_internals import LateFrameFilter

__all__ = ["Connection", "connect"]

log = logging.getLogger("vatel")

_USER_AGENT = f"vatel-python/{__version__}"


def _ws_connect(url: str, **kwargs: Any) -> Any:
    # The client half of websockets loads when a session opens, not with vatel.
    from websockets.sync.client import connect as ws_connect

    return ws_connect(url, create_connection=_connection_class(), **kwargs)


@functools.cache
def _legacy_flag() -> dict[str, Any]:
    # websockets 17.1 started warning when connect() is used without a context
    # manager unless legacy=True; older releases do not know the flag.
    from websockets.sync.client import connect as ws_connect

    return {"legacy": True} if "legacy" in inspect.signature(ws_connect).parameters else {}


@functools.cache
def _connection_class() -> type[Any]:
    """``websockets``' threading client connection, with what the SDK adds:
    redirects refused, frames dropped once closing, and a flag for a send
    that timed out."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import ClientConnection

    class SessionConnection(LateFrameFilter, ClientConnection):
        def handshake(self, *args: Any, **kwargs: Any) -> None:
            try:
                super().handshake(*args, **kwargs)
            except InvalidStatus as exc:
                refused = RedirectRefused.of(exc)
                if refused is None:
                    raise
                raise refused from None

        def send_data(self) -> None:
            try:
                super().send_data()
            except TimeoutError:
                # The socket's time-out is send_timeout until closing starts;
                # after that websockets sets it from the close deadline.
                if self.close_deadline is None:
                    self.send_timed_out = True
                raise

    return SessionConnection


class Connection(SessionBase):
    """A live voice session (blocking API).

    Iterate it for events until the session ends, or call :meth:`recv`; send
    audio with :meth:`send_input_audio_bytes` and answer tool calls with
    :meth:`send_tool_call_output`. Use it as a context manager to close it.

    With ``reconnect=`` a dropped connection is dialled again from the
    receiving thread while other threads may go on sending (what they send
    until it is back is dropped); the new connection is a new session, with a
    new ``session_id`` and the protocol state started over.
    """

    def __init__(self, websocket: Any, url: str, **kwargs: Any) -> None:
        super().__init__(websocket, url, **kwargs)
        self._swap_lock = threading.Lock()
        self._count_lock = threading.Lock()
        # What a redial's backoff waits on, so close() can cut it short; only
        # a connection that may redial needs one (an Event is ~1 KiB).
        self._wake = threading.Event() if self._redial is not None else None

    # -- receiving ----------------------------------------------------------------

    def recv(self, timeout: float | None = None) -> Event:
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
        event: Event
        if redial is not None and redial.down:
            stepped = self._redial_step()
            if stepped is None:
                raise redial.give_up(None)
            self.transcript._on_event(stepped)
            return stepped
        stats = self.stats
        closed = None
        # Errors are raised outside the except blocks: websockets' exception
        # must not ride along as their context.
        try:
            frame = self._ws.recv(timeout)
        except ConnectionClosed as exc:
            closed = self._closed_error(exc)
        if closed is not None:
            if not self._may_redial(closed):
                raise closed
            assert redial is not None
            event = redial.on_close(closed)  # type: ignore[arg-type]
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

    def __iter__(self) -> Iterator[Event]:
        """Events until ``session_ended`` or a normal close; an abnormal close
        raises :class:`vatel.ConnectionClosedError`. A malformed frame is logged
        as a warning and skipped, so one bad frame does not end the session.
        With ``reconnect=``, a drop is redialled in between: see
        :class:`vatel.Reconnect`."""
        stats = self.stats
        on_event = self.transcript._on_event
        redial = self._redial
        while True:
            if redial is not None and redial.down:
                stepped = self._redial_step()
                if stepped is None:  # close() was called meanwhile
                    redial.give_up(None)
                    return
                on_event(stepped)
                yield stepped
                continue
            # recv() inlined: one call less per audio frame.
            ws_recv = self._ws.recv
            receive = self._protocol.receive
            depth = self._queue_depth
            fresh = redial is not None and not redial.proven
            while True:
                try:
                    frame = ws_recv()
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
                    self._await_server_close()
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

    def _redial_step(self) -> Event | None:
        """Wait out the backoff, then dial once: :class:`Reconnected`, or the
        next :class:`Reconnecting`; raises when the round ends without a
        connection, and gives ``None`` when ``close()`` was called meanwhile."""
        redial = self._redial
        assert redial is not None
        policy = redial.policy
        delay = redial.next_delay()
        if policy.sleep is not None:
            policy.sleep(delay)
        else:
            assert self._wake is not None
            self._wake.wait(delay)
        if self._closing:
            return None
        try:
            websocket, url = self._dial_again(policy)
        except Exception as exc:
            error = exc
        else:
            with self._swap_lock:
                closing = self._closing
                if not closing:
                    self._swap(websocket, url)
            if closing:
                websocket.close()
                return None
            log.info("Voice session reconnected (attempt %d).", redial.attempt)
            return redial.dialled()
        log.info("Voice session redial %d failed: %s", redial.attempt, type(error).__name__)
        return redial.failed(error)

    def _dial_again(self, policy: Reconnect) -> tuple[Any, str]:
        url = self._dial_url
        if policy.token_source is not None:
            token = policy.token_source()
            if is_awaitable(token):
                close = getattr(token, "close", None)
                if close is not None:
                    close()
                raise TypeError(
                    "token_source returned an awaitable: a blocking Connection needs a "
                    "plain function (use connect_async for a coroutine function)."
                )
            url = url_with_token(url, token)  # type: ignore[arg-type]
        plan = plan_dial(url, self._options, _USER_AGENT)
        return _dial(plan), plan.url

    # -- sending --------------------------------------------------------------------

    def _send(self, frame: str) -> bool:
        """Write ``frame``; False when it was dropped because the connection is
        down (with ``reconnect=``)."""
        redial = self._redial
        if redial is not None and redial.down and not redial.finished:
            return False
        closed = None
        try:
            self._ws.send(frame)
        except ConnectionClosed as exc:
            closed = exc
        if closed is not None:
            error = self._closed_error(closed, sending=True)
            if self._link_down(error):
                return False
            raise error
        with self._count_lock:
            stats = self.stats
            stats.frames_sent += 1
            stats.bytes_sent += len(frame) if frame.isascii() else len(frame.encode())
        return True

    def send_input_audio(self, audio: str) -> None:
        """Send a base64 chunk of PCM16 24 kHz mono audio. While a dropped
        connection is being redialled the chunk is dropped (and counted in
        ``stats.audio_chunks_dropped``)."""
        frame = self._protocol.input_audio(audio)
        size = base64_size(audio)
        if self._send(frame):
            self.transcript._on_input_audio(size)
        else:
            with self._count_lock:
                self._drop_audio(size)

    def send_input_audio_bytes(self, pcm: Buffer) -> None:
        """Send a chunk of PCM16 24 kHz mono audio: bytes, or any buffer of 16-bit
        samples such as ``array("h")`` or a numpy ``int16`` array. While a
        dropped connection is being redialled the chunk is dropped (and
        counted in ``stats.audio_chunks_dropped``)."""
        frame = self._protocol.input_audio_bytes(pcm)
        size = memoryview(pcm).nbytes
        if self._send(frame):
            self.transcript._on_input_audio(size)
        else:
            with self._count_lock:
                self._drop_audio(size)

    def send_tool_call_output(self, tool_call_id: str, output: Any) -> None:
        """Answer a :class:`vatel.ToolCall`: a str is sent as is, anything else as
        JSON. While a dropped connection is being redialled the output is
        dropped with a warning: the call belonged to the session that ended (as
        is, after the redial, the output for a call of that session)."""
        text = tool_output_text(output)
        if tool_call_id in self._stale_calls:
            self._drop_tool_output(tool_call_id)
            return
        if self._send(self._protocol.tool_call_output(tool_call_id, text)):
            self.transcript._on_tool_output(tool_call_id, text)
        else:
            self._drop_tool_output(tool_call_id)

    # -- running a whole session ------------------------------------------------------

    def run(
        self,
        tools: ToolRouter | None = None,
        on_event: Callable[[Event], object] | None = None,
        *,
        audio: AudioInput | None = None,
        pace: float | None = 1.0,
        linger: float | None = None,
        max_tool_threads: int = 4,
        max_pending_tool_calls: int = DEFAULT_MAX_PENDING_TOOL_CALLS,
    ) -> SessionReport:
        """Receive events until the session ends, answering tool calls and
        streaming ``audio``; return a :class:`vatel.SessionReport`.

        ``audio`` (PCM16 24 kHz mono) is the whole input as bytes or a buffer
        (sent in 20 ms chunks, e.g. ``audio.read_wav(path)``), or an iterable
        of chunks (``audio.chunks(pcm)``, ``audio.Microphone()``); an async
        iterable is driven on the sender's own event loop. It is sent from one
        daemon thread while events arrive, at ``pace`` times real time (1.0: a
        chunk goes once the audio before it would have played; ``None`` or 0:
        as given; a microphone is never held back). When the session ends the
        sender stops pulling chunks and closes the iterator it took. If the
        iterable raises, or a chunk is not PCM16 (:class:`vatel.AudioFormatError`),
        the session is closed with code 1011 and ``run()`` raises that error.
        Once the audio runs out the session goes on until it ends, or, with
        ``linger`` seconds, is closed (code 1000) when no event has come and no
        tool call has been in flight for that long.

        ``on_event`` sees every event first, in this thread (keep it quick: it
        holds up receiving). Tool calls run on up to ``max_tool_threads`` daemon
        worker threads, so a slow tool never stalls the audio; their outputs are
        sent as they finish, and each tool has the router's time-out (30 s by
        default). At most ``max_pending_tool_calls`` calls are in flight; one
        more is answered at once with an error output and counted in
        ``tools.stats.rejected``. A repeated ``tool_call_id`` is not run again.
        Returns when the session ends; tools still running then finish unheard,
        and cannot keep the program from exiting.
        """
        from ._session_run import run_sync

        return run_sync(
            self,
            tools,
            on_event,
            audio=audio,
            pace=pace,
            linger=linger,
            max_tool_threads=max_tool_threads,
            max_pending_tool_calls=max_pending_tool_calls,
        )

    # -- closing ---------------------------------------------------------------------

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the session and wait (up to ``close_timeout``) for the server.

        Returns within ``close_timeout`` even when the server floods frames
        instead of answering (they are dropped) or stopped reading (the
        connection is then aborted), from any thread. With ``reconnect=``,
        it also stops a redial under way.
        """
        with self._swap_lock:
            self._closing = True
        if self._wake is not None:
            self._wake.set()
        if self.closed:
            return
        self._discard_late_frames()
        watchdog = None
        if self._close_timeout is not None:
            # A send stuck on a full socket holds websockets' lock, which close()
            # needs too: shutting the socket down frees both.
            watchdog = threading.Timer(self._close_timeout, self._abort)
            watchdog.daemon = True
            watchdog.start()
        try:
            self._ws.close(code, reason)
        finally:
            if watchdog is not None:
                watchdog.cancel()

    def _abort(self) -> None:
        """End the TCP connection now: a blocked send or read returns at once."""
        sock = self._ws.socket
        with contextlib.suppress(OSError):
            if isinstance(sock, socket.socket):
                # The plain socket method, also on a TLS socket: its own shutdown()
                # would tear down the TLS state under a thread still using it.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            else:  # websockets' TLS-in-TLS wrapper, through a TLS proxy
                sock.shutdown(socket.SHUT_RDWR)

    def _await_server_close(self) -> None:
        """After ``session_ended`` the server closes: wait for it (up to
        ``close_timeout``), so ``closed`` and ``close_code`` hold once the loop
        ends; close from this side if it does not."""
        thread = getattr(self._ws, "recv_events_thread", None)
        if thread is not None:
            thread.join(self._close_timeout)
        if not self.closed:
            self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def connect(
    url: str, *, reconnect: Reconnect | None = None, **options: Unpack[ConnectOptions]
) -> Connection:
    """Open a voice session at ``url`` (from ``client.connection_url()``).

    For callers that need their own headers, proxy, TLS context or time-outs;
    ``client.connect()`` builds the URL for you. A malformed URL raises
    :class:`vatel.ConfigurationError`; a redirect, :class:`vatel.APIStatusError`.
    ``reconnect``: redial after a drop (see :class:`vatel.Reconnect`); without
    a ``token_source`` the same URL is dialled again.
    """
    policy = checked_policy(reconnect)
    plan = plan_dial(url, options, _USER_AGENT)
    websocket = _dial(plan)
    return Connection(
        websocket,
        plan.url,
        send_timeout=plan.send_timeout,
        close_timeout=plan.close_timeout,
        reconnect=policy,
        options=options,
    )


def _dial(plan: DialPlan) -> Any:
    """The open ``websockets`` connection for ``plan``, or the SDK's error."""
    try:
        websocket = _ws_connect(plan.url, **plan.kwargs, **_legacy_flag())
    except Exception as exc:
        error = handshake_error(exc, plan.url, plan.kwargs.get("open_timeout"))
        if error is None:
            raise
    else:
        if plan.send_timeout is not None:
            # Bounds every write of this socket (sendall() as a whole); reads
            # wait in select() first, so they are not cut short by it. (A server
            # that already hung up has left a closed socket: nothing to bound.)
            with contextlib.suppress(OSError):
                websocket.socket.settimeout(plan.send_timeout)
        log.debug("Voice session opened: %s", redact_url(plan.url))
        return websocket
    raise error
