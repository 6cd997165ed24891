"""The synchronous voice-session connection, on ``websockets``' threading client.

``websockets`` runs one background thread per connection that reads the socket
and answers pings; calls here block the calling thread only. Receiving is for
one thread at a time; sending is safe from several threads (each frame is
written whole).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterator
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

__all__ = ["Connection", "connect"]

log = logging.getLogger("vatel")

_USER_AGENT = f"vatel-python/{__version__}"


def _ws_connect(url: str, **kwargs: Any) -> Any:
    # The client half of websockets loads when a session opens, not with vatel.
    from websockets.sync.client import connect as ws_connect

    return ws_connect(url, **kwargs)


@functools.cache
def _legacy_flag() -> dict[str, Any]:
    # websockets 17.1 started warning when connect() is used without a context
    # manager unless legacy=True; older releases do not know the flag.
    from websockets.sync.client import connect as ws_connect

    return {"legacy": True} if "legacy" in inspect.signature(ws_connect).parameters else {}


class Connection(SessionBase):
    """A live voice session (blocking API).

    Iterate it for events until the session ends, or call :meth:`recv`; send
    audio with :meth:`send_input_audio_bytes` and answer tool calls with
    :meth:`send_tool_call_output`. Use it as a context manager to close it.
    """

    # -- receiving ----------------------------------------------------------------

    def recv(self, timeout: float | None = None) -> Event:
        """Wait for the next event.

        Raises :class:`TimeoutError` when ``timeout`` seconds pass without one,
        :class:`vatel.ConnectionClosedError` once the connection is closed, and
        :class:`vatel.ProtocolError` for a frame the contract does not allow
        (the session stays usable).
        """
        try:
            frame = self._ws.recv(timeout)
        except ConnectionClosed as exc:
            raise closed_error(exc) from None
        return self._protocol.receive(frame)

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

    def _send(self, frame: str) -> None:
        try:
            self._ws.send(frame)
        except ConnectionClosed as exc:
            raise closed_error(exc) from None

    def send_input_audio(self, audio: str) -> None:
        """Send a base64 chunk of PCM16 24 kHz mono audio."""
        self._send(self._protocol.input_audio(audio))

    def send_input_audio_bytes(self, pcm: bytes) -> None:
        """Send a chunk of raw PCM16 24 kHz mono audio (an even number of bytes)."""
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
        max_tool_threads: int = 4,
    ) -> None:
        """Receive events until the session ends, answering tool calls.

        ``on_event`` sees every event first, in this thread (keep it quick: it
        holds up receiving). Tool calls run on up to ``max_tool_threads`` worker
        threads, so a slow tool never stalls the audio; their outputs are sent as
        they finish. Returns when the session ends; tools still running then are
        abandoned, as their answers can no longer be delivered.
        """
        from ._session_run import run_sync

        run_sync(self, tools, on_event, max_tool_threads=max_tool_threads)

    # -- closing ---------------------------------------------------------------------

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the session and wait (up to ``close_timeout``) for the server."""
        self._lift_read_limit()
        self._ws.close(code, reason)

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
    ``client.connect()`` builds the URL for you.
    """
    kwargs = websocket_kwargs(options, _USER_AGENT)
    try:
        websocket = _ws_connect(url, **kwargs, **_legacy_flag())
    except Exception as exc:
        error = handshake_error(exc, url, kwargs.get("open_timeout"))
        if error is None:
            raise
        raise error from None
    log.debug("Voice session opened: %s", redact_url(url))
    return Connection(websocket, url)
