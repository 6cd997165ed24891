"""What the sync and async connections share and that does no I/O."""

from __future__ import annotations

from typing import Any

from ._dial import closed_error, first_close, send_timeout_error, url_token
from ._exceptions import APIError, ProtocolError
from ._protocol import SessionProtocol, SessionState
from ._redact import REDACTED, redact_text, redact_url
from ._stats import SessionStats
from ._transcript import Transcript
from ._ws_internals import discard_unread


class SessionBase:
    """A voice session's identity and state, read without touching the socket."""

    def __init__(
        self,
        websocket: Any,
        url: str,
        *,
        send_timeout: float | None = None,
        close_timeout: float | None = None,
    ) -> None:
        self._ws = websocket
        self._protocol = SessionProtocol()
        self._token = url_token(url)
        self._send_timeout = send_timeout
        self._close_timeout = close_timeout
        self.url = redact_url(url)
        """The session URL with the token replaced by ``***``."""
        self.stats = SessionStats()
        """Live counters of this session: frames, bytes, tool calls, reconnects."""
        self.transcript = Transcript()
        """The conversation so far: turns, tool calls and per-turn latency."""

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.url} session_id={self.session_id!r} "
            f"state={self.state.value}>"
        )

    @property
    def session_id(self) -> str | None:
        """The id from ``session_started``, once received."""
        return self._protocol.session_id

    @property
    def state(self) -> SessionState:
        """Where the session is: open, started or ended."""
        return self._protocol.state

    @property
    def closed(self) -> bool:
        """True once the WebSocket is closed."""
        from websockets.protocol import State

        return bool(self._ws.protocol.state is State.CLOSED)

    @property
    def close_code(self) -> int | None:
        """The close code once closed: that of whichever side closed first, as
        :class:`vatel.ConnectionClosedError` reports it (1006 if the connection
        dropped without a close frame either way)."""
        closed = self._closed_frame()
        return None if closed is None else closed[0]

    @property
    def close_reason(self) -> str | None:
        """The close reason once closed, as :class:`vatel.ConnectionClosedError`
        reports it (the session token replaced by ``***``)."""
        closed = self._closed_frame()
        return None if closed is None else closed[1]

    def _closed_frame(self) -> tuple[int, str] | None:
        if not self.closed:
            return None
        protocol = self._ws.protocol
        code, reason = first_close(
            protocol.close_rcvd, protocol.close_sent, protocol.close_rcvd_then_sent
        )
        return code, redact_text(reason, self._token) if reason else reason

    # -- errors the connections raise --------------------------------------------------

    def _closed_error(self, exc: Any, *, sending: bool = False) -> APIError:
        """The error for a ``websockets`` ``ConnectionClosed``: for the send
        that ``send_timeout`` cut short, a time-out; else the close."""
        if sending and getattr(self._ws, "send_timed_out", False) and not self._timeout_reported:
            self._timeout_reported = True
            return send_timeout_error(self._send_timeout)
        return closed_error(exc, self._token)

    _timeout_reported = False

    def _scrub(self, error: ProtocolError) -> ProtocolError:
        """``error`` with the session token taken out, should the server have echoed it.

        The decoder's own exception, chained as context, holds the whole frame:
        it is dropped (``error.frame`` keeps the frame, redacted)."""
        error.__context__ = error.__cause__ = None
        token = self._token
        if not token:
            return error
        frame = error.frame
        if isinstance(frame, str) and token in frame:
            error.frame = frame.replace(token, REDACTED)
        elif isinstance(frame, (bytes, bytearray)) and token.encode() in frame:
            error.frame = bytes(frame).replace(token.encode(), REDACTED.encode())
        if token in error.message:
            error.message = redact_text(error.message, token)
            error.args = (error.message,)
        return error

    # -- closing ---------------------------------------------------------------------

    def _discard_late_frames(self) -> None:
        """Drop data frames from now on, but keep reading: the server's close
        frame must not wait behind frames nobody will read (see
        :func:`vatel._ws_internals.discard_unread`)."""
        discard_unread(self._ws)
