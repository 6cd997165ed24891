"""What the sync and async connections share and that does no I/O."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ._dial import ConnectOptions, closed_error, first_close, send_timeout_error, url_token
from ._exceptions import APIError, ConnectionClosedError, ProtocolError
from ._protocol import SessionProtocol, SessionState
from ._reconnect import Reconnect, Redial
from ._redact import REDACTED, redact_text, redact_url
from ._stats import SessionStats
from ._transcript import Transcript
from ._ws_internals import discard_unread, queue_depth

log = logging.getLogger("vatel")


def frame_size(frame: str | bytes) -> int:
    """The bytes of a frame's payload: its UTF-8 text, or its binary data."""
    return len(frame) if type(frame) is not str or frame.isascii() else len(frame.encode())


def base64_size(audio: str) -> int:
    """The bytes that base64 text ``audio`` (already checked) decodes to."""
    return len(audio) * 3 // 4 - audio[-2:].count("=")


class SessionBase:
    """A voice session's identity and state, read without touching the socket."""

    def __init__(
        self,
        websocket: Any,
        url: str,
        *,
        send_timeout: float | None = None,
        close_timeout: float | None = None,
        reconnect: Reconnect | None = None,
        options: ConnectOptions | None = None,
    ) -> None:
        self._ws = websocket
        self._protocol = SessionProtocol()
        self._token = url_token(url)
        self._send_timeout = send_timeout
        self._close_timeout = close_timeout
        self._queue_depth: Callable[[], int] = queue_depth(websocket)
        # What a redial needs: the URL as dialled (a secret: never shown) and
        # the caller's options, planned again for each new token.
        self._dial_url = url
        self._options: ConnectOptions = options if options is not None else {}
        self._redial = Redial(reconnect) if reconnect is not None else None
        self._closing = False
        self._stale_calls: frozenset[str] = frozenset()
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

    # -- reconnecting -------------------------------------------------------------------

    def _may_redial(self, error: APIError) -> bool:
        """Whether a close the receiver met starts a redial round."""
        redial = self._redial
        return (
            redial is not None
            and not self._closing
            and isinstance(error, ConnectionClosedError)
            and redial.wants(error)
        )

    def _link_down(self, error: APIError) -> bool:
        """Whether a send that met a closed connection is dropped rather than
        raised: reconnecting is on and the close is one it redials after (or
        the connection has been replaced since the send began)."""
        redial = self._redial
        if redial is None or self._closing or redial.finished:
            return False
        if redial.down:
            return True
        return isinstance(error, ConnectionClosedError) and redial.wants(error)

    def _swap(self, websocket: Any, url: str) -> None:
        """Carry on over ``websocket``, just dialled at ``url``: a new session."""
        # Calls of the session that ended can no longer be answered: outputs
        # for them are dropped, not sent into the new session (bounded: the
        # protocol keeps at most max_pending_tool_calls of them).
        self._stale_calls = frozenset(self._protocol.pending_tool_calls)
        self._ws = websocket
        self._protocol = SessionProtocol()
        self._token = url_token(url)
        self._queue_depth = queue_depth(websocket)
        self._dial_url = url
        self._timeout_reported = False
        self.url = redact_url(url)
        self.stats.reconnects += 1

    def _drop_audio(self, pcm_bytes: int) -> None:
        self.stats.audio_chunks_dropped += 1
        self.stats.audio_bytes_dropped += pcm_bytes

    def _drop_tool_output(self, tool_call_id: str) -> None:
        log.warning(
            "Dropping the output for tool call %r: the connection is down, and the "
            "session it belonged to is over.",
            tool_call_id[:80],
        )

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
