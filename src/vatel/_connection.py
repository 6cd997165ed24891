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
from ._events import Event, SessionEnded
from ._exceptions import APIError, ProtocolError
from ._redact import redact_url
from ._report import SessionReport
from ._session_base import SessionBase
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
    """

    # -- receiving ----------------------------------------------------------------

    def recv(self, timeout: float | None = None) -> Event:
        """Wait for the next event.

        Raises :class:`TimeoutError` when ``timeout`` seconds pass without one
        (no frame is lost: ``websockets`` keeps it for the next call),
        :class:`vatel.ConnectionClosedError` once the connection is closed, and
        :class:`vatel.ProtocolError` for a frame the contract does not allow
        (the session stays usable).
        """
        try:
            frame = self._ws.recv(timeout)
        except ConnectionClosed as exc:
            error: APIError = self._closed_error(exc)
        else:
            try:
                return self._protocol.receive(frame)
            except ProtocolError as exc:
                error = self._scrub(exc)
        raise error

    def __iter__(self) -> Iterator[Event]:
        """Events until ``session_ended`` or a normal close; an abnormal close
        raises :class:`vatel.ConnectionClosedError`. A malformed frame is logged
        as a warning and skipped, so one bad frame does not end the session."""
        # recv() inlined: one call less per audio frame.
        ws_recv = self._ws.recv
        receive = self._protocol.receive
        while True:
            try:
                frame = ws_recv()
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
                self._await_server_close()
                return
        if not getattr(error, "ok", False):
            raise error

    # -- sending --------------------------------------------------------------------

    def _send(self, frame: str) -> None:
        try:
            self._ws.send(frame)
            return
        except ConnectionClosed as exc:
            error = self._closed_error(exc, sending=True)
        raise error

    def send_input_audio(self, audio: str) -> None:
        """Send a base64 chunk of PCM16 24 kHz mono audio."""
        self._send(self._protocol.input_audio(audio))

    def send_input_audio_bytes(self, pcm: Buffer) -> None:
        """Send a chunk of PCM16 24 kHz mono audio: bytes, or any buffer of 16-bit
        samples such as ``array("h")`` or a numpy ``int16`` array."""
        self._send(self._protocol.input_audio_bytes(pcm))

    def send_tool_call_output(self, tool_call_id: str, output: Any) -> None:
        """Answer a :class:`vatel.ToolCall`: a str is sent as is, anything else as JSON."""
        self._send(self._protocol.tool_call_output(tool_call_id, output))

    # -- running a whole session ------------------------------------------------------

    def run(
        self,
        tools: ToolRouter | None = None,
        on_event: Callable[[Event], object] | None = None,
        *,
        audio: Any = None,
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
        connection is then aborted), from any thread.
        """
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


def connect(url: str, **options: Unpack[ConnectOptions]) -> Connection:
    """Open a voice session at ``url`` (from ``client.connection_url()``).

    For callers that need their own headers, proxy, TLS context or time-outs;
    ``client.connect()`` builds the URL for you. A malformed URL raises
    :class:`vatel.ConfigurationError`; a redirect, :class:`vatel.APIStatusError`.
    """
    plan = plan_dial(url, options, _USER_AGENT)
    return _open(plan)


def _open(plan: DialPlan) -> Connection:
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
        return Connection(
            websocket, plan.url, send_timeout=plan.send_timeout, close_timeout=plan.close_timeout
        )
    raise error
